/**
 * The connections of one thread and their phases: connect (with bounded concurrency), run (fixed
 * rate ticks or unlimited pacing), drain, finish. The orchestrator (run.ts) drives one engine per
 * thread, directly or through a worker, with the same five calls.
 */
import { makeClock } from './clock';
import { Conn, S_READY } from './conn';
import { Context, PHASE_DONE, PHASE_DRAIN, PHASE_RUN, type Counters } from './context';
import type { HistogramSnapshot } from './histogram';
import { IdleConn } from './idle';
import type { BenchOptions } from './options';
import { countOf, makePlan, shareOf } from './plan';
import { Publisher } from './publisher';
import { Subscriber } from './subscriber';

export interface RunTimes {
  t0: number;
  measureStart: number;
  end: number;
}

export interface ConnectResult {
  attempted: number;
  ok: number;
  failed: number;
  firstNs: number;
  lastNs: number;
}

export interface Progress {
  /** Acknowledgements, ping confirmations and bytes still owed to or by our publishers. */
  pending: number;
  /** Sequence numbers used by this engine's publishers, by publisher index. */
  pubIndex: number[];
  pubSeq: number[];
  /** New (not duplicate) deliveries so far. */
  unique: number;
  received: number;
  acked: number;
  sent: number;
  lastRxNs: number;
  /** Every publisher of this engine reached its --count. */
  pubsDone: boolean;
  lastBuildNs: number;
}

export type CounterValues = { [K in keyof Counters]: number };

export interface EngineResult {
  counters: CounterValues;
  latency: HistogramSnapshot;
  connectLatency: HistogramSnapshot;
  pubIndex: number[];
  pubSeq: number[];
  pubInflight: number[];
  pubSkipped: number[];
  subIndex: number[];
  subUnique: Float64Array[];
  subDups: Float64Array[];
  errors: string[];
}

export interface EngineInit {
  options: BenchOptions;
  worker: number;
  workers: number;
  epoch: bigint;
  magic: number;
}

export class Engine {
  readonly ctx: Context;
  readonly pubs: Publisher[] = [];
  readonly subs: Subscriber[] = [];
  readonly idle: IdleConn[] = [];
  private readonly all: Conn[];
  private timers: NodeJS.Timeout[] = [];
  private spinning = false;
  private busy = false;
  private readonly sleepCell = new Int32Array(new SharedArrayBuffer(4));

  constructor(init: EngineInit) {
    const o = init.options;
    const plan = makePlan(o);
    this.ctx = new Context(o, plan, makeClock(init.epoch), init.magic);
    const share = shareOf(o, init.worker, init.workers);
    const pre = o.clientIdPrefix;
    for (const j of share.subs) {
      this.subs.push(new Subscriber(this.ctx, j, `${pre}s${j}`, plan.subFilters[j] as string, plan.subMatches[j] ?? null));
    }
    for (const i of share.pubs) this.pubs.push(new Publisher(this.ctx, i, `${pre}p${i}`, plan.pubTopics[i] as string, countOf(o, i)));
    for (const k of share.idle) this.idle.push(new IdleConn(this.ctx, `${pre}i${k}`));
    this.all = [...this.subs, ...this.pubs, ...this.idle];
  }

