/**
 * The life of sessions: open (new, resumed or taken over), connection closed (will, expiry timer),
 * expiry, and end. Wills are published through the dispatcher like any message.
 */
import type { QoS } from '../codec/packets';
import type { BrokerEvent } from '../plugins/events';
import type { Dispatcher } from '../routing/dispatcher';
import { Message } from '../routing/message';
import type { Tenant } from '../tenant/tenant';
import type { DeadlineScheduler } from '../util/deadline-scheduler';
import type { OutStateCode, SessionLink } from './outbound';
import { messageOf } from './session-records';
import type { LoadedSession } from './session-store';
import { parseFilter } from '../topic/validate';
import { Session, sizeOf } from './session';
import type { SessionSubscription } from './subscription';
import type { WillMessage } from './will';

/** Bytes a session holds in memory (what tenant usage charged it). */
function heldBytes(session: Session): number {
  let n = 0;
  for (const out of session.queue) n += sizeOf(out.msg);
  for (const out of session.inflight.values()) n += sizeOf(out.msg);
  return n;
}

/** Session Expiry Interval that means "never expires". */
export const NEVER_EXPIRES = 0xffffffff;

/** A live connection as the session manager sees it: something that can be taken over. */
export interface SessionOwner extends SessionLink {
  /** Closes this connection because another one took its session (DISCONNECT 0x8E). */
  takeOver(): void;
}

export interface SessionEvents {
  emit(event: BrokerEvent): void;
}

export type SessionEndReason = 'clean' | 'expired' | 'taken-over' | 'kicked' | 'clean-start';

export class SessionManager {
  /**
   * Set while the broker shuts down, or moves a tenant to its other process: the connections it
   * closes keep the wills of their persistent sessions, stored (or carried), so that after a restart
   * (or where the tenant went) the will is published when its delay has passed, unless the client is
   * back (as after a crash). MQTT 5 publishes a will when the server closes the connection; a
   * shutdown or a move only postpones it.
   */
  keepingWills = false;

  constructor(
    private readonly scheduler: DeadlineScheduler,
    private readonly dispatcher: Dispatcher,
    private readonly events: SessionEvents,
    private readonly now: () => number,
    /** Called when a tenant may have nothing left (its registry drops it if so). */
    private readonly tenantMayBeIdle: (tenant: Tenant) => void = () => undefined,
    /** Whether a retained will may be stored under its tenant's retained quotas (it is published all the same). */
    private readonly mayRetain: (tenant: Tenant, msg: Message) => boolean = () => true,
  ) {}

  /**
   * Opens the session of `clientId` for a new connection: takes over a live connection, then
   * resumes the existing session (cleanStart false) or starts a new one.
   */
  open(tenant: Tenant, clientId: string, cleanStart: boolean): { session: Session; present: boolean } {
    let existing = tenant.sessions.get(clientId);
    const owner = existing?.link as SessionOwner | undefined;
    if (owner) {
      existing!.takenOver = true;
      owner.takeOver();
      existing = tenant.sessions.get(clientId);
    }
    if (existing && !existing.ended) {
      if (!cleanStart) {
        this.cancelTimers(existing);
        // [MQTT-3.1.3-9] a new connection before the will delay passes means no will.
        existing.will = undefined;
        this.events.emit({ type: 'session.started', tenantId: tenant.id, clientId, persistent: true, resumed: true });
        return { session: existing, present: true };
      }
      this.end(existing, 'clean-start');
    }
    const session = new Session(tenant, clientId);
    tenant.sessions.set(clientId, session);
    tenant.usage.sessions++;
    return { session, present: false };
  }

  /** Announces a session that the connection has configured (expiry known). */
  started(session: Session, resumed: boolean): void {
    const tenant = session.host as Tenant;
    if (!resumed) {
      this.events.emit({ type: 'session.started', tenantId: tenant.id, clientId: session.clientId, persistent: session.persistent, resumed });
    }
  }

  /** Updates the expiry of a live session, keeping the persistent-session gauge right. */
  setExpiry(session: Session, expiryInterval: number): void {
    const tenant = session.host as Tenant;
    const was = session.persistent;
    if (was === (expiryInterval > 0)) {
      session.expiryInterval = expiryInterval;
      return;
    }
    // The session changes kind: move what it holds between the transient and persistent gauges.
    const u = tenant.usage;
    const subs = session.subscriptions.size;
    const bytes = heldBytes(session);
    const sign = was ? -1 : 1;
    u.persistentSessions += sign;
    u.persistentSubscriptions += sign * subs;
    u.transientSubscriptions -= sign * subs;
    u.persistentSessionBytes += sign * bytes;
    session.expiryInterval = expiryInterval;
  }

