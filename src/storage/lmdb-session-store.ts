/**
 * Persistent sessions and their inboxes in LMDB.
 *   sessions: [tenant, clientId]        → StoredSession
 *   inbox:    [tenant, clientId, seq]   → StoredOutbound
 * Inbox entries are written when a message is queued or sent to a persistent session, rewritten when
 * its packet id or state changes, and removed when the client completes it.
 */
import type { Outbound } from '../session/outbound';
import type { Session } from '../session/session';
import { outboundRecord, sessionRecord } from '../session/session-records';
import type { LoadedSession, SessionStore, StoredOutbound, StoredSession } from '../session/session-store';
import type { LmdbEnv } from './lmdb-env';

export class LmdbSessionStore implements SessionStore {
  /** Writes that failed (disk full, ...): logged by the owner, counted here. */
  failures = 0;

  constructor(
    private readonly env: LmdbEnv,
    private readonly onError: (err: unknown) => void,
  ) {}

  outboundAdded(session: Session, out: Outbound): Promise<void> {
    return this.env.inbox.put([session.tenantId, session.clientId, out.seq], outboundRecord(out)).then(ok);
  }

  outboundChanged(session: Session, out: Outbound): Promise<void> {
    const p = this.env.inbox.put([session.tenantId, session.clientId, out.seq], outboundRecord(out)).then(ok);
    p.catch(this.failed);
    return p;
  }

  outboundRemoved(session: Session, out: Outbound): void {
    this.env.inbox.remove([session.tenantId, session.clientId, out.seq]).catch(this.failed);
  }

  sessionChanged(session: Session): Promise<void> {
    return this.env.sessions.put([session.tenantId, session.clientId], sessionRecord(session)).then(ok);
  }

  sessionEnded(session: Session): Promise<void> {
    const t = session.tenantId;
    const c = session.clientId;
    this.env.sessions.remove([t, c]).catch(this.failed);
    // Writes commit in order: once the inbox removal is durable, the record's removal is too.
    return this.removeInbox(t, c);
  }

  load(): LoadedSession[] {
    const out: LoadedSession[] = [];
    const known = new Set<string>();
    for (const { value } of this.env.sessions.getRange()) {
      const session = value as StoredSession;
      const inbox: StoredOutbound[] = [];
      for (const e of this.env.inbox.getRange({ start: [session.tenantId, session.clientId], end: [session.tenantId, session.clientId, Infinity] })) {
        inbox.push(e.value as StoredOutbound);
      }
      known.add(`${session.tenantId}\u0000${session.clientId}`);
      out.push({ session, inbox });
    }
    // Inbox entries of a session that is gone (ended before its inbox was cleared) are dropped.
    for (const { key } of this.env.inbox.getRange()) {
      const [t, c] = key as [string, string, number];
      if (!known.has(`${t}\u0000${c}`)) this.env.inbox.remove(key).catch(this.failed);
    }
    return out;
  }

  flush(): Promise<void> {
    return this.env.flushed();
  }

  async close(): Promise<void> {
    await this.env.flushed();
  }

  /**
   * Removes the session's inbox in a write transaction, queued behind the writes before it: read
   * outside, the range would miss entries whose writes are still queued, and a later session with
   * the same client id would find them at the next start.
   */
  private removeInbox(t: string, c: string): Promise<void> {
    const inbox = this.env.inbox;
    const p = inbox
      .transaction(() => {
        for (const key of inbox.getKeys({ start: [t, c], end: [t, c, Infinity] })) inbox.remove(key);
      })
      .then(ok);
    p.catch(this.failed);
    return p;
  }

  private readonly failed = (err: unknown): void => {
    this.failures++;
    this.onError(err);
  };
}

function ok(): void {}