  /** Opens every connection, `concurrency` at a time; resolves when all are ready or failed. */
  connect(concurrency: number): Promise<ConnectResult> {
    const ctx = this.ctx;
    const conns = this.all;
    const res: ConnectResult = { attempted: 0, ok: 0, failed: 0, firstNs: 0, lastNs: 0 };
    return new Promise((resolve) => {
      let next = 0;
      let outstanding = 0;
      let finished = false;
      const timeout = setTimeout(() => {
        for (const c of conns) if (c.state !== S_READY && c.isOpen) c.destroy();
        finish();
      }, ctx.options.connectTimeout * 1000);
      const finish = (): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timeout);
        res.failed = res.attempted - res.ok;
        resolve(res);
      };
      const launch = (): void => {
        while (outstanding < concurrency && next < conns.length && !finished) {
          const c = conns[next++] as Conn;
          outstanding++;
          res.attempted++;
          if (res.firstNs === 0) res.firstNs = ctx.now();
          c.open((ok) => {
            outstanding--;
            if (ok) {
              res.ok++;
              res.lastNs = ctx.now();
            }
            if (next < conns.length) launch();
            else if (outstanding === 0) finish();
          });
        }
        if (conns.length === 0) finish();
      };
      launch();
    });
  }

  /** Schedules the run: publishing from t0 to end (shared-clock nanoseconds). */
  start(t: RunTimes): void {
    const ctx = this.ctx;
    const o = ctx.options;
    ctx.t0 = t.t0;
    ctx.measureStart = t.measureStart;
    ctx.end = t.end;
    const msUntil = (ns: number): number => Math.max(0, (ns - ctx.now()) / 1e6);
    this.timers.push(
      setTimeout(() => {
        ctx.phase = PHASE_RUN;
        const now = ctx.now();
        ctx.lastNow = now;
        if (o.idle > 0 || this.pubs.length === 0) return;
        if (o.rate > 0) this.timers.push(setInterval(() => this.tick(), 1));
        else for (const p of this.pubs) p.kick(now);
      }, msUntil(t.t0)),
    );
    this.timers.push(setTimeout(() => this.stopPublishing(), msUntil(t.end)));
    this.timers.push(setInterval(() => this.keepalive(), 1000));
    if (o.coalesceUs > 0 && o.idle === 0) {
      let prev = 0;
      let prevT = ctx.now();
      this.timers.push(
        setInterval(() => {
          const now = ctx.now();
          const rx = ctx.counters.received;
          const rate = ((rx - prev) * 1e9) / Math.max(1, now - prevT);
          prev = rx;
          prevT = now;
          this.busy = rate >= o.coalesceAbove || (o.rate === 0 && ctx.phase === PHASE_RUN);
          if (this.busy && !this.spinning && ctx.phase !== PHASE_DONE) this.spin();
        }, 5),
      );
    }
  }

  /**
   * While busy, sleep a little on every event-loop turn, so that each turn reads and writes more
   * bytes per system call and callback (as mqttload's --coalesce-us does).
   */
  private spin(): void {
    this.spinning = true;
    const us = this.ctx.options.coalesceUs;
    const loop = (): void => {
      if (!this.busy || this.ctx.phase === PHASE_DONE) {
        this.spinning = false;
        return;
      }
      Atomics.wait(this.sleepCell, 0, 0, us / 1000);
      setImmediate(loop);
    };
    setImmediate(loop);
  }

  private tick(): void {
    const ctx = this.ctx;
    const o = ctx.options;
    const now = ctx.now();
    ctx.lastNow = now;
    if (ctx.phase !== PHASE_RUN || now >= ctx.end) return;
    const perPub = o.rate / o.pubs;
    const elapsed = (now - ctx.t0) / 1e9;
    for (const p of this.pubs) {
      const due = Math.min(p.limit, Math.floor(elapsed * perPub + p.phaseOffset));
      if (due > p.seq) p.fillDue(now, due);
    }
  }

  private keepalive(): void {
    const ctx = this.ctx;
    const ka = ctx.options.keepalive;
    if (ka === 0) return;
    const now = ctx.now();
    ctx.lastNow = now;
    const limit = ka * 0.5e9;
    for (const c of this.all) if (c.state === S_READY && now - c.lastTx > limit) c.ping();
  }

  /** Ends publishing now; with `at` (shared-clock ns) the measured window also ends there (stopped early). */
  stopPublishing(at?: number): void {
    if (at !== undefined && at < this.ctx.end) this.ctx.end = at;
    if (this.ctx.phase === PHASE_RUN) this.ctx.phase = PHASE_DRAIN;
  }

  progress(): Progress {
    const ctx = this.ctx;
    let pending = 0;
    let done = true;
    let lastBuild = 0;
    const pubIndex: number[] = [];
    const pubSeq: number[] = [];
    for (const p of this.pubs) {
      pubIndex.push(p.index);
      pubSeq.push(p.seq);
      if (p.state === S_READY) {
        pending += p.inflight + p.pingsOut + p.pendingWrite;
        if (!p.done) done = false;
      }
      if (p.lastBuildNs > lastBuild) lastBuild = p.lastBuildNs;
    }
    let unique = 0;
    for (const s of this.subs) for (let i = 0; i < s.unique.length; i++) unique += s.unique[i] as number;
    const c = ctx.counters;
    return {
      pending,
      pubIndex,
      pubSeq,
      unique,
      received: c.received,
      acked: c.acked,
      sent: c.sent,
      lastRxNs: c.lastRxNs,
      pubsDone: this.pubs.length > 0 && done,
      lastBuildNs: lastBuild,
    };
  }

  /** Stops everything, disconnects politely, and returns the counts. */
  async finish(): Promise<EngineResult> {
    const ctx = this.ctx;
    ctx.phase = PHASE_DONE;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    const closing: Promise<void>[] = [];
    for (const c of this.all) {
      const s = c.socket;
      if (s === undefined || !c.isOpen) continue;
      closing.push(new Promise((resolve) => s.once('close', () => resolve())));
      c.disconnect();
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(closing), new Promise((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    for (const c of this.all) c.destroy();
    const counters = { ...ctx.counters };
    return {
      counters,
      latency: ctx.latency.snapshot(),
      connectLatency: ctx.connectLatency.snapshot(),
      pubIndex: this.pubs.map((p) => p.index),
      pubSeq: this.pubs.map((p) => p.seq),
      pubInflight: this.pubs.map((p) => p.inflight),
      pubSkipped: this.pubs.map((p) => p.skipped),
      subIndex: this.subs.map((s) => s.index),
      subUnique: this.subs.map((s) => s.unique),
      subDups: this.subs.map((s) => s.dups),
      errors: ctx.errors,
    };
  }
}
