/**
 * Tenants by id, created on first use. Idle tenants (no session, no connection) are dropped so
 * that an unbounded number of tenant ids cannot grow memory.
 *
 * A dropped tenant's rate windows (connects, subscribes, retained publishes... per second) outlive
 * it until their window has passed: a tenant created again within that window continues them, so a
 * client that connects one connection at a time, leaving the tenant idle in between, is counted
 * like any other. Only windows that still hold something are kept, and only until the end of their
 * window (at most a second), so this holds the tenants dropped within the last second at most.
 */
import { Tenant, type TenantServices } from './tenant';
import type { TenantRates } from './usage';

/** The rate windows of a dropped tenant, and when the last of their counts lapses. */
interface ParkedRates {
  readonly rates: TenantRates;
  readonly until: number;
}

export class TenantRegistry {
  private readonly tenants = new Map<string, Tenant>();
  /** Rate windows of dropped tenants by id, in the order they were dropped (which is that of `until`). */
  private readonly parked = new Map<string, ParkedRates>();

  constructor(private readonly services: TenantServices) {}

  get(id: string): Tenant {
    let t = this.tenants.get(id);
    if (!t) {
      t = new Tenant(id, this.services);
      this.tenants.set(id, t);
      if (this.parked.size > 0) this.unpark(t);
    }
    return t;
  }

  find(id: string): Tenant | undefined {
    return this.tenants.get(id);
  }

  /** Forgets a tenant once nothing of it is left but its rate windows, which are kept while they count. */
  release(t: Tenant): void {
    if (!t.idle || t.subscriptions.index.size !== 0 || this.tenants.get(t.id) !== t) return;
    this.tenants.delete(t.id);
    const now = this.services.now();
    this.sweep(now);
    const until = t.usage.ratesHeldUntil(now);
    if (until > now) {
      // Re-inserted at the end, to keep the order of `until`.
      this.parked.delete(t.id);
      this.parked.set(t.id, { rates: t.usage.rates, until });
    }
  }

  values(): IterableIterator<Tenant> {
    return this.tenants.values();
  }

  get size(): number {
    return this.tenants.size;
  }

  /** A tenant created again within the window of its predecessor continues its rate windows. */
  private unpark(t: Tenant): void {
    this.sweep(this.services.now());
    const parked = this.parked.get(t.id);
    if (parked === undefined) return;
    this.parked.delete(t.id);
    t.usage.resumeRates(parked.rates);
  }

  /** Forgets the rate windows that have lapsed (the oldest come first). */
  private sweep(now: number): void {
    for (const [id, parked] of this.parked) {
      if (parked.until > now) return;
      this.parked.delete(id);
    }
  }
}
