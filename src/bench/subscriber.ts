/**
 * A subscribing connection: parses incoming PUBLISH packets minimally (topic skipped, payload
 * header read in place), acknowledges them, and keeps per-publisher accounting: the highest sequence
 * seen, how many new sequences arrived, how many were duplicates or out of order.
 */
import { Conn } from './conn';
import type { Context } from './context';
import { PAY_MAGIC, PAY_PUB, PAY_SEQ, PAY_TS } from './wire';
import { slotOf } from './plan';
import { PAYLOAD_HEADER } from './options';

const TWO32 = 4294967296;

export class Subscriber extends Conn {
  /** Per matched publisher: next expected sequence (highest seen + 1), new ones, duplicates. */
  readonly hi: Float64Array;
  readonly unique: Float64Array;
  readonly dups: Float64Array;

  constructor(
    ctx: Context,
    readonly index: number,
    clientId: string,
    filter: string,
    readonly matches: Int32Array | null,
  ) {
    super(ctx, clientId, filter, ctx.options.persistent);
    const n = matches === null ? ctx.options.pubs : matches.length;
    this.hi = new Float64Array(n);
    this.unique = new Float64Array(n);
    this.dups = new Float64Array(n);
  }

  protected onPacket(first: number, buf: Buffer, start: number, end: number): void {
    const type = first >> 4;
    const ctx = this.ctx;
    const c = ctx.counters;
    if (type !== 3) {
      if (type === 6 && end - start >= 2) {
        // PUBREL: answer PUBCOMP
        this.ack(0x70, ((buf[start] as number) << 8) | (buf[start + 1] as number));
      } else if (type === 13) {
        if (this.pingsOut > 0) this.pingsOut--;
      } else if (type === 14) {
        this.disconnectedByBroker();
      } else {
        c.protocolErrors++;
      }
      return;
    }
    const qos = (first >> 1) & 3;
    let p = start + 2 + (((buf[start] as number) << 8) | (buf[start + 1] as number));
    if (qos > 0) {
      this.ack(qos === 1 ? 0x40 : 0x50, ((buf[p] as number) << 8) | (buf[p + 1] as number));
      p += 2;
    }
    if (ctx.options.mqtt === 5) {
      // Skip the properties (a variable byte integer length, then that many bytes).
      let len = 0;
      let mul = 1;
      for (;;) {
        const x = buf[p++] as number;
        len += (x & 0x7f) * mul;
        if (x < 0x80 || mul > 2097152) break;
        mul *= 128;
      }
      p += len;
    }
    c.received++;
    const now = ctx.lastNow;
    if (c.firstRxNs === 0) c.firstRxNs = now;
    c.lastRxNs = now;
    if (now >= ctx.measureStart && now < ctx.end) c.receivedWindow++;
    if (end - p < PAYLOAD_HEADER || buf.readUInt32LE(p + PAY_MAGIC) !== ctx.magic) {
      c.foreign++;
      return;
    }
    const pub = buf.readUInt32LE(p + PAY_PUB);
    const slot = slotOf(this.matches, ctx.options.pubs, pub);
    if (slot < 0) {
      c.unexpected++;
      return;
    }
    const seq = buf.readUInt32LE(p + PAY_SEQ) + buf.readUInt32LE(p + PAY_SEQ + 4) * TWO32;
    if (seq >= (this.hi[slot] as number)) {
      this.unique[slot] = (this.unique[slot] as number) + 1;
      this.hi[slot] = seq + 1;
    } else {
      this.dups[slot] = (this.dups[slot] as number) + 1;
      c.duplicates++;
    }
    const ts = buf.readUInt32LE(p + PAY_TS) + buf.readUInt32LE(p + PAY_TS + 4) * TWO32;
    if (ts >= ctx.measureStart && ts < ctx.end && now >= ts) ctx.latency.add(now - ts);
  }

  protected afterRead(): void {
    this.flushAcks();
  }
}
