/**
 * A SessionStore in memory: keeps exactly what the durable store would keep, so that the contract
 * suite can hold both to the same behaviour. Nothing survives the process.
 */
import type { Outbound } from '../session/outbound';
import type { Session } from '../session/session';
import { outboundRecord, sessionRecord } from '../session/session-records';
import type { LoadedSession, SessionStore, StoredOutbound, StoredSession } from '../session/session-store';

function keyOf(tenantId: string, clientId: string): string {
  return `${tenantId}\u0000${clientId}`;
}

export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, StoredSession>();
  private readonly inboxes = new Map<string, Map<number, StoredOutbound>>();

  outboundAdded(session: Session, out: Outbound): Promise<void> | undefined {
    this.inbox(session).set(out.seq, outboundRecord(out));
    return undefined;
  }

  outboundChanged(session: Session, out: Outbound): Promise<void> | undefined {
    this.inbox(session).set(out.seq, outboundRecord(out));
    return undefined;
  }

  outboundRemoved(session: Session, out: Outbound): void {
    this.inboxes.get(keyOf(session.tenantId, session.clientId))?.delete(out.seq);
  }

  sessionChanged(session: Session): Promise<void> | undefined {
    this.sessions.set(keyOf(session.tenantId, session.clientId), sessionRecord(session));
    return undefined;
  }

  sessionEnded(session: Session): undefined {
    const k = keyOf(session.tenantId, session.clientId);
    this.sessions.delete(k);
    this.inboxes.delete(k);
  }

  load(): LoadedSession[] {
    const out: LoadedSession[] = [];
    for (const [k, s] of this.sessions) {
      const inbox = [...(this.inboxes.get(k)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
      out.push({ session: s, inbox });
    }
    return out;
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  private inbox(session: Session): Map<number, StoredOutbound> {
    const k = keyOf(session.tenantId, session.clientId);
    let m = this.inboxes.get(k);
    if (!m) {
      m = new Map();
      this.inboxes.set(k, m);
    }
    return m;
  }
}
