/**
 * The incremental MQTT decoder: bytes in, packets out to a sink.
 *
 * Input may be split at any byte, even inside the remaining length. A packet that lies wholly in one
 * chunk is decoded in place, so its payload and binary fields are views of that chunk (zero copy).
 * Only a packet whose body straddles chunks is copied, once, into a buffer of its own. The chunk may
 * be reused by the caller after push() returns: nothing of it is kept except through the packets.
 */
import type { Packet, ProtocolVersion } from './packets';
import { MQTT_MAX_PACKET_SIZE } from './packets';
import { ReasonCode } from './reason-codes';
import { decodeError, type DecodeError } from './decode-error';
import { EMPTY_BUFFER } from './primitives';
import { Reader, MALFORMED } from './reader';
import { checkFirstByte } from './fixed-header';
import { decodeBody } from './decode-packets';

export type { DecodeError } from './decode-error';
export { isDecodeError } from './decode-error';

export interface PacketSink {
  /** Called for every decoded packet, in order. Must not throw; may call `halt()`. */
  onPacket(packet: Packet): void;
}

export interface DecoderOptions {
  /** Largest accepted packet, fixed header included. Default MQTT_MAX_PACKET_SIZE. */
  maxPacketSize?: number;
  /** Version used for packets other than CONNECT until a CONNECT says otherwise. Default 4. */
  protocolVersion?: ProtocolVersion;
}

// Where the decoder is between two pushes.
const IDLE = 0; // at a packet boundary
const HEADER = 1; // inside the remaining length of a packet
const BODY = 2; // inside the body of a packet

/**
 * One Reader for every decoder: decoding a body is synchronous and calls nothing outside the codec,
 * so no two bodies are ever read at once. This keeps an idle connection's decoder small.
 */
const reader = new Reader();

/** A straddling body smaller than this is allocated at its full size at once; a larger one grows as
 *  its bytes arrive, so that a peer announcing a huge packet costs only what it really sends. */
const PREALLOCATE_LIMIT = 64 * 1024;

export class PacketDecoder {
  /** Version used to decode packets other than CONNECT; updated by every valid CONNECT. */
  protocolVersion: ProtocolVersion;
  lastTopic = '';
  /** Largest accepted packet (fixed header + remaining length); may be changed between pushes. */
  maxPacketSize: number;

  private readonly sink: PacketSink;
  private error: DecodeError | undefined = undefined;
  private halted = false;
  private yieldRequested = false;
  private rest: Buffer | undefined = undefined;

  private state = IDLE;
  private first = 0; // first byte of the pending packet
  private lengthBytes = 0; // remaining-length bytes read so far
  private length = 0; // remaining length (partial while state is HEADER)
  private multiplier = 1; // weight of the next remaining-length byte
  private body: Buffer | undefined = undefined; // copy of a straddling body
  private filled = 0; // bytes of `body` filled so far

  constructor(sink: PacketSink, options?: DecoderOptions) {
    this.sink = sink;
    this.protocolVersion = options?.protocolVersion ?? 4;
    this.maxPacketSize = options?.maxPacketSize ?? MQTT_MAX_PACKET_SIZE;
  }

  /** Bytes held for an incomplete packet. */
  get bufferedBytes(): number {
    if (this.state === HEADER) return 1 + this.lengthBytes;
    if (this.state === BODY) return 1 + this.lengthBytes + this.filled;
    return 0;
  }

  /** Stops decoding: push() returns after the current packet, and later pushes do nothing. */
  halt(): void {
    this.halted = true;
  }

  /**
   * Pauses decoding: push() returns after the current packet, leaving the rest of its chunk
   * undecoded for `takeRest()`. The caller pushes that rest again when it wants to go on.
   */
  yieldAfterPacket(): void {
    this.yieldRequested = true;
  }

  /** What push() left undecoded because of `yieldAfterPacket()` (once). */
  takeRest(): Buffer | undefined {
    const rest = this.rest;
    this.rest = undefined;
    return rest;
  }

