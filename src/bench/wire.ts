/**
 * Bytes on the wire for the generator. Handshake packets (CONNECT, SUBSCRIBE, and decoding CONNACK
 * and SUBACK) go through Ratatosk's codec; PUBLISH is built from a template whose sequence,
 * timestamp and packet id are patched in place, and incoming PUBLISHes are parsed by hand.
 */
import { encodePacket } from '../codec/encoder';
import type { ConnectPacket, Properties, ProtocolVersion, QoS } from '../codec/packets';
import type { BenchOptions } from './options';

export const PINGREQ = Buffer.from([0xc0, 0]);
export const DISCONNECT = Buffer.from([0xe0, 0]);

/** Payload layout (little endian). */
export const PAY_MAGIC = 0;
export const PAY_PUB = 4;
export const PAY_SEQ = 8;
export const PAY_TS = 16;

export function connectBytes(o: BenchOptions, clientId: string, persistent: boolean): Buffer {
  const version: ProtocolVersion = o.mqtt;
  const p: ConnectPacket = {
    type: 1,
    protocolName: 'MQTT',
    protocolVersion: version,
    cleanStart: !persistent,
    keepAlive: o.keepalive,
    clientId,
  };
  if (o.username !== undefined) p.username = o.username;
  if (o.password !== undefined) p.password = Buffer.from(o.password, 'utf8');
  if (version === 5) {
    const props: Properties = {};
    if (persistent) props.sessionExpiryInterval = o.sessionExpiry;
    p.properties = props;
  }
  return encodePacket(p, version);
}

export function subscribeBytes(o: BenchOptions, filter: string): Buffer {
  return encodePacket(
    {
      type: 8,
      packetId: 1,
      subscriptions: [{ filter, qos: o.qos as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    },
    o.mqtt,
  );
}

export interface PublishTemplate {
  /** One whole PUBLISH with magic and publisher index in place; sequence, time and id are zero. */
  packet: Buffer;
  /** Offset of the packet id (-1 for QoS 0). */
  pidOffset: number;
  /** Offset of the payload. */
  payloadOffset: number;
}

function varintBytes(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out.push(b);
  } while (v > 0);
  return out;
}

export function publishTemplate(o: BenchOptions, topic: string, magic: number, pubIndex: number): PublishTemplate {
  const t = Buffer.from(topic, 'utf8');
  const props = o.mqtt === 5 ? 1 : 0;
  const remaining = 2 + t.length + (o.qos > 0 ? 2 : 0) + props + o.size;
  const head = [0x30 | (o.qos << 1), ...varintBytes(remaining)];
  const packet = Buffer.alloc(head.length + remaining);
  let off = 0;
  for (const b of head) packet[off++] = b;
  packet.writeUInt16BE(t.length, off);
  off += 2;
  t.copy(packet, off);
  off += t.length;
  let pidOffset = -1;
  if (o.qos > 0) {
    pidOffset = off;
    off += 2;
  }
  if (props) packet[off++] = 0;
  const payloadOffset = off;
  packet.writeUInt32LE(magic >>> 0, off + PAY_MAGIC);
  packet.writeUInt32LE(pubIndex >>> 0, off + PAY_PUB);
  return { packet, pidOffset, payloadOffset };
}

/**
 * Total size of the packet at the start of `b` (fixed header included): -1 while the remaining
 * length is incomplete, -2 when it is malformed.
 */
export function packetSize(b: Buffer, start: number, end: number): number {
  let len = 0;
  let mul = 1;
  for (let i = 1; i <= 4; i++) {
    if (start + i >= end) return -1;
    const x = b[start + i] as number;
    len += (x & 0x7f) * mul;
    if (x < 0x80) return 1 + i + len;
    mul *= 128;
  }
  return -2;
}
