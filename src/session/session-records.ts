/**
 * Conversions between live sessions and their stored records, shared by every SessionStore.
 */
import { Message } from '../routing/message';
import type { Outbound } from './outbound';
import type { Session } from './session';
import type { StoredOutbound, StoredSession } from './session-store';

export function sessionRecord(session: Session): StoredSession {
  const subscriptions = [];
  for (const sub of session.subscriptions.values()) {
    subscriptions.push({
      key: sub.key,
      qos: sub.qos,
      noLocal: sub.noLocal,
      retainAsPublished: sub.retainAsPublished,
      retainHandling: sub.retainHandling,
      subscriptionId: sub.subscriptionId,
    });
  }
  return {
    tenantId: session.tenantId,
    clientId: session.clientId,
    expiryInterval: session.expiryInterval,
    disconnectedAt: session.disconnectedAt,
    subscriptions,
    will: session.will,
    incomingQoS2: [...session.incomingQoS2],
    lastSeq: session.lastSeq,
  };
}

export function outboundRecord(out: Outbound): StoredOutbound {
  const m = out.msg;
  return {
    seq: out.seq,
    topic: m.topic,
    payload: m.payload,
    msgQoS: m.qos,
    msgRetain: m.retain,
    properties: m.properties,
    expiresAt: m.expiresAt,
    origin: m.origin,
    qos: out.qos,
    retain: out.retain,
    subIds: out.subIds,
    packetId: out.packetId,
    state: out.state,
  };
}

/** The message of a stored inbox entry. */
export function messageOf(r: StoredOutbound): Message {
  return new Message(r.topic, r.payload, r.msgQoS, r.msgRetain, r.properties, r.expiresAt, r.origin).own();
}
