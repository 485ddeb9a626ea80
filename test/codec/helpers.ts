/**
 * Test helpers for the codec: hex literals, feeding a decoder in chunks, and the normal form that
 * makes "absent" and "default" fields compare equal.
 */
import {
  PacketDecoder,
  type DecodeError,
  type Packet,
  type PacketSink,
  type Properties,
  type ProtocolVersion,
} from '../../src/codec/index';

/** Bytes from a hex string; spaces and line breaks are ignored. */
export function hex(text: string): Buffer {
  const clean = text.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error(`bad hex: ${text}`);
  return Buffer.from(clean, 'hex');
}

/** Hex of a string's UTF-8 bytes, to spell fixtures: ascii('MQTT') = '4d515454'. */
export function ascii(s: string): string {
  return Buffer.from(s, 'utf8').toString('hex');
}

/** A UTF-8 string field in hex: two-byte length + bytes. */
export function str(s: string): string {
  const b = Buffer.from(s, 'utf8');
  return b.length.toString(16).padStart(4, '0') + b.toString('hex');
}

/** A single length byte in hex for a body of `parts` (fixtures stay below 128 bytes). */
export function len1(...parts: string[]): string {
  const n = hex(parts.join('')).length;
  if (n >= 128) throw new Error('fixture body too long for a one-byte length');
  return n.toString(16).padStart(2, '0');
}

/** A packet in hex with a one-byte remaining length computed from its body. */
export function packetHex(first: string, ...body: string[]): string {
  return first + len1(...body) + body.join('');
}

export interface DecodeRun {
  packets: Packet[];
  error: DecodeError | undefined;
  decoder: PacketDecoder;
}

export class CollectingSink implements PacketSink {
  readonly packets: Packet[] = [];
  onPacket(packet: Packet): void {
    this.packets.push(packet);
  }
}

/** Pushes the chunks in order into a new decoder; stops at the first error. */
export function decodeChunks(chunks: Buffer[], version: ProtocolVersion, maxPacketSize?: number): DecodeRun {
  const sink = new CollectingSink();
  const decoder = new PacketDecoder(sink, maxPacketSize === undefined ? { protocolVersion: version } : { protocolVersion: version, maxPacketSize });
  let error: DecodeError | undefined;
  for (const chunk of chunks) {
    error = decoder.push(chunk);
    if (error !== undefined) break;
  }
  return { packets: sink.packets, error, decoder };
}

/** `bytes` cut at the given offsets (sorted, deduplicated, within range). */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Copies each chunk into memory of its own, so that no chunk shares memory with another. */
export function detached(chunks: Buffer[]): Buffer[] {
  return chunks.map((c) => Buffer.from(c));
}

function normaliseProperties(p: Properties | undefined): Properties | undefined {
  if (p === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = v;
  }
  return Object.keys(out).length === 0 ? undefined : (out as Properties);
}

function setOrDelete<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value === undefined) delete obj[key];
  else obj[key] = value;
}

/**
 * The form a packet has after a trip through the wire in `version`: MQTT 5 fields dropped before 5,
 * empty properties dropped, a Success reason code without properties dropped (short forms), QoS 0
 * without packet id or DUP, Buffers as plain Buffers. Decoded packets and sent packets are compared in this
 * form, so "absent" and "default" are the same thing.
 */
export function normalise(packet: Packet, version: ProtocolVersion): Packet {
  const p = structuredCloneKeepBuffers(packet);
  const v5 = version === 5;
  if ('properties' in p) setOrDelete(p, 'properties', v5 ? normaliseProperties(p.properties) : undefined);
  switch (p.type) {
    case 1:
      p.protocolName = version === 3 ? 'MQIsdp' : 'MQTT';
      p.protocolVersion = version;
      if (p.will !== undefined) setOrDelete(p.will, 'properties', v5 ? normaliseProperties(p.will.properties) : undefined);
      for (const k of ['will', 'username', 'password'] as const) if (p[k] === undefined) delete p[k];
      break;
    case 3:
      if (p.qos === 0) {
        delete p.packetId;
        p.dup = false;
      }
      break;
    case 4: case 5: case 6: case 7: case 14: case 15: {
      const rc = p.reasonCode ?? 0;
      setOrDelete(p, 'reasonCode', v5 && (rc !== 0 || p.properties !== undefined) ? rc : undefined);
      break;
    }
    case 8:
      if (!v5) for (const s of p.subscriptions) Object.assign(s, { noLocal: false, retainAsPublished: false, retainHandling: 0 });
      break;
    case 11:
      if (!v5) p.reasonCodes = [];
      break;
  }
  return p;
}

/** A deep copy that keeps Buffers as Buffers (structuredClone would turn them into Uint8Arrays). */
function structuredCloneKeepBuffers<T>(value: T): T {
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => structuredCloneKeepBuffers(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = structuredCloneKeepBuffers(v);
    return out as T;
  }
  return value;
}

/** Same bytes, as a string for messages: '10 0c 00 04 ...'. */
export function spaced(b: Buffer): string {
  return b.toString('hex').replace(/(..)(?!$)/g, '$1 ');
}