  /**
   * The connection of `session` has ended. `publishWill` is false after a normal DISCONNECT.
   * A session with expiry 0 ends now; others wait for their expiry (and will delay).
   */
  closed(session: Session, publishWill: boolean): void {
    if (session.ended) return;
    const now = this.now();
    session.detach(now);
    const will = publishWill ? session.will : undefined;
    if (!publishWill && !(this.keepingWills && session.expiryInterval > 0)) session.will = undefined;
    if (session.expiryInterval === 0) {
      session.will = undefined;
      if (will) this.publishWill(session, will);
      this.end(session, session.takenOver ? 'taken-over' : 'clean');
      return;
    }
    session.takenOver = false;
    if (will) this.scheduleWill(session, will, now);
    this.scheduleExpiry(session, now);
    session.host.persistence?.sessionChanged(session);
  }

  /** Publishes the will of a disconnected session now, or arms its delay from `from`. */
  private scheduleWill(session: Session, will: WillMessage, from: number): void {
    const at = from + Math.min(will.delay, session.expiryInterval) * 1000;
    if (at <= this.now()) {
      session.will = undefined;
      this.publishWill(session, will);
      return;
    }
    session.willHandle = this.scheduler.schedule(at, {
      onDeadline: () => {
        session.willHandle = undefined;
        const w = session.will;
        session.will = undefined;
        if (w && !session.connected && !session.ended) {
          this.publishWill(session, w);
          session.host.persistence?.sessionChanged(session);
        }
      },
    });
  }

  /**
   * Brings back a stored session after a restart: subscriptions into the index, inbox into the queue
   * and the in-flight window, timers from where they were. A session that was connected when the
   * broker stopped counts as disconnected now (its will becomes due); one whose expiry passed while
   * the broker was down ends (publishing a pending will).
   */
  restore(tenant: Tenant, stored: LoadedSession): Session {
    const rec = stored.session;
    const now = this.now();
    const session = new Session(tenant, rec.clientId);
    tenant.sessions.set(rec.clientId, session);
    tenant.usage.sessions++;
    session.expiryInterval = rec.expiryInterval;
    if (session.persistent) tenant.usage.persistentSessions++;
    // The record's lastSeq is only rewritten with the session; the inbox may have gone further.
    let lastSeq = rec.lastSeq;
    for (const r of stored.inbox) if (r.seq > lastSeq) lastSeq = r.seq;
    session.lastSeq = lastSeq;
    for (const id of rec.incomingQoS2) session.incomingQoS2.add(id);
    for (const s of rec.subscriptions) {
      const parsed = parseFilter(s.key);
      if (typeof parsed === 'number') continue;
      this.subscribe(session, {
        kind: 'sub',
        session,
        key: s.key,
        filter: parsed.filter,
        wildcard: parsed.wildcard,
        group: undefined,
        shareName: parsed.shareGroup,
        qos: s.qos,
        noLocal: s.noLocal,
        retainAsPublished: s.retainAsPublished,
        retainHandling: s.retainHandling,
        subscriptionId: s.subscriptionId,
      });
    }
    for (const r of stored.inbox) {
      session.restoreOutbound({
        msg: messageOf(r),
        qos: r.qos,
        retain: r.retain,
        subIds: r.subIds,
        group: undefined,
        packetId: r.packetId,
        state: r.state as OutStateCode,
        seq: r.seq,
      });
    }
    const wasConnected = rec.disconnectedAt === 0;
    session.disconnectedAt = wasConnected ? now : rec.disconnectedAt;
    session.will = rec.will;
    if (wasConnected) session.host.persistence?.sessionChanged(session);
    return session;
  }

  /**
   * Second step of a restart, once every session is back in the index: ends the sessions that
   * expired while the broker was down (publishing their wills to sessions restored after them as
   * well) and arms the timers of the others. Returns whether the session lives on.
   */
  resumeTimers(session: Session): boolean {
    const now = this.now();
    const since = session.disconnectedAt;
    if (session.expiryInterval !== NEVER_EXPIRES && since + session.expiryInterval * 1000 <= now) {
      this.end(session, 'expired');
      return false;
    }
    if (session.will) this.scheduleWill(session, session.will, since);
    this.scheduleExpiry(session, since);
    return true;
  }

