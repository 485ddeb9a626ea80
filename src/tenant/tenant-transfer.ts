/**
 * Moving a tenant between the broker's processes (see background/placement.ts): everything one
 * process holds of a tenant, its persistent sessions with their inboxes and its retained messages,
 * taken out as records, and put into the other process as a restart would bring them back from its
 * store. Records are structured-clone safe (they cross Node IPC).
 */
import { ReasonCode } from '../codec/reason-codes';
import type { Connection } from '../connection/connection';
import type { RetainStore } from '../retain/retain-store';
import { Message, type MessageProperties } from '../routing/message';
import type { SessionManager } from '../session/session-manager';
import { outboundRecord, sessionRecord } from '../session/session-records';
import type { LoadedSession } from '../session/session-store';
import type { QoS } from '../codec/packets';
import type { TenantRegistry } from './tenant-registry';

/**
 * Seconds at least that the will of a moved client's persistent session waits for the client to
 * connect again (to the process that serves its tenant now) before it is published: the client did
 * not go away, the broker moved it.
 */
export const MOVED_WILL_GRACE_SECONDS = 10;

export interface RetainedRecord {
  topic: string;
  payload: Buffer;
  qos: QoS;
  properties: MessageProperties | undefined;
  expiresAt: number;
  origin: string;
}

/** What a process held of a tenant. */
export interface TenantState {
  tenantId: string;
  sessions: LoadedSession[];
  retained: RetainedRecord[];
}

/** The parts of a broker that hold a tenant's state. */
export interface TenantHolder {
  readonly tenants: TenantRegistry;
  readonly sessions: SessionManager;
  readonly retained: RetainStore;
  now(): number;
}

/**
 * Takes a tenant out of this process: closes its connections (MQTT 5: DISCONNECT 0x9C, use another
 * server; their clients connect again and reach the process that serves the tenant now), then takes
 * its persistent sessions and retained messages and forgets them here, in memory and in the store.
 * No will is published and no session ends as far as events go: the sessions live on elsewhere.
 * Transient sessions end with their connections, their wills dropped (the client brings its will
 * again when it reconnects). Synchronous, so nothing of the tenant happens here in between.
 */
export function takeTenant(holder: TenantHolder, tenantId: string): TenantState {
  const { tenants, sessions, retained } = holder;
  const state: TenantState = { tenantId, sessions: [], retained: [] };
  const tenant = tenants.find(tenantId);
  if (tenant !== undefined) {
    // Transient sessions' connections close first: what a shared group had in flight with them goes
    // to members that stay (persistent sessions, whose inboxes go along), not with them.
    const conns = [...tenant.connections] as Connection[];
    conns.sort((a, b) => Number(a.session?.persistent === true) - Number(b.session?.persistent === true));
    const movedNow = new Set<unknown>();
    sessions.keepingWills = true;
    try {
      for (const c of conns) {
        if (c.session !== undefined) movedNow.add(c.session);
        c.closeWith(ReasonCode.UseAnotherServer, false, 'tenant moved to another broker process; connect again');
      }
    } finally {
      sessions.keepingWills = false;
    }
    for (const session of [...tenant.sessions.values()]) {
      if (session.ended || session.connected) continue;
      const record = sessionRecord(session);
      // The will of a client the move disconnected waits for it to come back; one already pending
      // (its client went away before) keeps its delay.
      if (record.will !== undefined && movedNow.has(session)) record.will = { ...record.will, delay: Math.max(record.will.delay, MOVED_WILL_GRACE_SECONDS) };
      const inbox = [...session.inflight.values(), ...session.queue].map(outboundRecord);
      state.sessions.push({ session: record, inbox });
      sessions.remove(session);
    }
  }
  const now = holder.now();
  for (const msg of retained.list(tenantId, 0, Infinity, now)) {
    state.retained.push({ topic: msg.topic, payload: msg.payload, qos: msg.qos, properties: msg.properties, expiresAt: msg.expiresAt, origin: msg.origin });
  }
  for (const r of state.retained) void retained.set(tenantId, new Message(r.topic, Buffer.alloc(0), r.qos, true, undefined, 0, ''))?.catch(() => undefined);
  const left = tenants.find(tenantId);
  if (left !== undefined) tenants.release(left);
  return state;
}

/**
 * Puts a tenant taken from the other process into this one: sessions come back as after a restart
 * (timers from when their connection ended, wills after their delay unless the client is back),
 * written to this process's store, and retained messages are stored. A session whose client id is
 * already here (only after a failure left the tenant in both processes) keeps the one here.
 * Resolves when everything is in the store (rejects if a write failed).
 */
export function putTenant(holder: TenantHolder, state: TenantState): Promise<void> {
  const { tenants, sessions, retained } = holder;
  const tenant = tenants.get(state.tenantId);
  const writes: Promise<void>[] = [];
  const write = (p: Promise<void> | undefined): void => {
    if (p !== undefined) writes.push(p);
  };
  const restored = [];
  for (const loaded of state.sessions) {
    if (tenant.sessions.has(loaded.session.clientId)) continue;
    const session = sessions.restore(tenant, loaded);
    const persistence = tenant.persistence;
    if (persistence !== undefined) {
      write(persistence.sessionChanged(session));
      for (const out of session.inflight.values()) write(persistence.outboundAdded(session, out));
      for (const out of session.queue) write(persistence.outboundAdded(session, out));
    }
    restored.push(session);
  }
  for (const session of restored) sessions.resumeTimers(session);
  for (const r of state.retained) write(retained.set(state.tenantId, new Message(r.topic, r.payload, r.qos, true, r.properties, r.expiresAt, r.origin)));
  tenants.release(tenant);
  return Promise.all(writes).then(() => undefined);
}
