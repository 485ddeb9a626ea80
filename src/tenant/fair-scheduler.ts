/**
 * Fair sharing of the broker between tenants under saturation.
 *
 * Every interval the scheduler measures how busy the event loop was (event-loop utilization) and
 * how many inbound bytes each tenant brought. While the loop is saturated and more than one tenant
 * is active, the bytes the loop can take per interval (estimated from what it just did) are shared
 * among the active tenants by weight, max-min fair: a tenant that needs less than its share keeps
 * what it needs and the rest goes to the others. A tenant that uses up its allowance has every one
 * of its sockets paused until the next interval. Within an interval, a tenant also gets at most a
 * slice of its allowance per turn of the event loop (about a millisecond of work): past it, its
 * sockets wait for the next turn, so the turn in which a quiet tenant's message arrives never holds
 * more than that slice of a flood. Pausing is TCP backpressure: nothing is lost, the flooding tenant
 * just slows down, and a tenant within its share is never paused — so it keeps its latency.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/** How long a tenant counts as competing after it last sent something (ms). */
const RECENT_MS = 500;

/** Work a tenant may bring into one turn of the event loop while shares are enforced (ms). */
const TURN_MS = 1;

/** What the scheduler needs of a connection. */
export interface Pausable {
  pauseForFairness(): void;
  resumeFromFairness(): void;
}

/** What the scheduler keeps per tenant. */
export interface FairTenant {
  readonly id: string;
  /** Inbound bytes this interval. */
  fairBytes: number;
  /** Bytes it may bring this interval before it is paused (Infinity when not enforcing). */
  fairAllowance: number;
  /** Whether its sockets are paused until the next interval. */
  fairPaused: boolean;
  /** Inbound bytes in this turn of the event loop, and whether it is paused until the next turn. */
  turnBytes: number;
  turnPaused: boolean;
  readonly connections: Set<Pausable>;
  readonly settings: { fairnessWeight: number };
}

export interface FairSchedulerOptions {
  intervalMs: number;
  /** Event-loop utilization above which the broker counts as saturated. */
  targetUtilization: number;
}

export class FairScheduler {
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
  private turnPausedTenants: FairTenant[] = [];
  private turnEndScheduled = false;
  /** Intervals in which some tenant was paused (for metrics and tests). */
  enforcedIntervals = 0;
  /** Times a tenant was paused. */
  pauses = 0;

  constructor(private readonly options: FairSchedulerOptions = { intervalMs: 20, targetUtilization: 0.85 }) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    for (const t of this.seen) this.resume(t);
  }

  /** Called for every chunk a connection reads. */
  onInbound(tenant: FairTenant, bytes: number): void {
    if (tenant.fairBytes === 0) this.seen.add(tenant);
    tenant.fairBytes += bytes;
    const allowance = tenant.fairAllowance;
    if (allowance === Infinity || tenant.fairPaused) return;
    if (tenant.fairBytes > allowance) {
      tenant.fairPaused = true;
      this.pauses++;
      if (!tenant.turnPaused) for (const c of tenant.connections) c.pauseForFairness();
      return;
    }
    // The slice of this turn: a flood is read a little per turn, between everyone else's messages.
    tenant.turnBytes += bytes;
    if (!tenant.turnPaused && tenant.turnBytes > (allowance * TURN_MS) / this.options.intervalMs) {
      tenant.turnPaused = true;
      this.turnPausedTenants.push(tenant);
      for (const c of tenant.connections) c.pauseForFairness();
      if (!this.turnEndScheduled) {
        this.turnEndScheduled = true;
        setImmediate(this.endTurn);
      }
    }
  }

  /** A turn of the event loop is over: tenants paused for this turn only may read again. */
  private readonly endTurn = (): void => {
    this.turnEndScheduled = false;
    const list = this.turnPausedTenants;
    this.turnPausedTenants = [];
    for (const t of list) {
      t.turnPaused = false;
      t.turnBytes = 0;
      if (!t.fairPaused) for (const c of t.connections) c.resumeFromFairness();
    }
  }

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
    for (const t of this.limited) t.fairAllowance = Infinity;
    this.limited = [];
    const saturated = elu >= target || (paused && elu >= target * 0.7);
    if (active.length >= 2 && saturated) {
      this.holdUntil = nowMs + RECENT_MS;
    }
    // Keep enforcing for a while after saturation, so a paused flood does not return all at once.
    if (active.length >= 2 && nowMs < this.holdUntil) this.share(active, weights);
    for (const t of this.seen) t.fairBytes = 0;
    this.seen.clear();
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
    if (!t.fairPaused) return;
    t.fairPaused = false;
    if (!t.turnPaused) for (const c of t.connections) c.resumeFromFairness();
  }
}
