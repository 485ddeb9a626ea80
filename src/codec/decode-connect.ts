/**
 * CONNECT (MQTT 5 section 3.1, 3.1.1 section 3.1, 3.1 section 3.1) and CONNACK bodies.
 */
import type { ConnackPacket, ConnectPacket, ProtocolVersion, QoS, Will } from './packets';
import { ReasonCode } from './reason-codes';
import { Reader, MALFORMED } from './reader';
import { readProperties, WILL_CONTEXT } from './properties';

/** Receives the protocol version of a CONNECT as soon as its name and level are known to be valid. */
export interface VersionTarget {
  protocolVersion: ProtocolVersion;
  /**
   * The last PUBLISH topic decoded for this connection, reused while the next one has the same
   * bytes (a client usually publishes to few topics): no string to allocate, decode or hash again.
   */
  lastTopic: string;
}

const USERNAME = 0x80;
const PASSWORD = 0x40;
const WILL_RETAIN = 0x20;
const WILL_QOS = 0x18;
const WILL_FLAG = 0x04;
const CLEAN_START = 0x02;
const RESERVED = 0x01;

/**
 * Reads the protocol name at the cursor without building a string: 'MQTT', 'MQIsdp', or undefined
 * for anything else (the cursor is then after the name, or the reader has failed).
 */
function readProtocolName(r: Reader): 'MQTT' | 'MQIsdp' | undefined {
  const len = r.u16();
  if (r.remaining < len) {
    r.fail('RTK_DECODE_TRUNCATED', MALFORMED, 'protocol name');
    return undefined;
  }
  const b = r.buf;
  const p = r.pos;
  r.pos = p + len;
  // 'MQTT' = 4d 51 54 54, 'MQIsdp' = 4d 51 49 73 64 70
  if (len === 4 && b[p] === 0x4d && b[p + 1] === 0x51 && b[p + 2] === 0x54 && b[p + 3] === 0x54) return 'MQTT';
  if (
    len === 6 && b[p] === 0x4d && b[p + 1] === 0x51 && b[p + 2] === 0x49 &&
    b[p + 3] === 0x73 && b[p + 4] === 0x64 && b[p + 5] === 0x70
  ) {
    return 'MQIsdp';
  }
  return undefined;
}

function isKnownLevel(level: number): boolean {
  return level === 3 || level === 4 || level === 5;
}

/**
 * Reads a CONNECT body. Its own protocol level decides its layout, whatever version the connection
 * had so far. `target.protocolVersion` is set as soon as the name and level are known to be valid,
 * before the rest is read, so that a caller can refuse a malformed CONNECT in the client's version.
 */
export function decodeConnect(r: Reader, target: VersionTarget): ConnectPacket | undefined {
  const protocolName = readProtocolName(r);
  const level = r.u8();
  if (r.err !== undefined) return undefined;
  if (protocolName === undefined) {
    // [MQTT-3.1.2-1]: not MQTT at all. Only a level we do not know earns 0x84.
    const rc = isKnownLevel(level) ? MALFORMED : ReasonCode.UnsupportedProtocolVersion;
    r.fail('RTK_DECODE_PROTOCOL_NAME', rc);
    return undefined;
  }
  if (protocolName === 'MQTT' ? level !== 4 && level !== 5 : level !== 3) {
    r.fail('RTK_DECODE_PROTOCOL_VERSION', ReasonCode.UnsupportedProtocolVersion, `${protocolName} level ${level}`);
    return undefined;
  }
  const version = level as ProtocolVersion;
  target.protocolVersion = version;

  const flags = r.u8();
  const keepAlive = r.u16();
  if (r.err !== undefined) return undefined;
  if ((flags & RESERVED) !== 0) {
    r.fail('RTK_DECODE_CONNECT_FLAGS', MALFORMED, 'reserved flag set'); // [MQTT-3.1.2-3]
    return undefined;
  }
  const hasWill = (flags & WILL_FLAG) !== 0;
  const willQos = (flags & WILL_QOS) >> 3;
  if (!hasWill && (flags & (WILL_QOS | WILL_RETAIN)) !== 0) {
    r.fail('RTK_DECODE_CONNECT_FLAGS', MALFORMED, 'will QoS or retain without a will'); // [MQTT-3.1.2-11], [MQTT-3.1.2-13]
    return undefined;
  }
  if (willQos === 3) {
    r.fail('RTK_DECODE_QOS', MALFORMED, 'will QoS 3'); // [MQTT-3.1.2-12]
    return undefined;
  }
  if (version < 5 && (flags & PASSWORD) !== 0 && (flags & USERNAME) === 0) {
    r.fail('RTK_DECODE_CONNECT_FLAGS', MALFORMED, 'password without user name'); // 3.1.1 [MQTT-3.1.2-22]
    return undefined;
  }

  const properties = version === 5 ? readProperties(r, 1) : undefined;
  const clientId = r.utf8();
  if (r.err !== undefined) return undefined;

  const packet: ConnectPacket = {
    type: 1,
    protocolName,
    protocolVersion: version,
    cleanStart: (flags & CLEAN_START) !== 0,
    keepAlive,
    clientId,
  };
  if (hasWill) {
    const willProperties = version === 5 ? readProperties(r, WILL_CONTEXT) : undefined;
    const topic = r.utf8();
    const payload = r.binary();
    const will: Will = { topic, payload, qos: willQos as QoS, retain: (flags & WILL_RETAIN) !== 0 };
    if (willProperties !== undefined) will.properties = willProperties;
    packet.will = will;
  }
  if ((flags & USERNAME) !== 0) packet.username = r.utf8();
  if ((flags & PASSWORD) !== 0) packet.password = r.binary();
  if (properties !== undefined) packet.properties = properties;
  if (r.err !== undefined) return undefined;
  if (r.pos !== r.end) {
    r.fail('RTK_DECODE_TRAILING_BYTES', MALFORMED);
    return undefined;
  }
  return packet;
}

/** Reads a CONNACK body (the decoder's version decides whether it has properties). */
export function decodeConnack(r: Reader, version: ProtocolVersion): ConnackPacket | undefined {
  const flags = r.u8();
  const reasonCode = r.u8();
  if (r.err !== undefined) return undefined;
  // Bits 7-1 are reserved in 3.1.1 and 5 ([MQTT-3.2.2-1]); MQTT 3.1 left the whole byte unused.
  if (version !== 3 && (flags & 0xfe) !== 0) {
    r.fail('RTK_DECODE_CONNACK_FLAGS', MALFORMED);
    return undefined;
  }
  const packet: ConnackPacket = { type: 2, sessionPresent: (flags & 1) !== 0, reasonCode };
  if (version === 5) {
    const properties = readProperties(r, 2);
    if (r.err !== undefined) return undefined;
    if (properties !== undefined) packet.properties = properties;
  }
  if (r.pos !== r.end) {
    r.fail('RTK_DECODE_TRAILING_BYTES', MALFORMED);
    return undefined;
  }
  return packet;
}