  /** Arms the expiry of a disconnected session (also used after a restart). */
  scheduleExpiry(session: Session, from: number): void {
    if (session.expiryInterval === NEVER_EXPIRES) return;
    session.expiryHandle = this.scheduler.schedule(from + session.expiryInterval * 1000, {
      onDeadline: () => {
        session.expiryHandle = undefined;
        if (!session.connected && !session.ended) this.end(session, 'expired');
      },
    });
  }

  /** Ends a session: subscriptions leave the index, queued messages go, a pending will is published. */
  end(session: Session, reason: SessionEndReason): void {
    if (session.ended) return;
    const tenant = session.host as Tenant;
    const pendingWill = session.will;
    this.drop(session);
    this.events.emit({ type: 'session.ended', tenantId: tenant.id, clientId: session.clientId, reason });
    // [MQTT-3.1.2-8] the will is published at the latest when the session ends.
    // That includes a session replaced by a clean start: the new connection is a new session.
    if (pendingWill) this.publishWill(session, pendingWill);
    if (!session.connected) this.tenantMayBeIdle(tenant);
  }

  /**
   * Removes a disconnected session that lives on in another process (its tenant moved there): gone
   * from here, memory and store, without a will or an event.
   */
  remove(session: Session): void {
    if (session.ended) return;
    this.drop(session);
    if (!session.connected) this.tenantMayBeIdle(session.host as Tenant);
  }

  private drop(session: Session): void {
    const tenant = session.host as Tenant;
    session.ended = true;
    this.cancelTimers(session);
    session.will = undefined;
    for (const sub of session.subscriptions.values()) this.unindex(tenant, sub);
    session.subscriptions.clear();
    session.clearMessages();
    if (tenant.sessions.get(session.clientId) === session) tenant.sessions.delete(session.clientId);
    tenant.usage.sessions--;
    if (session.persistent) tenant.usage.persistentSessions--;
    session.host.persistence?.sessionEnded(session);
  }

  /** Adds or replaces a subscription; returns whether it is new. */
  subscribe(session: Session, sub: SessionSubscription): boolean {
    const tenant = session.host as Tenant;
    const existing = session.subscriptions.get(sub.key);
    if (existing) {
      existing.qos = sub.qos;
      existing.noLocal = sub.noLocal;
      existing.retainAsPublished = sub.retainAsPublished;
      existing.retainHandling = sub.retainHandling;
      existing.subscriptionId = sub.subscriptionId;
      // Options live on the entry the index holds; cached matches see the change.
      return false;
    }
    session.subscriptions.set(sub.key, sub);
    tenant.subscriptions.add(sub);
    const u = tenant.usage;
    u.subscriptions++;
    if (session.persistent) u.persistentSubscriptions++;
    else u.transientSubscriptions++;
    if (sub.shareName !== undefined) u.sharedSubscriptions++;
    return true;
  }

  /** Removes a subscription; returns whether it existed. */
  unsubscribe(session: Session, key: string): boolean {
    const sub = session.subscriptions.get(key);
    if (!sub) return false;
    session.subscriptions.delete(key);
    this.unindex(session.host as Tenant, sub);
    return true;
  }

  private unindex(tenant: Tenant, sub: SessionSubscription): void {
    tenant.subscriptions.remove(sub);
    const u = tenant.usage;
    u.subscriptions--;
    if (sub.session.persistent) u.persistentSubscriptions--;
    else u.transientSubscriptions--;
    if (sub.shareName !== undefined) u.sharedSubscriptions--;
  }

  private publishWill(session: Session, will: WillMessage): void {
    const tenant = session.host as Tenant;
    const now = this.now();
    const msg = new Message(
      will.topic,
      will.payload,
      will.qos as QoS,
      will.retain,
      will.properties,
      will.expiryInterval > 0 ? now + will.expiryInterval * 1000 : 0,
      session.clientId,
    );
    this.events.emit({ type: 'will.published', tenantId: tenant.id, clientId: session.clientId, topic: will.topic });
    const result = this.dispatcher.publish(tenant, msg, !msg.retain || this.mayRetain(tenant, msg));
    result.durable?.catch(() => undefined);
  }

  private cancelTimers(session: Session): void {
    this.scheduler.cancel(session.expiryHandle);
    this.scheduler.cancel(session.willHandle);
    session.expiryHandle = undefined;
    session.willHandle = undefined;
  }
}