  /**
   * The bytes of an incomplete packet waiting for the next push, as the peer sent them (once: the
   * decoder is then between packets). For handing a connection's input on to another decoder.
   */
  takeIncomplete(): Buffer | undefined {
    if (this.state === IDLE) return undefined;
    const header = Buffer.allocUnsafe(1 + this.lengthBytes);
    header[0] = this.first;
    // Every length byte but the last of a complete header had its continuation bit set.
    const lastFlag = this.state === HEADER ? 0x80 : 0;
    let m = 1;
    for (let i = 0; i < this.lengthBytes; i++) {
      header[1 + i] = (Math.floor(this.length / m) % 128) | (i < this.lengthBytes - 1 ? 0x80 : lastFlag);
      m *= 128;
    }
    const body = this.state === BODY && this.body !== undefined ? this.body.subarray(0, this.filled) : undefined;
    this.state = IDLE;
    this.body = undefined;
    this.filled = 0;
    return body === undefined ? header : Buffer.concat([header, body]);
  }

  /**
   * Decodes every complete packet of `chunk`, in order, and keeps an incomplete tail for the next
   * push. Returns the error that stopped decoding; after an error the decoder is dead and every
   * later push returns the same error.
   */
  push(chunk: Buffer): DecodeError | undefined {
    if (this.error !== undefined) return this.error;
    if (this.halted) return undefined;
    const len = chunk.length;
    let pos = 0;
    if (this.state === HEADER) {
      pos = this.readLength(chunk, 0);
      if (pos < 0) return this.error;
      if (this.state === HEADER) return undefined;
      pos = this.startBody(chunk, pos);
      if (pos < 0) return this.error;
    } else if (this.state === BODY) {
      pos = this.continueBody(chunk);
      if (pos < 0) return this.error;
    }
    while (pos < len) {
      if (this.yieldRequested) return this.yieldAt(chunk, pos);
      const first = chunk[pos] as number;
      const bad = checkFirstByte(first, this.protocolVersion);
      if (bad !== undefined) return this.die(bad);
      // Fast path: the remaining length is a single byte and the packet is complete in the chunk.
      const b = pos + 1 < len ? (chunk[pos + 1] as number) : 0x80;
      if (b < 0x80 && pos + 2 + b <= len && 2 + b <= this.maxPacketSize) {
        if (!this.emit(first, chunk, pos + 2, pos + 2 + b)) return this.error;
        pos += 2 + b;
        continue;
      }
      this.first = first;
      this.lengthBytes = 0;
      this.length = 0;
      this.multiplier = 1;
      this.state = HEADER;
      pos = this.readLength(chunk, pos + 1);
      if (pos < 0) return this.error;
      if (this.state === HEADER) return undefined;
      pos = this.startBody(chunk, pos);
      if (pos < 0) return this.error;
    }
    this.yieldRequested = false;
    return undefined;
  }

  private yieldAt(chunk: Buffer, pos: number): undefined {
    this.yieldRequested = false;
    this.rest = chunk.subarray(pos);
    return undefined;
  }

  /**
   * Reads remaining-length bytes from `pos`. Returns the position after them (state is then still
   * HEADER when the chunk ended first), or -1 on error.
   */
  private readLength(chunk: Buffer, pos: number): number {
    const len = chunk.length;
    while (pos < len) {
      const b = chunk[pos++] as number;
      this.length += (b & 0x7f) * this.multiplier;
      this.lengthBytes++;
      if (b < 0x80) {
        this.state = IDLE;
        const size = 1 + this.lengthBytes + this.length;
        if (size > this.maxPacketSize) {
          const error = decodeError('RTK_DECODE_PACKET_TOO_LARGE', ReasonCode.PacketTooLarge, `${size} bytes`);
          if (this.first >> 4 === 1) this.peekConnectVersion(chunk, pos);
          this.die(error);
          return -1;
        }
        return pos;
      }
      if (this.lengthBytes === 4) {
        this.die(decodeError('RTK_DECODE_REMAINING_LENGTH', MALFORMED));
        return -1;
      }
      this.multiplier *= 0x80;
    }
    return pos;
  }

  /** The header is complete and the body starts at `pos`: decode it in place, or start a copy. */
  private startBody(chunk: Buffer, pos: number): number {
    const length = this.length;
    const available = chunk.length - pos;
    if (length <= available) {
      return this.emit(this.first, chunk, pos, pos + length) ? pos + length : -1;
    }
    const body = Buffer.allocUnsafe(length <= PREALLOCATE_LIMIT ? length : Math.max(PREALLOCATE_LIMIT, available));
    chunk.copy(body, 0, pos);
    this.body = body;
    this.filled = available;
    this.state = BODY;
    return chunk.length;
  }

