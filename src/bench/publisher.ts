/**
 * A publishing connection. PUBLISH packets come from a pre-encoded batch template (the packet
 * repeated): building a batch is one copy, then the sequence, send time and packet id of each
 * message are patched in place, and the batch goes out in one write.
 *
 * Pacing: at a fixed rate, the engine's tick asks for the messages that are due. Unlimited, QoS 1/2
 * keep `inflight` messages unacknowledged and refill at half the window; QoS 0 sends a PINGREQ after
 * each batch and keeps `qos0Window` batches unconfirmed, so that what counts as sent is what the
 * broker has read, not what sits in socket buffers.
 */
import { Conn, S_READY } from './conn';
import type { Context } from './context';
import { PHASE_RUN } from './context';
import { PAY_SEQ, PAY_TS, publishTemplate } from './wire';

const TWO32 = 4294967296;
/** Target bytes of one batch when publishing as fast as possible. */
const BATCH_BYTES = 16 * 1024;
const MAX_BATCH = 1024;
const EMPTY = Buffer.alloc(0);

export class Publisher extends Conn {
  /** Sequence numbers used so far (sent + skipped). */
  seq = 0;
  inflight = 0;
  acked = 0;
  /** Sequence numbers burnt by --skip-every. */
  skipped = 0;
  window: number;
  /** Messages this publisher may send (--count), Infinity without a limit. */
  readonly limit: number;
  /** Start of this publisher's schedule, as a fraction of a message interval (spreads publishers). */
  readonly phaseOffset: number;
  /** Time this publisher built its last message. */
  lastBuildNs = 0;
  private readonly batch: Buffer;
  private readonly pktLen: number;
  private readonly pidOffset: number;
  private readonly seqOffset: number;
  private readonly tsOffset: number;
  private readonly batchMax: number;
  private readonly pidUsed: Uint8Array | undefined;
  private nextPid = 1;

