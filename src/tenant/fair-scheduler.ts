/**
 * Fair sharing of the broker between tenants under load.
 *
 * Every interval the scheduler measures how busy the event loop was (event-loop utilization) and
 * how many inbound bytes each tenant brought. Two mechanisms follow from that:
 *
 * - Turn slices, for latency: once the loop is busy (utilization above `sliceUtilization`), a
 *   tenant may bring at most `sliceMs` of work into one turn of the event loop. Past it, its
 *   sockets are paused, its batched writes go out, and it reads again only two turns later: in
 *   between, one whole turn serves everyone else, so a quiet tenant's message waits behind at most
 *   one slice of a flood. Tenants that use a small part of the loop ("light" tenants) have their
 *   deliveries written as soon as their packets are handled instead of at the end of the turn.
 *   A busy loop's only active tenant gets longer slices (`soloSliceMs`): a tenant that starts or
 *   resumes sending must not find the loop taking whole megabytes of a lone flood in one turn.
 * - Shares, for throughput, only while more than one tenant is active: while the loop is saturated
 *   (utilization above `targetUtilization`),
 *   the bytes the loop can take per interval (estimated from what it just did) are shared among the
 *   active tenants by weight, max-min fair: a tenant that needs less than its share keeps what it
 *   needs and the rest goes to the others. A tenant that uses up its allowance has every one of its
 *   sockets paused until the next interval.
 *
 * Pausing is TCP backpressure: nothing is lost, the flooding tenant just slows down, and a tenant
 * within its share is never paused — so it keeps its latency. What a sliced tenant's connections
 * read while it waits for its turn is held here, bounded by a line of connections waiting to read
 * (read-line.ts).
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { flushWrites } from '../transport/socket-writer';
import { Deque } from '../util/deque';
import { ReadLine } from './read-line';

/** How long a tenant counts as competing after it last sent something (ms). */
const RECENT_MS = 500;

/**
 * The smallest slice (bytes), whatever the estimate of the loop's capacity says: a loop busy with
 * little traffic (handshakes, other work) would otherwise estimate tiny slices and crawl.
 */
const MIN_SLICE_BYTES = 16 * 1024;

/** Part of the loop's capacity below which a tenant counts as light (its writes go out at once). */
const LIGHT_SHARE = 0.1;

import type { FairSchedulerOptions, FairTenant, IntervalLoad, Pausable } from './fair-types';

export type { FairSchedulerOptions, FairTenant, IntervalLoad, Pausable } from './fair-types';

export class FairScheduler {
  /** Told about every interval, when set. */
  observer: ((load: IntervalLoad) => void) | undefined;

  private timer: NodeJS.Timeout | undefined;
  private last: EventLoopUtilization = performance.eventLoopUtilization();
  private readonly seen = new Set<FairTenant>();
  /** Tenants with inbound bytes recently, and when they last had some. */
  private readonly recent = new Map<FairTenant, number>();
  /** Inbound bytes per millisecond the loop handles when fully busy (smoothed). */
  private perMs = 0;
  private lastTick = performance.now();
  /** Enforcement goes on until then after the loop was last seen saturated. */
  private holdUntil = 0;
  /** Tenants with a finite allowance, to reset when enforcement stops. */
  private limited: FairTenant[] = [];
  /** Bytes one tenant may bring into one turn (Infinity while slices do not apply). */
  private turnLimit = Infinity;
  /** Time one tenant may spend in one turn while slices apply (ms). */
  private turnMsLimit = Infinity;
  /** Slices apply until then after the loop was last seen busy. */
  private sliceUntil = 0;
  /** Connections of sliced tenants that wait to read while much of their input is held. */
  readonly line = new ReadLine(() => this.scheduleTurnEnd());
  /** Tenants marked light in the last interval. */
  private light: FairTenant[] = [];
  /** Paused in this turn (resumed two turns on), and paused in the last one (resumed next turn). */
  private turnPausedTenants: FairTenant[] = [];
  private resumingTenants: FairTenant[] = [];
  private turnEndScheduled = false;
  /** Intervals in which some tenant was paused (for metrics and tests). */
  enforcedIntervals = 0;
  /** Times a tenant was paused. */
  pauses = 0;

