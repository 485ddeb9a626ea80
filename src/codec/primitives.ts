/**
 * Byte-level building blocks shared by the decoder, the encoder and the rest of the broker:
 * MQTT variable byte integers, two- and four-byte integers, length-prefixed UTF-8 strings and
 * binary data (MQTT 5 section 1.5).
 */
import { isUtf8 } from 'node:buffer';

/** The largest value a variable byte integer can hold (four bytes of seven bits). */
export const MAX_VARINT = 268_435_455;

/** The largest UTF-8 string or binary field: its length prefix is a two-byte integer. */
export const MAX_STRING_BYTES = 65_535;

/** A shared empty buffer, for absent payloads. Never write into it. */
export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

/** Bytes that `n` takes as a variable byte integer (1 to 4). */
export function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : 4;
}

/** Writes `n` as a variable byte integer at `offset`; returns the offset after it. */
export function writeVarint(buf: Buffer, offset: number, n: number): number {
  if (n > MAX_VARINT || n < 0) throw new RangeError(`variable byte integer out of range: ${n}`);
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[offset++] = n;
  return offset;
}

/** Writes a two-byte big-endian integer; returns the offset after it. */
export function writeU16(buf: Buffer, offset: number, n: number): number {
  buf[offset] = n >>> 8;
  buf[offset + 1] = n;
  return offset + 2;
}

/** Writes a four-byte big-endian integer; returns the offset after it. */
export function writeU32(buf: Buffer, offset: number, n: number): number {
  buf[offset] = n >>> 24;
  buf[offset + 1] = n >>> 16;
  buf[offset + 2] = n >>> 8;
  buf[offset + 3] = n;
  return offset + 4;
}

/** UTF-8 byte length of `s`, without the two-byte length prefix. */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Bytes that `s` takes as an MQTT UTF-8 string field: two-byte length prefix + UTF-8 bytes. */
export function stringFieldLength(s: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  if (n > MAX_STRING_BYTES) throw new RangeError(`string longer than ${MAX_STRING_BYTES} bytes`);
  return 2 + n;
}

/** Bytes that `b` takes as an MQTT binary data field: two-byte length prefix + the bytes. */
export function binaryFieldLength(b: Uint8Array): number {
  if (b.length > MAX_STRING_BYTES) throw new RangeError(`binary data longer than ${MAX_STRING_BYTES} bytes`);
  return 2 + b.length;
}

/**
 * Writes `s` as an MQTT UTF-8 string field (length prefix + bytes); returns the offset after it.
 * The buffer must have room (the length was computed with `stringFieldLength`). Short ASCII strings,
 * the common case for topics, are copied by a plain loop, cheaper than a call into the runtime.
 */
export function writeString(buf: Buffer, offset: number, s: string): number {
  const len = s.length;
  if (len <= 32) {
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[offset + 2 + i] = c;
    }
    if (i === len) {
      buf[offset] = len >>> 8;
      buf[offset + 1] = len;
      return offset + 2 + len;
    }
  }
  const n = buf.write(s, offset + 2, 'utf8');
  buf[offset] = n >>> 8;
  buf[offset + 1] = n;
  return offset + 2 + n;
}

/** Writes `b` as an MQTT binary data field (length prefix + bytes); returns the offset after it. */
export function writeBinary(buf: Buffer, offset: number, b: Uint8Array): number {
  const n = b.length;
  buf[offset] = n >>> 8;
  buf[offset + 1] = n;
  buf.set(b, offset + 2);
  return offset + 2 + n;
}

/** Above this many bytes, strings are validated by native code rather than by a loop. */
const SHORT_STRING = 64;

/**
 * Decodes `buf[start, end)` as an MQTT UTF-8 string, or returns undefined when it is not well-formed
 * UTF-8 or contains U+0000 ([MQTT-1.5.4-1], [MQTT-1.5.4-2]). In UTF-8 the byte 0x00 only ever encodes
 * U+0000, so a byte scan is exact.
 *
 * Short pure-ASCII strings (the common case: topics) are checked by one branch-free loop and decoded
 * as latin1, the cheapest decoder, which gives the same string for bytes below 0x80.
 */
export function decodeUtf8(buf: Buffer, start: number, end: number): string | undefined {
  if (end - start <= SHORT_STRING) {
    // (b - 1) | b is negative for 0x00, has bit 7 set for 0x80-0xFF, and is 0x01-0x7F otherwise.
    let acc = 0;
    for (let i = start; i < end; i++) {
      const b = buf[i] as number;
      acc |= (b - 1) | b;
    }
    if ((acc & ~0x7f) === 0) return (buf as FastSlices).latin1Slice(start, end);
  }
  const view = buf.subarray(start, end);
  if (view.indexOf(0) !== -1 || !isUtf8(view)) return undefined;
  return (buf as FastSlices).utf8Slice(start, end);
}

/**
 * Node's Buffer has these slice decoders (what toString() calls once it has looked up the encoding,
 * measurably cheaper for short strings); @types/node does not declare them.
 */
interface FastSlices extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}
