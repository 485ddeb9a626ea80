/**
 * Packets to bytes. Every packet is written into one buffer whose size is computed first.
 *
 * For MQTT 3.1 and 3.1.1 the MQTT 5 fields (properties, reason codes on acknowledgements, DISCONNECT
 * and UNSUBACK) are left out. Properties that a packet type may not carry are skipped (see
 * properties.ts). Values are trusted, not range-checked: the encoder only throws (RangeError) when a
 * length cannot be expressed at all (a string over 65,535 bytes, a packet over 268,435,455 bytes) or
 * for AUTH before MQTT 5.
 */
import type {
  AckPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  AuthPacket,
  Packet,
  Properties,
  ProtocolVersion,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from './packets';
import {
  binaryFieldLength,
  stringFieldLength,
  varintLength,
  writeBinary,
  writeString,
  writeU16,
  writeVarint,
} from './primitives';
import { propertiesLength, propertyBlockLength, writeProperties, WILL_CONTEXT } from './properties';

/** Encodes a whole packet for a connection speaking `version` (CONNECT: the version it requests). */
export function encodePacket(packet: Packet, version: ProtocolVersion): Buffer {
  switch (packet.type) {
    case 3: return encodePublish(packet, version, true);
    case 4:
    case 5:
    case 6:
    case 7: return encodeAck(packet, version);
    case 1: return encodeConnect(packet, version);
    case 2: return encodeConnack(packet, version);
    case 8: return encodeSubscribe(packet, version);
    case 9: return encodeSuback(packet, version);
    case 10: return encodeUnsubscribe(packet, version);
    case 11: return encodeUnsuback(packet, version);
    case 12: return Buffer.from([0xc0, 0]);
    case 13: return Buffer.from([0xd0, 0]);
    case 14:
    case 15: return encodeDisconnect(packet, version);
  }
}

/**
 * PUBLISH without its payload: fixed header (the remaining length counts the payload), topic, packet
 * identifier and properties. The caller writes the header then the payload, so a payload shared by
 * many subscribers is never copied. `packetIdOffset` is where the two-byte packet identifier sits in
 * `header` (-1 for QoS 0), so that a shared header can be copied and patched per subscriber.
 */
export function encodePublishHeader(packet: PublishPacket, version: ProtocolVersion): { header: Buffer; packetIdOffset: number } {
  const header = encodePublish(packet, version, false);
  if (packet.qos === 0) return { header, packetIdOffset: -1 };
  // After the first byte: the remaining length (a variable byte integer), then the topic.
  let o = 1;
  while (((header[o] as number) & 0x80) !== 0) o++;
  const topicLength = ((header[o + 1] as number) << 8) | (header[o + 2] as number);
  return { header, packetIdOffset: o + 3 + topicLength };
}

/** Total bytes that encodePacket would produce (to enforce a peer's Maximum Packet Size). */
export function encodedLength(packet: Packet, version: ProtocolVersion): number {
  const remaining = remainingLength(packet, version);
  return 1 + varintLength(remaining) + remaining;
}

/** The remaining length of `packet` in `version`: every byte after the fixed header. */
export function remainingLength(packet: Packet, version: ProtocolVersion): number {
  switch (packet.type) {
    case 3: return publishLength(packet, version, propsLength(packet.properties, 3, version));
    case 4:
    case 5:
    case 6:
    case 7: return ackLength(packet, version, propsLength(packet.properties, packet.type, version));
    case 1: return connectLength(packet, version, propsLength(packet.properties, 1, version), willPropsLength(packet, version));
    case 2: return connackLength(version, propsLength(packet.properties, 2, version));
    case 8: return subscribeLength(packet, version, propsLength(packet.properties, 8, version));
    case 9: return subackLength(packet, version, propsLength(packet.properties, 9, version));
    case 10: return unsubscribeLength(packet, version, propsLength(packet.properties, 10, version));
    case 11: return unsubackLength(packet, version, propsLength(packet.properties, 11, version));
    case 12:
    case 13: return 0;
    case 14:
    case 15: return disconnectLength(packet, version, propsLength(packet.properties, packet.type, version));
  }
}

/** Property bytes in `version`; -1 before MQTT 5, where there is no property block at all. */
function propsLength(props: Properties | undefined, context: number, version: ProtocolVersion): number {
  return version === 5 ? propertiesLength(props, context) : -1;
}

/** Bytes of the property block, 0 when there is none (before MQTT 5). */
function blockLength(propsLen: number): number {
  return propsLen < 0 ? 0 : propertyBlockLength(propsLen);
}

/** Allocates the whole packet and writes its fixed header; the body starts at bodyOffset(remaining). */
function allocate(first: number, remaining: number): Buffer {
  const buf = Buffer.allocUnsafe(1 + varintLength(remaining) + remaining);
  buf[0] = first;
  writeVarint(buf, 1, remaining);
  return buf;
}

function bodyOffset(remaining: number): number {
  return 1 + varintLength(remaining);
}

// PUBLISH

function publishLength(p: PublishPacket, version: ProtocolVersion, propsLen: number): number {
  return stringFieldLength(p.topic) + (p.qos !== 0 ? 2 : 0) + blockLength(propsLen) + p.payload.length;
}

/** Gives the buffer a packet of `size` bytes is written into. */
export type Allocate = (size: number) => Buffer;

/**
 * A whole PUBLISH written into the buffer `allocate` gives (for encoders that keep packets in memory
 * of their own instead of Node's shared Buffer pool).
 */
export function encodePublishWith(packet: PublishPacket, version: ProtocolVersion, allocate: Allocate): Buffer {
  return encodePublish(packet, version, true, allocate);
}

function encodePublish(p: PublishPacket, version: ProtocolVersion, withPayload: boolean, allocate: Allocate = Buffer.allocUnsafe): Buffer {
  const propsLen = version === 5 ? propertiesLength(p.properties, 3) : -1;
  const remaining = publishLength(p, version, propsLen);
  const headerLength = 1 + varintLength(remaining) + remaining - (withPayload ? 0 : p.payload.length);
  const buf = allocate(headerLength);
  // DUP is only written with QoS > 0: a QoS 0 PUBLISH with DUP set is malformed ([MQTT-3.3.1-2]).
  buf[0] = 0x30 | (p.dup && p.qos !== 0 ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0);
  let o = writeVarint(buf, 1, remaining);
  o = writeString(buf, o, p.topic);
  if (p.qos !== 0) o = writeU16(buf, o, p.packetId ?? 0);
  if (propsLen >= 0) o = writeProperties(buf, o, p.properties, 3, propsLen);
  if (withPayload) buf.set(p.payload, o);
  return buf;
}

// PUBACK, PUBREC, PUBREL, PUBCOMP

/** MQTT 5: Success without properties is the 2-byte short form ([MQTT-3.4.2-1] allows dropping both). */
function ackLength(p: AckPacket<4 | 5 | 6 | 7>, version: ProtocolVersion, propsLen: number): number {
  if (version < 5 || (propsLen === 0 && (p.reasonCode ?? 0) === 0)) return 2;
  return 3 + propertyBlockLength(propsLen);
}

function encodeAck(p: AckPacket<4 | 5 | 6 | 7>, version: ProtocolVersion): Buffer {
  const propsLen = propsLength(p.properties, p.type, version);
  const remaining = ackLength(p, version, propsLen);
  const buf = allocate((p.type << 4) | (p.type === 6 ? 0b0010 : 0), remaining);
  let o = writeU16(buf, bodyOffset(remaining), p.packetId);
  if (remaining > 2) {
    buf[o++] = p.reasonCode ?? 0;
    writeProperties(buf, o, p.properties, p.type, propsLen);
  }
  return buf;
}

// CONNECT, CONNACK

function willPropsLength(p: ConnectPacket, version: ProtocolVersion): number {
  return p.will === undefined ? -1 : propsLength(p.will.properties, WILL_CONTEXT, version);
}

function connectLength(p: ConnectPacket, version: ProtocolVersion, propsLen: number, willPropsLen: number): number {
  // protocol name ('MQIsdp' for 3.1, else 'MQTT'), level, flags, keep alive
  let n = (version === 3 ? 8 : 6) + 1 + 1 + 2 + blockLength(propsLen) + stringFieldLength(p.clientId);
  const will = p.will;
  if (will !== undefined) n += blockLength(willPropsLen) + stringFieldLength(will.topic) + binaryFieldLength(will.payload);
  if (p.username !== undefined) n += stringFieldLength(p.username);
  if (p.password !== undefined) n += binaryFieldLength(p.password);
  return n;
}

function encodeConnect(p: ConnectPacket, version: ProtocolVersion): Buffer {
  const propsLen = propsLength(p.properties, 1, version);
  const willPropsLen = willPropsLength(p, version);
  const remaining = connectLength(p, version, propsLen, willPropsLen);
  const buf = allocate(0x10, remaining);
  let o = writeString(buf, bodyOffset(remaining), version === 3 ? 'MQIsdp' : 'MQTT');
  buf[o++] = version;
  const will = p.will;
  let flags = p.cleanStart ? 0x02 : 0;
  if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (p.password !== undefined) flags |= 0x40;
  if (p.username !== undefined) flags |= 0x80;
  buf[o++] = flags;
  o = writeU16(buf, o, p.keepAlive);
  if (propsLen >= 0) o = writeProperties(buf, o, p.properties, 1, propsLen);
  o = writeString(buf, o, p.clientId);
  if (will !== undefined) {
    if (willPropsLen >= 0) o = writeProperties(buf, o, will.properties, WILL_CONTEXT, willPropsLen);
    o = writeString(buf, o, will.topic);
    o = writeBinary(buf, o, will.payload);
  }
  if (p.username !== undefined) o = writeString(buf, o, p.username);
  if (p.password !== undefined) writeBinary(buf, o, p.password);
  return buf;
}

function connackLength(version: ProtocolVersion, propsLen: number): number {
  return 2 + blockLength(propsLen);
}

function encodeConnack(p: ConnackPacket, version: ProtocolVersion): Buffer {
  const propsLen = propsLength(p.properties, 2, version);
  const remaining = connackLength(version, propsLen);
  const buf = allocate(0x20, remaining);
  let o = bodyOffset(remaining);
  buf[o++] = p.sessionPresent ? 1 : 0;
  buf[o++] = p.reasonCode;
  if (propsLen >= 0) writeProperties(buf, o, p.properties, 2, propsLen);
  return buf;
}

// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK

function subscribeLength(p: SubscribePacket, version: ProtocolVersion, propsLen: number): number {
  let n = 2 + blockLength(propsLen);
  const subs = p.subscriptions;
  for (let i = 0; i < subs.length; i++) n += stringFieldLength(subs[i]!.filter) + 1;
  return n;
}

function encodeSubscribe(p: SubscribePacket, version: ProtocolVersion): Buffer {
  const propsLen = propsLength(p.properties, 8, version);
  const remaining = subscribeLength(p, version, propsLen);
  const buf = allocate(0x82, remaining);
  let o = writeU16(buf, bodyOffset(remaining), p.packetId);
  if (propsLen >= 0) o = writeProperties(buf, o, p.properties, 8, propsLen);
  const subs = p.subscriptions;
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    o = writeString(buf, o, s.filter);
    buf[o++] = version === 5
      ? s.qos | (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | (s.retainHandling << 4)
      : s.qos;
  }
  return buf;
}

function subackLength(p: SubackPacket, version: ProtocolVersion, propsLen: number): number {
  return 2 + blockLength(propsLen) + p.reasonCodes.length;
}

function encodeSuback(p: SubackPacket, version: ProtocolVersion): Buffer {
  const propsLen = propsLength(p.properties, 9, version);
  const remaining = subackLength(p, version, propsLen);
  const buf = allocate(0x90, remaining);
  let o = writeU16(buf, bodyOffset(remaining), p.packetId);
  if (propsLen >= 0) o = writeProperties(buf, o, p.properties, 9, propsLen);
  const codes = p.reasonCodes;
  for (let i = 0; i < codes.length; i++) buf[o++] = codes[i]!;
  return buf;
}

function unsubscribeLength(p: UnsubscribePacket, version: ProtocolVersion, propsLen: number): number {
  let n = 2 + blockLength(propsLen);
  const filters = p.filters;
  for (let i = 0; i < filters.length; i++) n += stringFieldLength(filters[i]!);
  return n;
}

function encodeUnsubscribe(p: UnsubscribePacket, version: ProtocolVersion): Buffer {
  const propsLen = propsLength(p.properties, 10, version);
  const remaining = unsubscribeLength(p, version, propsLen);
  const buf = allocate(0xa2, remaining);
  let o = writeU16(buf, bodyOffset(remaining), p.packetId);
  if (propsLen >= 0) o = writeProperties(buf, o, p.properties, 10, propsLen);
  const filters = p.filters;
  for (let i = 0; i < filters.length; i++) o = writeString(buf, o, filters[i]!);
  return buf;
}

/** Before MQTT 5 an UNSUBACK is only a packet identifier. */
function unsubackLength(p: UnsubackPacket, version: ProtocolVersion, propsLen: number): number {
  return version === 5 ? 2 + propertyBlockLength(propsLen) + p.reasonCodes.length : 2;
}

function encodeUnsuback(p: UnsubackPacket, version: ProtocolVersion): Buffer {
  const propsLen = propsLength(p.properties, 11, version);
  const remaining = unsubackLength(p, version, propsLen);
  const buf = allocate(0xb0, remaining);
  let o = writeU16(buf, bodyOffset(remaining), p.packetId);
  if (version === 5) {
    o = writeProperties(buf, o, p.properties, 11, propsLen);
    const codes = p.reasonCodes;
    for (let i = 0; i < codes.length; i++) buf[o++] = codes[i]!;
  }
  return buf;
}

// DISCONNECT, AUTH

/** MQTT 5: reason 0x00 without properties is an empty body; before MQTT 5 DISCONNECT is always empty. */
function disconnectLength(p: DisconnectPacket | AuthPacket, version: ProtocolVersion, propsLen: number): number {
  if (p.type === 15 && version < 5) throw new RangeError('AUTH exists only in MQTT 5');
  if (version < 5 || (propsLen === 0 && (p.reasonCode ?? 0) === 0)) return 0;
  return 1 + propertyBlockLength(propsLen);
}

function encodeDisconnect(p: DisconnectPacket | AuthPacket, version: ProtocolVersion): Buffer {
  const propsLen = propsLength(p.properties, p.type, version);
  const remaining = disconnectLength(p, version, propsLen);
  const buf = allocate(p.type << 4, remaining);
  if (remaining > 0) {
    const o = bodyOffset(remaining);
    buf[o] = p.reasonCode ?? 0;
    writeProperties(buf, o + 1, p.properties, p.type, propsLen);
  }
  return buf;
}
