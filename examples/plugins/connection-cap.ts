/**
 * Example ResourceThrottler: caps concurrent connections per tenant with limits from its config,
 * independently of the tenants' `maxConnections` settings.
 *
 * A throttler only answers "may this tenant have one more?" (`hasResource`), so it must learn the
 * live counts elsewhere: this one is also an EventCollector and counts `client.connected` and
 * `client.disconnected`. Both config slots load the module; instances with the same `instance`
 * name are one object, so the collector feeds the throttler:
 *
 *   plugins:
 *     throttler:
 *       module: ./dist/examples/plugins/connection-cap.js   # relative to the config file's folder
 *       config: { instance: cap, default: 1000, limits: { acme: 10, small: 2 } }
 *   events:
 *     - type: plugin
 *       module: ./dist/examples/plugins/connection-cap.js
 *       config: { instance: cap }
 *
 * Notes: a throttler plugin replaces the built-in one, so the other quotas of the tenants' settings
 * are not enforced while it is configured (this example allows every other resource). The count
 * follows events, so a burst of simultaneous CONNECTs can overshoot a limit by the number in flight.
 */
import type { BrokerEvent } from '../../src/plugins/events';
import type { EventCollector, PluginContext, ResourceThrottler, ResourceType } from '../../src/plugins/types';

export interface ConnectionCapConfig {
  /** Name shared by the throttler and the collector entries. */
  instance?: string;
  /** Limit of tenants not in `limits` (absent or 0: unlimited). */
  default?: number;
  /** Limit per tenant id (0: unlimited). */
  limits?: Record<string, number>;
}

export class ConnectionCap implements ResourceThrottler, EventCollector {
  private readonly counts = new Map<string, number>();
  private limits: Record<string, number> = {};
  private defaultLimit = 0;
  /** Refusals so far. */
  refused = 0;

  constructor(private readonly ctx: PluginContext) {}

  configure(config: ConnectionCapConfig): void {
    if (config.limits !== undefined) this.limits = { ...config.limits };
    if (config.default !== undefined) this.defaultLimit = config.default;
  }

  /** Live connections of a tenant, as the events tell. */
  connections(tenantId: string): number {
    return this.counts.get(tenantId) ?? 0;
  }

  hasResource(tenantId: string, resource: ResourceType): boolean {
    if (resource !== 'connections') return true;
    const limit = this.limits[tenantId] ?? this.defaultLimit;
    if (!limit) return true;
    const ok = this.connections(tenantId) < limit;
    if (!ok) {
      this.refused++;
      this.ctx.logger.debug({ tenantId, limit }, 'connection cap reached');
    }
    return ok;
  }

  report(event: BrokerEvent & { time: number }): void {
    if (event.type === 'client.connected') {
      this.counts.set(event.tenantId, this.connections(event.tenantId) + 1);
    } else if (event.type === 'client.disconnected') {
      const n = this.connections(event.tenantId) - 1;
      if (n > 0) this.counts.set(event.tenantId, n);
      else this.counts.delete(event.tenantId);
    }
  }

  close(): void {
    for (const [name, cap] of instances) if (cap === this) instances.delete(name);
  }
}

/** Instances by name: the throttler slot and the collector slot share one. */
const instances = new Map<string, ConnectionCap>();

function validate(config: Record<string, unknown>): ConnectionCapConfig {
  const { instance, default: def, limits } = config;
  if (instance !== undefined && (typeof instance !== 'string' || instance === '')) throw new Error('instance: expected a name');
  if (def !== undefined && (typeof def !== 'number' || def < 0)) throw new Error('default: expected a number of connections');
  if (limits !== undefined) {
    if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) throw new Error('limits: expected tenant ids and numbers');
    for (const [tenant, n] of Object.entries(limits)) {
      if (typeof n !== 'number' || n < 0 || !Number.isInteger(n)) throw new Error(`limits.${tenant}: expected a whole number of connections`);
    }
  }
  return config as ConnectionCapConfig;
}

/** The instance named `config.instance` (default `default`), created on first use; a config with limits sets them. */
export function create(config: Record<string, unknown>, ctx: PluginContext): ConnectionCap {
  const c = validate(config);
  const name = c.instance ?? 'default';
  let cap = instances.get(name);
  if (!cap) {
    cap = new ConnectionCap(ctx);
    instances.set(name, cap);
  }
  cap.configure(c);
  return cap;
}
