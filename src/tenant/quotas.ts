/**
 * Per-tenant quotas: the built-in throttler that enforces the configured limits, and the one place
 * the broker asks "may this tenant have more of X?" — through a throttler plugin when one is
 * configured (a failing plugin falls back to the failure policy). A refusal emits `quota.exceeded`.
 */
import type { PluginGuard } from '../plugins/guard';
import type { EventBus } from '../plugins/event-bus';
import type { ResourceThrottler, ResourceType } from '../plugins/types';
import type { Message } from '../routing/message';
import { retainedSize, type RetainStore } from '../retain/retain-store';
import type { TenantSettings } from './settings';
import type { Tenant } from './tenant';
import type { TenantRegistry } from './tenant-registry';

/** The setting that limits each resource. */
export const QUOTA_SETTING: Record<ResourceType, keyof TenantSettings> = {
  connections: 'maxConnections',
  connectRate: 'maxConnectsPerSecond',
  sessionMemory: 'maxSessionMemory',
  persistentSessions: 'maxPersistentSessions',
  persistentSessionBytes: 'maxPersistentSessionBytes',
  transientSubscriptions: 'maxTransientSubscriptions',
  persistentSubscriptions: 'maxPersistentSubscriptions',
  sharedSubscriptions: 'maxSharedSubscriptions',
  subscribeRate: 'maxSubscribesPerSecond',
  retainedTopics: 'maxRetainedTopics',
  retainedBytes: 'maxRetainedBytes',
  retainedPublishRate: 'maxRetainedPublishesPerSecond',
  retainedMatchRate: 'maxRetainedMatchesPerSecond',
  inboundBytesRate: 'maxInboundBytesPerSecond',
  fanoutBytesRate: 'maxFanoutBytesPerSecond',
};

/** Enforces the limits in each tenant's settings against its usage (0 is unlimited). */
export class BuiltinThrottler implements ResourceThrottler {
  constructor(
    private readonly tenants: TenantRegistry,
    private readonly retained: RetainStore,
    private readonly now: () => number,
  ) {}

  hasResource(tenantId: string, resource: ResourceType, amount = 1): boolean {
    const t = this.tenants.find(tenantId);
    if (!t) return true;
    const limit = t.settings[QUOTA_SETTING[resource]] as number;
    if (!limit) return true;
    return usedOf(t, resource, this.retained, this.now()) + amount <= limit;
  }
}

function usedOf(t: Tenant, resource: ResourceType, retained: RetainStore, now: number): number {
  const u = t.usage;
  switch (resource) {
    case 'connections':
      return u.connections;
    case 'connectRate':
      return u.rates.connects.current(now);
    case 'sessionMemory':
      return u.sessionBytes;
    case 'persistentSessions':
      return u.persistentSessions;
    case 'persistentSessionBytes':
      return u.persistentSessionBytes;
    case 'transientSubscriptions':
      return u.transientSubscriptions;
    case 'persistentSubscriptions':
      return u.persistentSubscriptions;
    case 'sharedSubscriptions':
      return u.sharedSubscriptions;
    case 'subscribeRate':
      return u.rates.subscribes.current(now);
    case 'retainedTopics':
      return retained.usage(t.id).topics;
    case 'retainedBytes':
      return retained.usage(t.id).bytes;
    case 'retainedPublishRate':
      return u.rates.retainedPublishes.current(now);
    case 'retainedMatchRate':
      return u.rates.retainedMatches.current(now);
    case 'inboundBytesRate':
      return u.rates.inboundBytes.currentOver(now, t.settings.maxInboundBytesPerSecond);
    case 'fanoutBytesRate':
      return u.rates.fanoutBytes.currentOver(now, t.settings.maxFanoutBytesPerSecond);
  }
}

export class Quotas {
  constructor(
    private readonly throttler: ResourceThrottler,
    private readonly guard: PluginGuard,
    private readonly events: EventBus,
    private readonly onFailure: 'deny' | 'allow',
    /** Whether the throttler is a plugin (guarded) or the built-in one (trusted). */
    readonly plugin: boolean,
  ) {}

  /**
   * Whether `tenant` may have `amount` more of `resource` (bytes for the byte quotas, else 1); a
   * refusal is reported as an event. Nothing more (amount 0 or less) is always allowed.
   */
  allows(tenant: Tenant, resource: ResourceType, clientId?: string, amount = 1): boolean {
    if (amount <= 0) return true;
    let ok: boolean;
    if (this.plugin) {
      // Throttlers are synchronous (hot path): a promise counts as a failure of the plugin.
      const r = this.guard.callSync('throttler.hasResource', () => this.throttler.hasResource(tenant.id, resource, amount));
      ok = r.ok ? r.value !== false : this.onFailure === 'allow';
    } else {
      ok = this.throttler.hasResource(tenant.id, resource, amount);
    }
    if (!ok && this.events.enabled) {
      const limit = tenant.settings[QUOTA_SETTING[resource]] as number;
      this.events.emit({ type: 'quota.exceeded', tenantId: tenant.id, clientId, quota: resource, limit });
    }
    return ok;
  }
}

/**
 * Whether a retained publish of `msg` may be stored under the tenant's retained quotas (publishes
 * per second, topics, bytes), counting it in the publish rate. Deleting (empty payload) is always
 * allowed; replacing a topic's message asks only for the bytes it adds.
 */
export function mayRetain(quotas: Quotas, retained: RetainStore, tenant: Tenant, msg: Message, now: number): boolean {
  const clientId = msg.origin || undefined;
  if (!quotas.allows(tenant, 'retainedPublishRate', clientId)) return false;
  tenant.usage.rates.retainedPublishes.add(now);
  if (msg.payload.length === 0) return true;
  const size = retainedSize(msg);
  if (atRetainedQuota(retained, tenant, size)) retained.sweepTenant(tenant.id, now);
  const existing = retained.get(tenant.id, msg.topic, now);
  if (!existing && !quotas.allows(tenant, 'retainedTopics', clientId)) return false;
  return quotas.allows(tenant, 'retainedBytes', clientId, size - (existing ? retainedSize(existing) : 0));
}

/** Whether a retained message of `bytes` would reach the tenant's configured retained quotas. */
function atRetainedQuota(retained: RetainStore, tenant: Tenant, bytes: number): boolean {
  const s = tenant.settings;
  if (s.maxRetainedTopics === 0 && s.maxRetainedBytes === 0) return false;
  const used = retained.usage(tenant.id);
  return (s.maxRetainedTopics > 0 && used.topics >= s.maxRetainedTopics) || (s.maxRetainedBytes > 0 && used.bytes + bytes > s.maxRetainedBytes);
}