  /** Adds the start of `chunk` to a straddling body; decodes it once complete. */
  private continueBody(chunk: Buffer): number {
    const take = Math.min(this.length - this.filled, chunk.length);
    let body = this.body as Buffer;
    const needed = this.filled + take;
    if (needed > body.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.length, Math.max(needed, body.length * 2)));
      body.copy(grown, 0, 0, this.filled);
      body = grown;
      this.body = grown;
    }
    chunk.copy(body, this.filled, 0, take);
    this.filled = needed;
    if (needed < this.length) return chunk.length;
    this.state = IDLE;
    this.body = undefined;
    this.filled = 0;
    return this.emit(this.first, body, 0, this.length) ? take : -1;
  }

  /** Decodes one body and hands the packet to the sink. False when decoding must stop. */
  private emit(first: number, buf: Buffer, start: number, end: number): boolean {
    reader.reset(buf, start, end);
    const packet = decodeBody(reader, first, this);
    const err = reader.err;
    reader.reset(EMPTY_BUFFER, 0, 0); // do not keep the chunk alive through the shared reader
    if (packet === undefined) {
      this.die(err ?? decodeError('RTK_DECODE_PACKET_TYPE', MALFORMED));
      return false;
    }
    this.sink.onPacket(packet);
    return !this.halted;
  }

  private die(error: DecodeError): DecodeError {
    this.error = error;
    this.state = IDLE;
    this.body = undefined;
    return error;
  }

  /**
   * A CONNECT too large to be buffered: if its protocol name and level are already in this chunk,
   * adopt its version so that the refusal (0x95) can be sent in the client's version.
   */
  private peekConnectVersion(chunk: Buffer, pos: number): void {
    const r = reader;
    r.reset(chunk, pos, chunk.length);
    const nameLength = r.u16();
    if (r.err !== undefined || r.remaining < nameLength + 1) return;
    const name = chunk.toString('latin1', r.pos, r.pos + nameLength);
    const level = chunk[r.pos + nameLength];
    if ((name === 'MQTT' && (level === 4 || level === 5)) || (name === 'MQIsdp' && level === 3)) {
      this.protocolVersion = level;
    }
    r.reset(EMPTY_BUFFER, 0, 0);
  }
}

/**
 * Decodes exactly one whole packet (for tests and tools). Bytes missing at the end are reported as
 * RTK_DECODE_TRUNCATED, bytes after the packet as RTK_DECODE_TRAILING_BYTES.
 */
export function decodeOne(bytes: Buffer, version: ProtocolVersion, maxPacketSize?: number): Packet | DecodeError {
  const sink = new LastPacketSink();
  const options: DecoderOptions = { protocolVersion: version };
  if (maxPacketSize !== undefined) options.maxPacketSize = maxPacketSize;
  const decoder = new PacketDecoder(sink, options);
  const size = wholePacketSize(bytes);
  const error = decoder.push(size > 0 && size < bytes.length ? bytes.subarray(0, size) : bytes);
  if (error !== undefined) return error;
  if (sink.packet === undefined) return decodeError('RTK_DECODE_TRUNCATED', MALFORMED, 'incomplete packet');
  if (size < bytes.length) return decodeError('RTK_DECODE_TRAILING_BYTES', MALFORMED, 'bytes after the packet');
  return sink.packet;
}

/** Fixed header + remaining length of the packet at the start of `bytes`, or -1 if not yet known. */
function wholePacketSize(bytes: Buffer): number {
  let length = 0;
  let multiplier = 1;
  for (let i = 1; i < 5 && i < bytes.length; i++) {
    const b = bytes[i] as number;
    length += (b & 0x7f) * multiplier;
    if (b < 0x80) return 1 + i + length;
    multiplier *= 0x80;
  }
  return -1;
}

class LastPacketSink implements PacketSink {
  packet: Packet | undefined = undefined;
  onPacket(packet: Packet): void {
    this.packet = packet;
  }
}
