/**
 * Per-tenant usage counters. Gauges move up and down with the thing they count and must return to
 * zero when it is all gone; counters only grow while the tenant is in memory (the registry drops a
 * tenant with nothing left, and only its rate windows are kept, until their second is over).
 */
import { RateWindow } from './rate-window';

/** The per-second windows of a tenant's rate quotas. */
export type TenantRates = TenantUsage['rates'];

export class TenantUsage {
  // gauges
  connections = 0;
  sessions = 0;
  persistentSessions = 0;
  subscriptions = 0;
  sharedSubscriptions = 0;
  /** Subscriptions held by transient / persistent sessions (shared memberships included). */
  transientSubscriptions = 0;
  persistentSubscriptions = 0;
  /** Bytes of messages held in memory for sessions (queued and in flight). */
  sessionBytes = 0;
  /** Of those, bytes held for persistent sessions (also in the durable store). */
  persistentSessionBytes = 0;
  // counters
  connects = 0;
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  dropped = 0;

  readonly rates = {
    connects: new RateWindow(),
    subscribes: new RateWindow(),
    retainedPublishes: new RateWindow(),
    retainedMatches: new RateWindow(),
    inboundBytes: new RateWindow(),
    fanoutBytes: new RateWindow(),
  };

  /** When the last count any rate window holds at `now` lapses, or 0 when they hold nothing. */
  ratesHeldUntil(now: number): number {
    let until = 0;
    for (const w of Object.values(this.rates)) until = Math.max(until, w.heldUntil(now));
    return until;
  }

  /** Continues the rate windows of an earlier runtime of the same tenant (see TenantRegistry). */
  resumeRates(from: TenantRates): void {
    for (const k of Object.keys(this.rates) as (keyof TenantRates)[]) this.rates[k].resume(from[k]);
  }

  /** Gauges and counters as plain numbers (rates excluded). */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this)) if (typeof v === 'number') out[k] = v;
    return out;
  }
}
