/**
 * One raw MQTT connection of the generator: TCP with Nagle off, the CONNECT/SUBSCRIBE handshake,
 * and a framing loop over reads into the thread's shared buffer. Complete packets are handled in
 * place; only a packet split across reads is copied. Subclasses handle packets once ready.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { decodeOne } from '../codec/decoder';
import { isDecodeError } from '../codec/decode-error';
import { PHASE_DONE, type Context } from './context';
import { DISCONNECT, PINGREQ, connectBytes, packetSize, subscribeBytes } from './wire';

export const S_NEW = 0;
export const S_WAIT_CONNACK = 1;
export const S_WAIT_SUBACK = 2;
export const S_READY = 3;
export const S_CLOSED = 4;

export abstract class Conn {
  socket: Socket | undefined = undefined;
  state = S_NEW;
  /** Time of the last write (keepalive). */
  lastTx = 0;
  /** PINGREQs without a PINGRESP yet. */
  pingsOut = 0;
  protected tStart = 0;
  private tail: Buffer | undefined = undefined;
  private opened: ((ok: boolean) => void) | undefined = undefined;

  constructor(
    readonly ctx: Context,
    readonly clientId: string,
    /** The filter to subscribe to, for subscribers. */
    readonly filter: string | undefined,
    readonly persistent: boolean,
  ) {}

  /** Connects (and subscribes); calls `done` once, with whether the connection became ready. */
  open(done: (ok: boolean) => void): void {
    const ctx = this.ctx;
    const o = ctx.options;
    this.opened = done;
    this.tStart = ctx.now();
    const s = netConnect({
      host: o.host,
      port: o.port,
      noDelay: true,
      onread: {
        buffer: ctx.readBuffer,
        callback: (n: number, buf: Uint8Array): boolean => {
          this.onRead(n, buf as Buffer);
          return true;
        },
      },
    });
    this.socket = s;
    s.on('connect', () => {
      this.state = S_WAIT_CONNACK;
      this.write(connectBytes(o, this.clientId, this.persistent));
    });
    s.on('drain', () => this.onDrain());
    s.on('error', (err: Error) => this.closed(`socket error: ${err.message}`));
    s.on('close', () => this.closed('closed by the broker'));
  }

  write(b: Buffer): boolean {
    const s = this.socket;
    if (s === undefined || this.state === S_CLOSED) return false;
    if (b.length === 0) return true;
    this.lastTx = this.ctx.lastNow;
    return s.write(b);
  }

  ping(): void {
    this.pingsOut++;
    this.ctx.counters.pings++;
    this.write(PINGREQ);
  }

  /** Sends DISCONNECT and half-closes; the broker closes the rest. */
  disconnect(): void {
    const s = this.socket;
    if (s === undefined || this.state === S_CLOSED) return;
    if (this.state === S_READY) s.end(DISCONNECT);
    else s.destroy();
  }

  destroy(): void {
    this.state = S_CLOSED;
    this.socket?.destroy();
  }

  get isOpen(): boolean {
    return this.state !== S_CLOSED && this.state !== S_NEW;
  }

  /** Bytes written by us and not yet handed to the kernel. */
  get pendingWrite(): number {
    return this.socket?.writableLength ?? 0;
  }

  private closed(why: string): void {
    if (this.state === S_CLOSED) return;
    const wasReady = this.state === S_READY;
    this.state = S_CLOSED;
    this.socket?.destroy();
    if (this.opened) {
      if (this.offlineDone) {
        this.finishHandshake(true);
        return;
      }
      this.ctx.error(`${this.clientId}: ${why} during the handshake`);
      this.finishHandshake(false);
    } else if (wasReady && this.ctx.phase < PHASE_DONE) {
      if (this.ctx.options.reconnectMs > 0) {
        this.reconnectLater();
        return;
      }
      this.ctx.counters.closedAfterReady++;
      this.ctx.error(`${this.clientId}: ${why}`);
    }
  }

  /** --reconnect: connects (and subscribes) again after the delay, until it succeeds or the run ends. */
  private reconnectLater(): void {
    const timer = setTimeout(() => {
      if (this.ctx.phase >= PHASE_DONE) return;
      this.tail = undefined;
      this.pingsOut = 0;
      this.state = S_NEW;
      this.resetFlight();
      this.open((ok) => {
        if (!ok) {
          this.state = S_CLOSED;
          this.reconnectLater();
          return;
        }
        this.ctx.counters.reconnects++;
        this.reconnected();
      });
    }, this.ctx.options.reconnectMs);
    timer.unref();
  }

  /** A DISCONNECT from the broker: the connection ends (an error unless --reconnect is on). */
  protected disconnectedByBroker(): void {
    if (this.ctx.options.reconnectMs > 0) this.closed('DISCONNECT from the broker');
    else this.fail('DISCONNECT from the broker');
  }

  /** Forgets what was in flight on a connection that closed (--reconnect). */
  protected resetFlight(): void {}

  /** Connected again after a close (--reconnect): goes on where it was. */
  protected reconnected(): void {}

  /** Set once a persistent subscriber has subscribed and sent DISCONNECT (--offline-subs). */
  private offlineDone = false;

  private finishHandshake(ok: boolean): void {
    const d = this.opened;
    this.opened = undefined;
    if (ok) this.ctx.connectLatency.add(this.ctx.now() - this.tStart);
    d?.(ok);
  }

  private onRead(n: number, buf: Buffer): void {
    const ctx = this.ctx;
    ctx.lastNow = ctx.now();
    let pos = 0;
    if (this.tail !== undefined) {
      pos = this.finishTail(n, buf);
      if (pos < 0) return;
    }
    while (pos < n) {
      if (n - pos < 2) break;
      let size = 2 + (buf[pos + 1] as number);
      let hl = 2;
      if (size > 129) {
        size = packetSize(buf, pos, n);
        if (size === -1) break;
        if (size === -2) return this.fail('malformed remaining length');
        hl = size - this.remaining(buf, pos);
      }
      const end = pos + size;
      if (end > n) break;
      if (this.state === S_READY) this.onPacket(buf[pos] as number, buf, pos + hl, end);
      else this.onHandshake(buf.subarray(pos, end));
      pos = end;
    }
    if (pos < n) this.tail = Buffer.from(buf.subarray(pos, n));
    if (this.state === S_READY) this.afterRead();
  }

  /** The remaining length of the packet at `pos` (its header is known to be complete). */
  private remaining(buf: Buffer, pos: number): number {
    let len = 0;
    let mul = 1;
    for (let i = 1; i <= 4; i++) {
      const x = buf[pos + i] as number;
      len += (x & 0x7f) * mul;
      if (x < 0x80) break;
      mul *= 128;
    }
    return len;
  }

  /** Completes the packet split across reads; returns where the rest of `buf` starts, -1 if all of it was used. */
  private finishTail(n: number, buf: Buffer): number {
    let t = this.tail as Buffer;
    let pos = 0;
    let size = packetSize(t, 0, t.length);
    if (size === -1) {
      pos = Math.min(n, 5);
      t = Buffer.concat([t, buf.subarray(0, pos)]);
      size = packetSize(t, 0, t.length);
      if (size === -1) {
        this.tail = t;
        return -1;
      }
    }
    if (size === -2) {
      this.fail('malformed remaining length');
      return -1;
    }
    let packet: Buffer;
    if (t.length >= size) {
      pos -= t.length - size;
      packet = t.subarray(0, size);
    } else {
      const need = size - t.length;
      if (n - pos < need) {
        this.tail = Buffer.concat([t, buf.subarray(pos, n)]);
        return -1;
      }
      packet = Buffer.concat([t, buf.subarray(pos, pos + need)]);
      pos += need;
    }
    this.tail = undefined;
    const hl = size - this.remaining(packet, 0);
    if (this.state === S_READY) this.onPacket(packet[0] as number, packet, hl, size);
    else this.onHandshake(packet);
    return pos;
  }

  private onHandshake(packet: Buffer): void {
    const ctx = this.ctx;
    const o = ctx.options;
    const type = (packet[0] as number) >> 4;
    if (type === 2 && this.state === S_WAIT_CONNACK) {
      const p = decodeOne(packet, o.mqtt);
      if (isDecodeError(p) || p.type !== 2) return this.fail('bad CONNACK');
      if (p.reasonCode !== 0) return this.fail(`CONNACK refused, code 0x${p.reasonCode.toString(16)}`);
      const rm = p.properties?.receiveMaximum;
      if (rm !== undefined) this.onReceiveMaximum(rm);
      if (this.filter !== undefined) {
        this.state = S_WAIT_SUBACK;
        this.write(subscribeBytes(o, this.filter));
      } else {
        this.state = S_READY;
        this.finishHandshake(true);
      }
      return;
    }
    if (type === 9 && this.state === S_WAIT_SUBACK) {
      const p = decodeOne(packet, o.mqtt);
      if (isDecodeError(p) || p.type !== 9) return this.fail('bad SUBACK');
      const code = p.reasonCodes[0] ?? 0x80;
      if (code >= 0x80) return this.fail(`SUBACK refused, code 0x${code.toString(16)}`);
      this.state = S_READY;
      if (o.offlineSubs) {
        // The session stays behind; the connection is done once the broker closes it.
        this.offlineDone = true;
        this.socket?.end(DISCONNECT);
        return;
      }
      this.finishHandshake(true);
      return;
    }
    if (type === 13) return; // PINGRESP
    this.fail(`unexpected packet type ${type} during the handshake`);
  }

  protected fail(why: string): void {
    this.ctx.counters.protocolErrors++;
    this.closed(why);
  }

  /** The socket's write buffer emptied after write() returned false. */
  protected onDrain(): void {}

  /** MQTT 5 CONNACK Receive Maximum. */
  protected onReceiveMaximum(_n: number): void {}

  /** A complete packet from a ready connection: first byte, and body [start, end) of `buf`. */
  protected abstract onPacket(first: number, buf: Buffer, start: number, end: number): void;

  /** Called after every read of a ready connection: write what the read produced. */
  protected abstract afterRead(): void;

  /** Appends a 4-byte acknowledgement to the thread's ack scratch. */
  protected ack(first: number, pid: number): void {
    const ctx = this.ctx;
    let l = ctx.ackLength;
    if (l + 4 > ctx.ackScratch.length) {
      this.flushAcks();
      l = 0;
    }
    const b = ctx.ackScratch;
    b[l] = first;
    b[l + 1] = 2;
    b[l + 2] = pid >> 8;
    b[l + 3] = pid & 0xff;
    ctx.ackLength = l + 4;
  }

  /** The acknowledgements of this read as one buffer, or undefined. */
  protected takeAcks(): Buffer | undefined {
    const ctx = this.ctx;
    const l = ctx.ackLength;
    if (l === 0) return undefined;
    ctx.ackLength = 0;
    const out = Buffer.allocUnsafe(l);
    ctx.ackScratch.copy(out, 0, 0, l);
    return out;
  }

  protected flushAcks(): void {
    const a = this.takeAcks();
    if (a !== undefined) this.write(a);
  }
}
