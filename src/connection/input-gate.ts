/**
 * Why a connection is not reading its socket right now. Several reasons can hold it at once (packets
 * held behind an asynchronous decision, a rate limit, fair scheduling between tenants, a subscriber
 * that fell behind); the socket resumes only when the last one lets go. Pausing is TCP backpressure:
 * the client slows down, nothing is lost.
 */
import type { Transport } from '../transport/transport';

export const Hold = {
  /** Packets wait behind an asynchronous decision (authentication, authorization). */
  Packets: 1,
  /** A rate limit or quota (until the next window). */
  Throttle: 2,
  /** Fair scheduling between tenants. */
  Fairness: 4,
  /** A subscriber this connection publishes to fell behind. */
  Backpressure: 8,
  /** What the client sent behind CONNECT waits for the CONNACK (its tenant's limits apply then). */
  Connack: 16,
} as const;

/** Told when every hold but fair scheduling has let go. */
export interface GateListener {
  onInputUnblocked(): void;
}

export class InputGate {
  private holds = 0;
  private paused = false;
  /** The bound of each timed hold, by reason (cleared when the reason lets go first). */
  private timers: Map<number, NodeJS.Timeout> | undefined = undefined;

  constructor(
    private readonly transport: Transport,
    private readonly listener?: GateListener,
  ) {}

  holding(reason: number): boolean {
    return (this.holds & reason) !== 0;
  }

  /** Whether any reason holds the input (the socket is not being read). */
  get held(): boolean {
    return this.holds !== 0;
  }

  /** Whether a reason other than fair scheduling holds the input. */
  get blockedBeyondFairness(): boolean {
    return (this.holds & ~Hold.Fairness) !== 0;
  }

  hold(reason: number): void {
    this.holds |= reason;
    if (!this.paused) {
      this.paused = true;
      this.transport.pause();
    }
  }

  release(reason: number): void {
    const timer = this.timers?.get(reason);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.timers!.delete(reason);
    }
    const was = this.holds;
    this.holds &= ~reason;
    if (this.paused && this.holds === 0) {
      this.paused = false;
      this.transport.resume();
    }
    if ((was & ~Hold.Fairness) !== 0 && (this.holds & ~Hold.Fairness) === 0) this.listener?.onInputUnblocked();
  }

  /** Holds for `reason` at most `ms`: released then, if nothing released it before. */
  holdFor(reason: number, ms: number): void {
    if (this.holding(reason)) return;
    this.hold(reason);
    (this.timers ??= new Map()).set(
      reason,
      setTimeout(() => this.release(reason), ms),
    );
  }

  close(): void {
    if (this.timers) for (const t of this.timers.values()) clearTimeout(t);
    this.timers = undefined;
  }
}
