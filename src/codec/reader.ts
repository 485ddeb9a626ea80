/**
 * A cursor over the body of one packet, `buf[pos, end)`. One Reader is owned by each decoder and
 * reused for every packet, so reading allocates nothing but the values read.
 *
 * Errors do not throw: the first failure is kept in `err`, the cursor jumps to `end` so that every
 * later read fails quietly (returning 0, '' or an empty buffer), and the caller checks `err` before it
 * relies on a value. `fail` keeps the first error, so a truncation is never masked by a later check.
 */
import type { ErrorCode } from '../errors';
import { ReasonCode } from './reason-codes';
import { decodeError, type DecodeError } from './decode-error';
import { EMPTY_BUFFER, decodeUtf8 } from './primitives';

export const MALFORMED = ReasonCode.MalformedPacket;
export const PROTOCOL_ERROR = ReasonCode.ProtocolError;

export class Reader {
  buf: Buffer = EMPTY_BUFFER;
  pos = 0;
  end = 0;
  err: DecodeError | undefined = undefined;

  reset(buf: Buffer, pos: number, end: number): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.err = undefined;
  }

  /** Records the first error and stops the cursor; returns the error that is kept. */
  fail(code: ErrorCode, reasonCode: number, detail?: string): DecodeError {
    if (this.err === undefined) this.err = decodeError(code, reasonCode, detail);
    this.pos = this.end;
    return this.err;
  }

  private truncated(): 0 {
    this.fail('RTK_DECODE_TRUNCATED', MALFORMED);
    return 0;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) return this.truncated();
    return this.buf[this.pos++] as number;
  }

  u16(): number {
    const p = this.pos;
    if (p + 2 > this.end) return this.truncated();
    this.pos = p + 2;
    return ((this.buf[p] as number) << 8) | (this.buf[p + 1] as number);
  }

  u32(): number {
    const p = this.pos;
    if (p + 4 > this.end) return this.truncated();
    this.pos = p + 4;
    const b = this.buf;
    return (b[p] as number) * 0x100_0000 + (((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number));
  }

  /** A variable byte integer (property length, Subscription Identifier): at most four bytes. */
  varint(): number {
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.end) return this.truncated();
      const b = this.buf[this.pos++] as number;
      value += (b & 0x7f) * mul;
      if (b < 0x80) return value;
      mul *= 0x80;
    }
    this.fail('RTK_DECODE_VARIABLE_INTEGER', MALFORMED);
    return 0;
  }

  /** A length-prefixed UTF-8 string, validated (well-formed, no U+0000). */
  utf8(): string {
    const len = this.u16();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) {
      this.truncated();
      return '';
    }
    this.pos = end;
    const s = decodeUtf8(this.buf, start, end);
    if (s === undefined) {
      this.fail('RTK_DECODE_INVALID_UTF8', MALFORMED);
      return '';
    }
    return s;
  }

  /** Length-prefixed binary data, as a view into the buffer being read (zero copy). */
  binary(): Buffer {
    const len = this.u16();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) {
      this.truncated();
      return EMPTY_BUFFER;
    }
    this.pos = end;
    return this.buf.subarray(start, end);
  }
}
