/**
 * Per-tenant usage counters. Gauges move up and down with the thing they count and must return to
 * zero when it is all gone; counters only grow.
 */
import { RateWindow } from './rate-window';

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

  /** Gauges and counters as plain numbers (rates excluded). */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this)) if (typeof v === 'number') out[k] = v;
    return out;
  }
}
