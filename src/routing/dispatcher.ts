/**
 * The one way a message enters routing, whoever publishes it (a client, a will, the admin API):
 * the retained store is updated first, then the message fans out to the tenant's subscribers.
 */
import type { RetainStore } from '../retain/retain-store';
import type { Tenant } from '../tenant/tenant';
import type { Message } from './message';
import { Router, type RouteResult } from './router';

export interface DispatchHooks {
  retainChanged(tenantId: string, topic: string, deleted: boolean): void;
}

export class Dispatcher {
  readonly router = new Router();

  constructor(
    private readonly retained: RetainStore,
    private readonly hooks: DispatchHooks,
  ) {}

  /** Routes `msg`; a retained message is also stored unless `storeRetained` is false (over quota). */
  publish(tenant: Tenant, msg: Message, storeRetained = true): RouteResult {
    let stored: Promise<void> | undefined;
    if (msg.retain && storeRetained) {
      stored = this.retained.set(tenant.id, msg);
      this.hooks.retainChanged(tenant.id, msg.topic, msg.payload.length === 0);
    }
    tenant.usage.messagesIn++;
    const result = this.router.route(tenant.subscriptions, msg);
    if (stored) {
      result.durable = result.durable ? Promise.all([stored, result.durable]).then(() => undefined) : stored;
    }
    return result;
  }
}
