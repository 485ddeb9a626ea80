/**
 * What the fair scheduler (fair-scheduler.ts) works with: the connections and tenants it pauses,
 * its options, and what it reports of each interval.
 */
import type { Deque } from '../util/deque';

/** What the scheduler needs of a connection. */
export interface Pausable {
  pauseForFairness(): void;
  resumeFromFairness(): void;
  /** Chunks the scheduler holds for this connection, oldest first (undefined when none). */
  fairChunks: Buffer[] | undefined;
  /** Whether it is paused in its tenant's line of connections waiting to read (`fairWaiting`). */
  waitingToRead: boolean;
  /**
   * Whether something other than fair scheduling keeps the connection from reading (a subscriber
   * it feeds fell behind, a rate limit, a pending decision): its held chunks wait too. The
   * connection calls `FairScheduler.unblocked` when that ends.
   */
  readonly inputBlocked: boolean;
  /**
   * Its session: while deliveries to it are queued or in flight it never waits in line, since its
   * acknowledgements are what they (and the publishers behind them) wait for.
   */
  readonly session: { readonly pendingCount: number } | undefined;
  readonly closed: boolean;
  /** Handles a chunk the scheduler held. */
  consumeHeld(chunk: Buffer): void;
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
  /** Inbound bytes in this turn of the event loop, and whether it is paused for this turn and the next. */
  turnBytes: number;
  /** Time spent on its input in this turn (ms). */
  turnMs: number;
  turnPaused: boolean;
  /** Whether it used only a small part of the loop in the last interval while slices applied. */
  fairLight: boolean;
  /** Its connections with held chunks, in the order they are served (created when first needed). */
  fairHeld: Deque<Pausable> | undefined;
  /** Bytes held for its connections. */
  fairHeldBytes: number;
  /** Its connections paused until less is held (see read-line.ts), in the order they read again. */
  fairWaiting: Deque<Pausable> | undefined;
  /** Waiting connections to resume at the end of a turn in which it had room (doubles each such turn). */
  fairAdmit: number;
  /** Connections it let read from the line in this interval (they keep their turn when the others are sent to wait). */
  fairReading: Pausable[] | undefined;
  /** Whether its reading connections were sent to wait in this interval (a walk over all of them: once at most). */
  fairSwept: boolean;
  readonly connections: Set<Pausable>;
  readonly settings: { fairnessWeight: number };
}

export interface FairSchedulerOptions {
  intervalMs: number;
  /** Event-loop utilization above which the broker counts as saturated (shares apply). */
  targetUtilization: number;
  /** Event-loop utilization above which turn slices apply. */
  sliceUtilization: number;
  /** Work a tenant may bring into one turn of the event loop while slices apply (ms). */
  sliceMs: number;
  /** The same for the only active tenant of a busy loop (ms). */
  soloSliceMs: number;
}

/** One interval as the scheduler measured it (see background/placement.ts). */
export interface IntervalLoad {
  /** Event-loop utilization in the interval (0..1). */
  elu: number;
  elapsedMs: number;
  /** Inbound bytes per millisecond the loop handles when fully busy (estimate; 0 before any load). */
  capacityPerMs: number;
  /** Tenants that sent something within the last half second. */
  active: number;
  /** Inbound bytes of each tenant that sent some in the interval. */
  bytes: Map<string, number>;
}
