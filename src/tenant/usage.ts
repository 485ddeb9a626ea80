/**
 * Per-tenant usage counters. Gauges move up and down with the thing they count and must return to
 * zero when it is all gone; counters only grow.
 */
export class TenantUsage {
  // gauges
  connections = 0;
  sessions = 0;
  persistentSessions = 0;
  subscriptions = 0;
  sharedSubscriptions = 0;
  // counters
  connects = 0;
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  dropped = 0;

  snapshot(): Record<string, number> {
    return { ...(this as unknown as Record<string, number>) };
  }
}
