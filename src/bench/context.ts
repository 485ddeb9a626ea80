/**
 * What every connection of one engine (one thread) shares: options, plan, clock, counters, the
 * latency histogram, the read buffer and the scratch for acknowledgements.
 */
import type { NowNs } from './clock';
import { Histogram } from './histogram';
import type { BenchOptions } from './options';
import type { Plan } from './plan';

export class Counters {
  sent = 0;
  sentWindow = 0;
  skipped = 0;
  acked = 0;
  ackedWindow = 0;
  nacked = 0;
  unknownAcks = 0;
  received = 0;
  receivedWindow = 0;
  foreign = 0;
  unexpected = 0;
  duplicates = 0;
  protocolErrors = 0;
  pings = 0;
  closedAfterReady = 0;
  /** Connections that connected again after the broker closed them (--reconnect). */
  reconnects = 0;
  /** QoS 1/2 messages in flight on a connection the broker closed (--reconnect): never acknowledged. */
  abandoned = 0;
  behindMax = 0;
  firstRxNs = 0;
  lastRxNs = 0;
}

export const PHASE_CONNECT = 0;
export const PHASE_RUN = 1;
export const PHASE_DRAIN = 2;
export const PHASE_DONE = 3;

export class Context {
  readonly counters = new Counters();
  readonly latency = new Histogram();
  readonly connectLatency = new Histogram();
  /** One read buffer for every socket of the thread: reads are handled synchronously. */
  readonly readBuffer = Buffer.allocUnsafe(256 * 1024);
  /** Acknowledgements produced while handling one read, written once at its end. */
  readonly ackScratch = Buffer.allocUnsafe(64 * 1024);
  ackLength = 0;
  phase = PHASE_CONNECT;
  /** Shared-clock times of the run: publishing starts at t0, is measured from measureStart to end. */
  t0 = Infinity;
  measureStart = Infinity;
  end = Infinity;
  /** Latest clock reading (refreshed on every read and tick): cheap "now" for bookkeeping. */
  lastNow = 0;
  readonly errors: string[] = [];
  private pumpQueue: { kick(now: number): void }[] = [];
  private pumpScheduled = false;

  constructor(
    readonly options: BenchOptions,
    readonly plan: Plan,
    readonly now: NowNs,
    readonly magic: number,
  ) {}

  /** Kicks `p` again on the next event-loop turn (unpaced publishers whose socket still takes data). */
  schedulePump(p: { kick(now: number): void }): void {
    this.pumpQueue.push(p);
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      const q = this.pumpQueue;
      this.pumpQueue = [];
      const now = this.now();
      this.lastNow = now;
      for (const x of q) x.kick(now);
    });
  }

  error(msg: string): void {
    if (this.errors.length < 10) this.errors.push(msg);
  }
}
