/**
 * How a session's state reaches a durable store: the interface the LMDB and memory session stores
 * implement, and the one sessions call as their state changes.
 */
import type { Outbound } from './outbound';
import type { Session } from './session';

/**
 * Write-behind persistence of persistent sessions (implemented by the durable stores). Promises
 * resolve when the change is durable; the broker acknowledges a QoS 1/2 PUBLISH only after the
 * promises of every persistent session it reached have resolved.
 */
export interface SessionPersistence {
  outboundAdded(session: Session, out: Outbound): Promise<void> | undefined;
  /** The packet id or state of an entry changed; the promise resolves when that is durable. */
  outboundChanged(session: Session, out: Outbound): Promise<void> | undefined;
  outboundRemoved(session: Session, out: Outbound): void;
  /** Subscriptions, expiry, will or received QoS 2 ids changed. */
  sessionChanged(session: Session): Promise<void> | undefined;
  /** The session ended: its record and inbox go; the promise resolves when that is durable. */
  sessionEnded(session: Session): Promise<void> | undefined;
}
