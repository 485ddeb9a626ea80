/**
 * The runtime of one tenant: its subscription table, its sessions, its settings and its usage.
 * Everything a client can reach hangs off its tenant, so isolation is structural: there is no
 * lookup that crosses tenants.
 */
import type { DropReason } from '../plugins/events';
import type { ResourceType } from '../plugins/types';
import type { Message } from '../routing/message';
import { SubscriptionTable } from '../routing/subscription-table';
import type { Outbound } from '../session/outbound';
import type { Session, SessionHost } from '../session/session';
import type { SessionPersistence } from '../session/session-persistence';
import type { SharedGroup } from '../session/subscription';
import type { TenantSettings } from './settings';
import { TenantUsage } from './usage';
import type { FairTenant, Pausable } from './fair-scheduler';

/** What a tenant needs from the broker around it. */
export interface TenantServices {
  now(): number;
  settingsOf(tenantId: string): TenantSettings;
  dropped(tenantId: string, session: Session, msg: Message, qos: number, reason: DropReason): void;
  redispatch(group: SharedGroup, out: Outbound, leaving: Session): void;
  readonly persistence: SessionPersistence | undefined;
  /** Quota decisions; `plugin` is true when a throttler plugin decides (then every check asks it). */
  readonly quotas: { allows(tenant: Tenant, resource: ResourceType, clientId?: string, amount?: number): boolean; readonly plugin: boolean };
}

export class Tenant implements SessionHost, FairTenant {
  readonly subscriptions = new SubscriptionTable();
  readonly sessions = new Map<string, Session>();
  readonly usage = new TenantUsage();
  /** Live connections of this tenant (fair scheduling pauses them together). */
  readonly connections = new Set<Pausable>();
  fairBytes = 0;
  fairAllowance = Infinity;
  fairPaused = false;
  turnBytes = 0;
  turnMs = 0;
  turnPaused = false;
  fairLight = false;
  fairHeld: FairTenant['fairHeld'] = undefined;
  fairHeldBytes = 0;
  fairWaiting: FairTenant['fairWaiting'] = undefined;
  fairAdmit = 0;
  fairReading: FairTenant['fairReading'] = undefined;
  fairSwept = false;

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

  admit(session: Session, bytes: number): boolean {
    const q = this.services.quotas;
    const s = this.settings;
    if (!q.plugin && s.maxSessionMemory === 0 && (s.maxPersistentSessionBytes === 0 || !session.persistent)) return true;
    if (!q.allows(this, 'sessionMemory', session.clientId, bytes)) return false;
    return !session.persistent || q.allows(this, 'persistentSessionBytes', session.clientId, bytes);
  }

  held(session: Session, delta: number): void {
    this.usage.sessionBytes += delta;
    if (session.persistent) this.usage.persistentSessionBytes += delta;
  }

  /** Whether nothing of this tenant is left in memory. */
  get idle(): boolean {
    return this.sessions.size === 0 && this.usage.connections === 0 && this.connections.size === 0;
  }
}
