/**
 * Tenants by id, created on first use. Idle tenants (no session, no connection) are dropped so
 * that an unbounded number of tenant ids cannot grow memory.
 */
import { Tenant, type TenantServices } from './tenant';

export class TenantRegistry {
  private readonly tenants = new Map<string, Tenant>();

  constructor(private readonly services: TenantServices) {}

  get(id: string): Tenant {
    let t = this.tenants.get(id);
    if (!t) {
      t = new Tenant(id, this.services);
      this.tenants.set(id, t);
    }
    return t;
  }

  find(id: string): Tenant | undefined {
    return this.tenants.get(id);
  }

  /** Forgets a tenant once nothing of it is left. */
  release(t: Tenant): void {
    if (t.idle && t.subscriptions.index.size === 0 && this.tenants.get(t.id) === t) this.tenants.delete(t.id);
  }

  values(): IterableIterator<Tenant> {
    return this.tenants.values();
  }

  get size(): number {
    return this.tenants.size;
  }
}
