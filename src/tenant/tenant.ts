/**
 * The runtime of one tenant: its subscription table, its sessions, its settings and its usage.
 * Everything a client can reach hangs off its tenant, so isolation is structural: there is no
 * lookup that crosses tenants.
 */
import type { DropReason } from '../plugins/events';
import type { Message } from '../routing/message';
import { SubscriptionTable } from '../routing/subscription-table';
import type { Outbound } from '../session/outbound';
import type { Session, SessionHost, SessionPersistence } from '../session/session';
import type { SharedGroup } from '../session/subscription';
import type { TenantSettings } from './settings';
import { TenantUsage } from './usage';

/** What a tenant needs from the broker around it. */
export interface TenantServices {
  now(): number;
  settingsOf(tenantId: string): TenantSettings;
  dropped(tenantId: string, session: Session, msg: Message, qos: number, reason: DropReason): void;
  redispatch(group: SharedGroup, out: Outbound, leaving: Session): void;
  readonly persistence: SessionPersistence | undefined;
}

export class Tenant implements SessionHost {
  readonly subscriptions = new SubscriptionTable();
  readonly sessions = new Map<string, Session>();
  readonly usage = new TenantUsage();

  constructor(
    readonly id: string,
    private readonly services: TenantServices,
  ) {}

  get tenantId(): string {
    return this.id;
  }

  /** The current settings (a frozen snapshot; connections keep the one they connected with). */
  get settings(): TenantSettings {
    return this.services.settingsOf(this.id);
  }

  get persistence(): SessionPersistence | undefined {
    return this.services.persistence;
  }

  now(): number {
    return this.services.now();
  }

  inboxSize(): number {
    return this.settings.inboxSize;
  }

  dropPolicy(): 'oldest' | 'newest' {
    return this.settings.inboxDropPolicy;
  }

  queueQoS0Offline(): boolean {
    return this.settings.queueQoS0Offline;
  }

  dropped(session: Session, msg: Message, qos: number, reason: DropReason): void {
    this.usage.dropped++;
    this.services.dropped(this.id, session, msg, qos, reason);
  }

  redispatch(group: SharedGroup, out: Outbound, leaving: Session): void {
    this.services.redispatch(group, out, leaving);
  }

  /** Whether nothing of this tenant is left in memory. */
  get idle(): boolean {
    return this.sessions.size === 0 && this.usage.connections === 0;
  }
}