  constructor(
    ctx: Context,
    readonly index: number,
    clientId: string,
    topic: string,
    limit: number,
  ) {
    super(ctx, clientId, undefined, false);
    const o = ctx.options;
    const t = publishTemplate(o, topic, ctx.magic, index);
    this.pktLen = t.packet.length;
    this.pidOffset = t.pidOffset;
    this.seqOffset = t.payloadOffset + PAY_SEQ;
    this.tsOffset = t.payloadOffset + PAY_TS;
    this.batchMax = Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_BYTES / this.pktLen)));
    this.batch = Buffer.allocUnsafe(this.pktLen * this.batchMax);
    for (let i = 0; i < this.batchMax; i++) t.packet.copy(this.batch, i * this.pktLen);
    this.window = o.qos > 0 ? o.inflight : Infinity;
    this.pidUsed = o.qos > 0 ? new Uint8Array(65536) : undefined;
    this.limit = limit;
    this.phaseOffset = o.pubs > 0 ? index / o.pubs : 0;
  }

  get done(): boolean {
    return this.seq >= this.limit;
  }

  protected override onReceiveMaximum(n: number): void {
    if (n > 0 && n < this.window) this.window = n;
  }

  /**
   * Builds up to `k` messages (fewer when the window or the count limit says so), stamped `now`.
   * Returns undefined when none can be built, an empty buffer when all were skipped (--skip-every).
   */
  build(k: number, now: number): Buffer | undefined {
    if (this.inflight + k > this.window) k = this.window - this.inflight;
    if (this.seq + k > this.limit) k = this.limit - this.seq;
    if (k > this.batchMax) k = this.batchMax;
    if (k <= 0) return undefined;
    const ctx = this.ctx;
    const c = ctx.counters;
    const len = this.pktLen;
    const out = Buffer.allocUnsafe(k * len);
    this.batch.copy(out, 0, 0, k * len);
    const tsLo = now % TWO32;
    const tsHi = Math.floor(now / TWO32);
    const skip = ctx.options.skipEvery;
    const pidUsed = this.pidUsed;
    let off = 0;
    for (let i = 0; i < k; i++) {
      const seq = this.seq++;
      if (skip > 0 && (seq + 1) % skip === 0) {
        c.skipped++;
        this.skipped++;
        continue;
      }
      out.writeUInt32LE(seq >>> 0, off + this.seqOffset);
      out.writeUInt32LE(tsLo, off + this.tsOffset);
      out.writeUInt32LE(tsHi, off + this.tsOffset + 4);
      if (pidUsed !== undefined) {
        let id = this.nextPid;
        while (id === 0 || pidUsed[id] === 1) id = (id + 1) & 0xffff;
        pidUsed[id] = 1;
        this.nextPid = (id + 1) & 0xffff;
        out[off + this.pidOffset] = id >> 8;
        out[off + this.pidOffset + 1] = id & 0xff;
        this.inflight++;
      }
      off += len;
    }
    const sent = off / len;
    c.sent += sent;
    if (now >= ctx.measureStart && now < ctx.end) c.sentWindow += sent;
    this.lastBuildNs = now;
    if (off === 0) return EMPTY;
    return off === out.length ? out : out.subarray(0, off);
  }

  /** Fixed rate: sends the messages due by now (`due` sequence numbers in all). */
  fillDue(now: number, due: number): void {
    const s = this.socket;
    if (this.state !== S_READY || s === undefined) return;
    if (due > this.seq) {
      s.cork();
      while (this.seq < due) {
        const b = this.build(due - this.seq, now);
        if (b === undefined) break;
        this.write(b);
      }
      s.uncork();
    }
    const behind = due - this.seq;
    if (behind > this.ctx.counters.behindMax) this.ctx.counters.behindMax = behind;
  }

  /** Unlimited rate: fills the QoS 1/2 window, the paced QoS 0 window, or the socket (unpaced QoS 0). */
  kick(now: number): void {
    if (this.state !== S_READY || this.ctx.phase !== PHASE_RUN || now >= this.ctx.end) return;
    const o = this.ctx.options;
    const s = this.socket;
    if (s === undefined) return;
    s.cork();
    if (o.qos > 0) {
      for (;;) {
        const b = this.build(this.window - this.inflight, now);
        if (b === undefined) break;
        this.write(b);
      }
    } else if (o.qos0Window > 0) {
      while (this.pingsOut < o.qos0Window) {
        const b = this.build(this.batchMax, now);
        if (b === undefined) break;
        this.write(b);
        this.ping();
      }
    } else {
      let more = true;
      for (let i = 0; i < 8 && more; i++) {
        const b = this.build(this.batchMax, now);
        if (b === undefined) break;
        more = this.write(b);
      }
      // write() said the buffer is full: 'drain' kicks again; otherwise the next turn does.
      if (more && !this.done) this.ctx.schedulePump(this);
    }
    s.uncork();
  }

  protected override resetFlight(): void {
    this.ctx.counters.abandoned += this.inflight;
    this.inflight = 0;
    this.pidUsed?.fill(0);
  }

  protected override reconnected(): void {
    const o = this.ctx.options;
    if (o.rate === 0) this.kick(this.ctx.now());
  }

  protected override onDrain(): void {
    const o = this.ctx.options;
    if (o.rate === 0 && o.qos === 0 && o.qos0Window === 0) this.kick(this.ctx.now());
  }

  protected onPacket(first: number, buf: Buffer, start: number, end: number): void {
    const type = first >> 4;
    const c = this.ctx.counters;
    if (type === 4 || type === 5 || type === 7) {
      // PUBACK / PUBREC / PUBCOMP
      if (end - start < 2) {
        c.protocolErrors++;
        return;
      }
      const id = ((buf[start] as number) << 8) | (buf[start + 1] as number);
      const failed = end - start >= 3 && (buf[start + 2] as number) >= 0x80;
      if (type === 5 && !failed) {
        this.ack(0x62, id); // PUBREL
        return;
      }
      const used = this.pidUsed;
      if (used === undefined || used[id] !== 1) {
        c.unknownAcks++;
        return;
      }
      used[id] = 0;
      this.inflight--;
      this.acked++;
      c.acked++;
      const now = this.ctx.lastNow;
      if (now >= this.ctx.measureStart && now < this.ctx.end) c.ackedWindow++;
      if (failed) c.nacked++;
      return;
    }
    if (type === 13) {
      if (this.pingsOut > 0) this.pingsOut--;
      return;
    }
    if (type === 14) {
      this.disconnectedByBroker();
      return;
    }
    c.protocolErrors++;
  }

  protected afterRead(): void {
    const acks = this.takeAcks();
    const s = this.socket;
    if (acks !== undefined && s !== undefined) s.cork();
    if (acks !== undefined) this.write(acks);
    this.refill();
    if (acks !== undefined && s !== undefined) s.uncork();
  }

  private refill(): void {
    const ctx = this.ctx;
    if (ctx.phase !== PHASE_RUN) return;
    const o = ctx.options;
    const now = ctx.lastNow;
    if (now >= ctx.end) return;
    if (o.rate > 0) {
      // Catch up on messages the window held back.
      if (o.qos > 0 && this.inflight < this.window) {
        const due = Math.min(this.limit, Math.floor(((now - ctx.t0) / 1e9) * (o.rate / o.pubs) + this.phaseOffset));
        if (due > this.seq) this.fillDue(now, due);
      }
      return;
    }
    if (o.qos > 0) {
      if (this.inflight <= this.window >> 1) this.kick(now);
    } else if (o.qos0Window > 0 && this.pingsOut < o.qos0Window) {
      this.kick(now);
    }
  }
}
