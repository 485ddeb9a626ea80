/**
 * What a connection needs from the broker, gathered in one object built by broker.ts.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../plugins/event-bus';
import type { AuthService } from '../auth/auth-service';
import type { RetainStore } from '../retain/retain-store';
import type { Dispatcher } from '../routing/dispatcher';
import type { SessionManager } from '../session/session-manager';
import type { TenantRegistry } from '../tenant/tenant-registry';
import type { Clock } from '../util/clock';
import type { DeadlineScheduler } from '../util/deadline-scheduler';
import type { ConnectionRegistry } from './connection-registry';
import type { ClientBalancer } from '../plugins/types';
import type { PluginGuard } from '../plugins/guard';
import type { Quotas } from '../tenant/quotas';
import type { FairScheduler } from '../tenant/fair-scheduler';
import type { ConnectPacket } from '../codec/packets';
import type { Connection } from './connection';
import type { Authenticated } from './handle-connect';

/** Tenants served by the broker's background process, and the way their connections go there. */
export interface BackgroundPlacement {
  serves(tenantId: string): boolean;
  /** Takes over an authenticated connection of such a tenant: it goes on there, or is refused. */
  handOff(conn: Connection, p: ConnectPacket, clientId: string, assigned: boolean, result: Authenticated): void;
}

export interface ConnectionContext {
  readonly clock: Clock;
  readonly scheduler: DeadlineScheduler;
  readonly log: Logger;
  readonly events: EventBus;
  readonly auth: AuthService;
  readonly tenants: TenantRegistry;
  readonly sessions: SessionManager;
  readonly dispatcher: Dispatcher;
  readonly retained: RetainStore;
  readonly connections: ConnectionRegistry;
  /** MQTT 5 server redirection, when configured. */
  readonly balancer: ClientBalancer | undefined;
  readonly pluginGuard: PluginGuard;
  readonly quotas: Quotas;
  /** Fair sharing between tenants under saturation (undefined when turned off). */
  readonly fairness: FairScheduler | undefined;
  /** Milliseconds an authorization answer is reused per connection. */
  readonly aclCacheMs: number;
  /** A promise when a tenant's settings are not known yet (its first connection waits), else undefined. */
  ensureSettings(tenantId: string): Promise<void> | undefined;
  /** Whether each delivery to a subscriber is authorized (action 'receive'). */
  readonly checkDelivery: boolean;
  /** Tenants served by a background process (undefined when there are none, and in that process). */
  readonly background: BackgroundPlacement | undefined;
}
