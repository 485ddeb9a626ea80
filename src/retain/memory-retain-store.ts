/** Retained messages held in memory only (lost at restart): tests and `storage: memory`. */
import type { Message } from '../routing/message';
import { RetainedIndex } from './retained-index';
import { retainedSize, type RetainStore, type RetainUsage } from './retain-store';

interface TenantRetained {
  index: RetainedIndex<Message>;
  bytes: number;
  /** When `sweepTenant` last walked this tenant's messages (ms). */
  sweptAt: number;
}

/** How often one tenant's retained messages may be walked for expired ones outside the periodic sweep. */
const TENANT_SWEEP_MS = 1000;

export class MemoryRetainStore implements RetainStore {
  protected readonly tenants = new Map<string, TenantRetained>();

  set(tenantId: string, msg: Message): Promise<void> | undefined {
    this.apply(tenantId, msg);
    return undefined;
  }

  /** Applies a change in memory; durable stores call this and persist. */
  protected apply(tenantId: string, msg: Message): void {
    let t = this.tenants.get(tenantId);
    if (msg.payload.length === 0) {
      if (!t) return;
      const old = t.index.delete(msg.topic);
      if (old) t.bytes -= retainedSize(old);
      if (t.index.size === 0) this.tenants.delete(tenantId);
      return;
    }
    if (!t) {
      t = { index: new RetainedIndex(), bytes: 0, sweptAt: 0 };
      this.tenants.set(tenantId, t);
    }
    msg.own();
    const old = t.index.set(msg.topic, msg);
    if (old) t.bytes -= retainedSize(old);
    t.bytes += retainedSize(msg);
  }

  get(tenantId: string, topic: string, now: number): Message | undefined {
    const msg = this.tenants.get(tenantId)?.index.get(topic);
    return msg && !msg.isExpired(now) ? msg : undefined;
  }

  match(tenantId: string, filter: string, limit: number, now: number): Message[] {
    const t = this.tenants.get(tenantId);
    if (!t) return [];
    const found = t.index.match(filter, limit);
    if (!found.some((m) => m.isExpired(now))) return found;
    if (found.length < limit) return found.filter((m) => !m.isExpired(now));
    // Expired messages took places of the `limit` that live ones may need: remove the tenant's, then match again.
    this.sweepExpired(tenantId, now);
    return this.tenants.get(tenantId)?.index.match(filter, limit) ?? [];
  }

  usage(tenantId: string): RetainUsage {
    const t = this.tenants.get(tenantId);
    return { topics: t?.index.size ?? 0, bytes: t?.bytes ?? 0 };
  }

  list(tenantId: string, offset: number, limit: number, now: number): Message[] {
    const t = this.tenants.get(tenantId);
    if (!t) return [];
    const out: Message[] = [];
    let skipped = 0;
    for (const [, msg] of t.index.entries()) {
      if (msg.isExpired(now)) continue;
      if (skipped++ < offset) continue;
      out.push(msg);
      if (out.length >= limit) break;
    }
    return out;
  }

  tenantIds(): string[] {
    return [...this.tenants.keys()];
  }

  sweep(now: number): number {
    let removed = 0;
    for (const tenantId of [...this.tenants.keys()]) removed += this.sweepExpired(tenantId, now);
    return removed;
  }

  sweepTenant(tenantId: string, now: number): number {
    const t = this.tenants.get(tenantId);
    if (!t || now - t.sweptAt < TENANT_SWEEP_MS) return 0;
    t.sweptAt = now;
    return this.sweepExpired(tenantId, now);
  }

  private sweepExpired(tenantId: string, now: number): number {
    const t = this.tenants.get(tenantId);
    if (!t) return 0;
    const expired: string[] = [];
    for (const [topic, msg] of t.index.entries()) if (msg.isExpired(now)) expired.push(topic);
    for (const topic of expired) {
      const old = t.index.delete(topic);
      if (old) t.bytes -= retainedSize(old);
      this.forget(tenantId, topic);
    }
    if (t.index.size === 0) this.tenants.delete(tenantId);
    return expired.length;
  }

  /** A retained message was removed by the sweep: durable stores delete it too. */
  protected forget(_tenantId: string, _topic: string): void {}

  async close(): Promise<void> {}
}