  constructor(private readonly options: FairSchedulerOptions = { intervalMs: 20, targetUtilization: 0.85, sliceUtilization: 0.5, sliceMs: 0.25, soloSliceMs: 1 }) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.turnLimit = Infinity;
    this.turnMsLimit = Infinity;
    for (const t of this.limited) t.fairAllowance = Infinity;
    this.limited = [];
    for (const t of this.light) t.fairLight = false;
    this.light = [];
    const tenants = new Set([...this.seen, ...this.turnPausedTenants, ...this.resumingTenants, ...this.line.withLine()]);
    this.turnPausedTenants = [];
    this.resumingTenants = [];
    for (const t of tenants) {
      t.turnPaused = false;
      t.turnBytes = 0;
      t.turnMs = 0;
      if (t.fairPaused) {
        t.fairPaused = false;
        for (const c of t.connections) if (c.fairChunks === undefined) c.resumeFromFairness();
      }
      // Held chunks are handled now, blocked or not: nothing read is ever dropped.
      const conns = t.fairHeld;
      t.fairHeld = undefined;
      t.fairHeldBytes = 0;
      if (conns !== undefined) for (const conn of conns) {
        const chunks = conn.fairChunks ?? [];
        conn.fairChunks = undefined;
        if (!conn.closed) for (const chunk of chunks) conn.consumeHeld(chunk);
        conn.resumeFromFairness();
      }
      // Every connection in line reads again (none joins one now: nothing is sliced any more).
      this.line.release(t, Infinity);
    }
  }

  /**
   * A connection with held chunks may read again as far as everything but fair scheduling is
   * concerned: its chunks are handled at the end of this turn, unless a slice holds the tenant.
   */
  unblocked(tenant: FairTenant): void {
    if (tenant.fairHeld !== undefined && !tenant.turnPaused && !tenant.fairPaused) this.handleSoon(tenant);
  }

  private scheduleTurnEnd(): void {
    if (this.turnEndScheduled) return;
    this.turnEndScheduled = true;
    setImmediate(this.endTurn);
  }

  /** Handles a tenant's held chunks at the end of this turn (it counts as paused until then). */
  private handleSoon(tenant: FairTenant): void {
    tenant.turnPaused = true;
    this.resumingTenants.push(tenant);
    this.scheduleTurnEnd();
  }

  /**
   * Called for every chunk a connection reads. Returns what to handle now: the chunk, the part of
   * it that fits in its tenant's slice of this turn, or nothing. The scheduler holds the rest for a
   * later turn, and the connection is paused until it has been handled.
   */
  admit(tenant: FairTenant, conn: Pausable, chunk: Buffer): Buffer | undefined {
    if (conn.fairChunks !== undefined) {
      // Behind chunks of the same connection already held: keeps their order.
      conn.fairChunks.push(chunk);
      tenant.fairHeldBytes += chunk.length;
      return undefined;
    }
    if (tenant.fairLight) {
      // A light tenant is never sliced.
      this.account(tenant, chunk.length);
      return chunk;
    }
    if (tenant.turnPaused) {
      this.hold(tenant, conn, chunk);
      return undefined;
    }
    // At least a byte: a slice that shrank at the interval's end still lets the tenant move.
    const room = Math.max(1, Math.ceil(this.turnLimit - tenant.turnBytes));
    if (chunk.length > room) {
      this.hold(tenant, conn, chunk.subarray(room));
      chunk = chunk.subarray(0, room);
    }
    this.account(tenant, chunk.length);
    return chunk;
  }

  /**
   * Holds input a connection left undecoded (it yielded to backpressure) ahead of anything held for
   * it: handled once the connection is unblocked and its tenant's turn comes.
   */
  holdFirst(tenant: FairTenant, conn: Pausable, rest: Buffer): void {
    if (conn.fairChunks === undefined) {
      this.hold(tenant, conn, rest);
      return;
    }
    conn.fairChunks.unshift(rest);
    tenant.fairHeldBytes += rest.length;
  }

  /**
   * Holds the first chunk of a connection: it stops reading until its chunks are handled. Once much
   * is held for the tenant, its other connections still reading stop too and wait in line.
   */
  private hold(tenant: FairTenant, conn: Pausable, chunk: Buffer): void {
    conn.fairChunks = [chunk];
    conn.pauseForFairness();
    (tenant.fairHeld ??= new Deque()).push(conn);
    tenant.fairHeldBytes += chunk.length;
    this.line.held(tenant, this.turnLimit !== Infinity);
  }

  /** Counts bytes a tenant brings into this interval and this turn; pauses it past its share or slice. */
  private account(tenant: FairTenant, bytes: number): void {
    if (tenant.fairBytes === 0) this.seen.add(tenant);
    tenant.fairBytes += bytes;
    if (tenant.fairPaused) return;
    if (tenant.fairBytes > tenant.fairAllowance) {
      tenant.fairPaused = true;
      this.pauses++;
      for (const c of tenant.connections) c.pauseForFairness();
      return;
    }
    // The slice of this turn: a flood is handled a little per turn, between everyone else's messages.
    // Only the connections that bring more this turn are paused (see admit), not all of them.
    tenant.turnBytes += bytes;
    if (!tenant.turnPaused && tenant.turnBytes >= this.turnLimit) this.pauseTurn(tenant);
  }

  /**
   * Time a connection of `tenant` just spent on its input (ms). Bytes are only an estimate of work
   * (and garbage collection lands on whoever allocates): past `sliceMs` of real time in a turn, a
   * sliced tenant waits for its next turn too.
   */
  spent(tenant: FairTenant, ms: number): void {
    tenant.turnMs += ms;
    if (!tenant.turnPaused && tenant.turnMs >= this.turnMsLimit) this.pauseTurn(tenant);
  }

  private pauseTurn(tenant: FairTenant): void {
    tenant.turnPaused = true;
    this.turnPausedTenants.push(tenant);
    this.scheduleTurnEnd();
  }

  /**
   * Handles held chunks of a tenant until its slice or share is used up again: a chunk (or what fits
   * of it) per connection in turn. A connection blocked for another reason keeps its chunks (they
   * would bypass that reason) and waits for `unblocked`; one that closed drops them.
   */
  private handleHeld(t: FairTenant): void {
    const conns = t.fairHeld;
    if (conns === undefined) return;
    let skipped = 0;
    while (conns.length > skipped && !t.turnPaused && !t.fairPaused) {
      const conn = conns.shift()!;
      const chunks = conn.fairChunks;
      if (chunks === undefined || conn.closed) {
        if (chunks !== undefined) for (const c of chunks) t.fairHeldBytes -= c.length;
        conn.fairChunks = undefined;
        continue;
      }
      if (conn.inputBlocked) {
        conns.push(conn);
        skipped++;
        continue;
      }
      skipped = 0;
      let chunk = chunks[0]!;
      const room = Math.max(1, Math.ceil(this.turnLimit - t.turnBytes));
      if (chunk.length > room) {
        // Only what fits in the slice; the rest stays first in line.
        chunks[0] = chunk.subarray(room);
        chunk = chunk.subarray(0, room);
      } else {
        chunks.shift();
      }
      t.fairHeldBytes -= chunk.length;
      this.account(t, chunk.length);
      const started = performance.now();
      conn.consumeHeld(chunk);
      this.spent(t, performance.now() - started);
      // (consuming may have put undecoded input back in front: holdFirst)
      if (chunks.length > 0) {
        conns.push(conn);
      } else {
        conn.fairChunks = undefined;
        if (!t.fairPaused) this.line.handled(t, conn);
      }
    }
    if (conns.length === 0) {
      t.fairHeld = undefined;
      t.fairHeldBytes = 0;
    }
    if (!t.fairPaused) this.line.refill(t);
  }

  /** A connection closed: what is held for it no longer counts (its entries are passed over). */
  forget(t: FairTenant, conn: Pausable): void {
    const chunks = conn.fairChunks;
    if (chunks !== undefined) {
      for (const c of chunks) t.fairHeldBytes -= c.length;
      conn.fairChunks = undefined;
      // Less held: the line may move at the end of this turn.
      if (t.fairWaiting !== undefined) this.scheduleTurnEnd();
    }
    conn.waitingToRead = false;
  }

  /**
   * A turn of the event loop is over (this runs in its check phase). What was batched goes out now;
   * tenants paused in the turn before resume, those paused in this one wait a turn: a setImmediate
   * queued from here runs in the next turn's check phase, after that turn's reads of everyone else.
   */
  private readonly endTurn = (): void => {
    this.turnEndScheduled = false;
    flushWrites();
    const resuming = this.resumingTenants;
    this.resumingTenants = this.turnPausedTenants;
    this.turnPausedTenants = resuming.length > 0 ? [] : resuming;
    for (const t of resuming) {
      t.turnPaused = false;
      t.turnBytes = 0;
      t.turnMs = 0;
      if (!t.fairPaused) this.handleHeld(t);
    }
    // (a tenant paused over its share has its line handled when the interval ends, see resume)
    const waiting = this.line.admit();
    if (this.resumingTenants.length > 0 || waiting) this.scheduleTurnEnd();
  };

  /** One interval ends: measure, decide the shares of the next one, resume everyone. */
  tick(): void {
    const nowElu = performance.eventLoopUtilization();
    const elu = performance.eventLoopUtilization(nowElu, this.last).utilization;
    this.last = nowElu;
    const nowMs = performance.now();
    const elapsed = Math.max(1, nowMs - this.lastTick);
    this.lastTick = nowMs;
    let total = 0;
    let paused = false;
    for (const t of this.seen) {
      if (t.fairBytes > 0) {
        total += t.fairBytes;
        this.recent.set(t, nowMs);
      }
      if (t.fairPaused) paused = true;
      this.resume(t);
    }
    if (paused) this.enforcedIntervals++;
    const target = this.options.targetUtilization;
    if (total > 0 && elu > 0.05) {
      // Bytes per millisecond the loop handles when fully busy, smoothed; intervals can run long
      // under load, so the estimate is per millisecond of real time.
      const perMs = total / (elu * elapsed);
      this.perMs = this.perMs === 0 ? perMs : this.perMs * 0.7 + perMs * 0.3;
    }
    // Tenants active within the last half second compete, even if quiet in this very interval.
    const active: FairTenant[] = [];
    let weights = 0;
    for (const [t, at] of this.recent) {
      if (nowMs - at > RECENT_MS) {
        this.recent.delete(t);
        continue;
      }
      active.push(t);
      weights += t.settings.fairnessWeight;
    }
    if (this.observer !== undefined) {
      const bytes = new Map<string, number>();
      for (const t of this.seen) if (t.fairBytes > 0) bytes.set(t.id, t.fairBytes);
      this.observer({ elu, elapsedMs: elapsed, capacityPerMs: this.perMs, active: active.length, bytes });
    }
    for (const t of this.limited) t.fairAllowance = Infinity;
    this.limited = [];
    const saturated = elu >= target || (paused && elu >= target * 0.7);
    if (active.length >= 2 && saturated) {
      this.holdUntil = nowMs + RECENT_MS;
    }
    // Keep enforcing for a while after saturation, so a paused flood does not return all at once.
    if (active.length >= 2 && nowMs < this.holdUntil) this.share(active, weights);
    this.slice(active, elu, elapsed, nowMs);
    this.line.intervalEnd(this.turnLimit !== Infinity);
    for (const t of this.seen) {
      t.fairBytes = 0;
      t.fairSwept = false;
      t.fairReading = undefined;
    }
    this.seen.clear();
  }

  /** Turn slices and light tenants for the next interval. */
  private slice(active: FairTenant[], elu: number, elapsed: number, nowMs: number): void {
    for (const t of this.light) t.fairLight = false;
    this.light = [];
    // Once busy, slices stay on until the loop has been below the mark for a while: an interval in
    // which the flood happened to leave the loop a little idle must not let it through unsliced.
    if (active.length >= 1 && elu >= this.options.sliceUtilization) this.sliceUntil = nowMs + RECENT_MS;
    const slicing = active.length >= 1 && this.perMs > 0 && nowMs < this.sliceUntil;
    if (!slicing) {
      this.turnLimit = Infinity;
      this.turnMsLimit = Infinity;
      return;
    }
    // A lone tenant's slice is never the shorter one.
    const sliceMs = active.length >= 2 ? this.options.sliceMs : Math.max(this.options.soloSliceMs, this.options.sliceMs);
    this.turnLimit = Math.max(MIN_SLICE_BYTES, this.perMs * sliceMs);
    this.turnMsLimit = sliceMs;
    if (active.length < 2) return;
    const lightBytes = this.perMs * elapsed * LIGHT_SHARE;
    for (const t of active) {
      if (t.fairBytes < lightBytes) {
        t.fairLight = true;
        this.light.push(t);
      }
    }
  }

  /** Max-min fair allowances for the next interval from this interval's demand. */
  private share(active: FairTenant[], weights: number): void {
    const byDemand = active.sort((a, b) => a.fairBytes / a.settings.fairnessWeight - b.fairBytes / b.settings.fairnessWeight);
    let remaining = this.perMs * this.options.intervalMs * this.options.targetUtilization;
    let w = weights;
    for (const t of byDemand) {
      const weight = t.settings.fairnessWeight;
      const fair = (remaining * weight) / w;
      t.fairAllowance = Math.max(fair, 1);
      this.limited.push(t);
      if (t.fairBytes < fair) {
        remaining -= t.fairBytes;
        w -= weight;
      }
    }
  }

  private resume(t: FairTenant): void {
    t.turnBytes = 0;
    t.turnMs = 0;
    if (!t.fairPaused) return;
    t.fairPaused = false;
    // Sliced, its connections join the line and read again a few at a time; otherwise all at once.
    if (this.turnLimit !== Infinity) {
      this.line.joinAll(t);
    } else {
      for (const c of t.connections) if (c.fairChunks === undefined && !c.waitingToRead) c.resumeFromFairness();
      this.line.release(t, Infinity);
    }
    // Chunks held while it was over its share: handled at the end of this turn, unless a slice
    // already holds the tenant (then they wait for its turn).
    if (t.fairHeld !== undefined && !t.turnPaused) this.handleSoon(t);
  }
}
