/**
 * PUBLISH from a client (QoS 0/1/2, topic aliases, Receive Maximum, retain, expiry) and PUBREL.
 * QoS 2 uses method A of the specification (section 4.3.3): the message is routed on PUBLISH and
 * its packet id remembered until PUBREL, so a resent PUBLISH is not delivered twice.
 */
import { isUtf8 } from 'node:buffer';
import type { PublishPacket, PubrelPacket } from '../codec/packets';
import { ReasonCode } from '../codec/reason-codes';
import { Message, messagePropertiesOf } from '../routing/message';
import { mayRetain } from '../tenant/quotas';
import { validateTopicName } from '../topic/validate';
import { ConnState, type Connection } from './connection';

export function handlePublish(conn: Connection, p: PublishPacket): void {
  const s = conn.settings;
  const v5 = conn.protocolVersion === 5;
  const qos = p.qos;
  if (qos > s.maxQoS) {
    // [MQTT-3.3.1-4] a QoS above Maximum QoS is a protocol violation.
    conn.abort(ReasonCode.QoSNotSupported, `QoS ${qos} above the maximum ${s.maxQoS}`);
    return;
  }
  if (p.retain && !s.retainEnabled) {
    conn.abort(ReasonCode.RetainNotSupported, 'retain is not available');
    return;
  }
  if (v5 && p.properties?.subscriptionIdentifiers !== undefined) {
    // [MQTT-3.3.4-6] Subscription Identifiers go from the server to clients only.
    conn.abort(ReasonCode.ProtocolError, 'subscription identifier in a PUBLISH from a client');
    return;
  }
  let topic = p.topic;
  const alias = v5 ? (p.properties?.topicAlias ?? 0) : 0;
  if (alias !== 0 || topic.length === 0) {
    const resolved = conn.inAliases ? conn.inAliases.resolve(topic, alias) : alias === 0 ? ReasonCode.ProtocolError : ReasonCode.TopicAliasInvalid;
    if (typeof resolved === 'number') {
      conn.abort(resolved, resolved === ReasonCode.TopicAliasInvalid ? 'topic alias out of range' : 'unknown topic alias');
      return;
    }
    topic = resolved;
  }
  if (validateTopicName(topic, conn.topicLimits) !== 0) {
    conn.abort(ReasonCode.TopicNameInvalid, 'invalid topic name');
    return;
  }
  const session = conn.session!;
  if (qos > 0) {
    if (qos === 2 && session.incomingQoS2Count > 0 && session.incomingQoS2.has(p.packetId!)) {
      // [MQTT-4.3.3-10] a resend of a QoS 2 PUBLISH not yet released: acknowledge again, do not
      // deliver again; it is already counted against Receive Maximum.
      conn.ack(5, p.packetId!, 0, undefined);
      return;
    }
    // [MQTT-3.3.4-7..9] more unacknowledged QoS 1/2 PUBLISHes than Receive Maximum.
    if (v5 && conn.pendingAcks + session.incomingQoS2Count >= s.receiveMaximum) {
      conn.abort(ReasonCode.ReceiveMaximumExceeded, 'receive maximum exceeded');
      return;
    }
  }
  // The PUBLISH over the connection's publish rate is not routed: DISCONNECT 0x96 instead.
  if (s.publishRate > 0 && conn.limits?.mayPublish(conn.ctx.clock.now()) === false) return;
  if (v5 && s.payloadFormatValidation && p.properties?.payloadFormatIndicator === 1 && !isUtf8(p.payload)) {
    refuse(conn, p, ReasonCode.PayloadFormatInvalid);
    return;
  }
  if (topic.charCodeAt(0) === 0x24 /* $ */) {
    // '$' topics are the broker's own ($SYS); clients may not publish to them.
    refuse(conn, p, ReasonCode.NotAuthorized);
    return;
  }
  if (!conn.checkAuthorization) {
    accept(conn, p, topic);
    return;
  }
  const allowed = conn.authorization.check(conn.identity!, 'publish', topic, qos, p.retain);
  if (allowed === true) {
    accept(conn, p, topic);
  } else if (allowed === false) {
    denied(conn, p, topic);
  } else {
    // An asynchronous answer: hold the packets behind this one so order is kept.
    conn.block();
    allowed.then((ok) => {
      if (conn.state === ConnState.Connected) {
        if (ok) accept(conn, p, topic);
        else denied(conn, p, topic);
      }
      conn.unblock();
    });
  }
}

function denied(conn: Connection, p: PublishPacket, topic: string): void {
  conn.ctx.events.emit({ type: 'acl.denied', tenantId: conn.tenant!.id, clientId: conn.clientId, action: 'publish', topic });
  refuse(conn, p, ReasonCode.NotAuthorized);
}

/** Routes an accepted PUBLISH and acknowledges it once it is durable where it must be. */
function accept(conn: Connection, p: PublishPacket, topic: string): void {
  const v5 = conn.protocolVersion === 5;
  const qos = p.qos;
  const session = conn.session!;
  const tenant = conn.tenant!;
  tenant.usage.bytesIn += p.payload.length + topic.length;
  const props = p.properties;
  const expiry = v5 ? props?.messageExpiryInterval : undefined;
  const msg = new Message(
    topic,
    p.payload,
    qos,
    p.retain,
    v5 ? messagePropertiesOf(props) : undefined,
    expiry !== undefined && expiry > 0 ? conn.ctx.clock.now() + expiry * 1000 : 0,
    conn.clientId,
  );
  // A retained publish over the tenant's retained quota is delivered but not retained (PUBACK 0x97).
  const retainRefused = p.retain && !retainAllowed(conn, msg);
  // The router reuses its result object: take what is needed before anything else can route.
  const result = conn.ctx.dispatcher.publish(tenant, msg, !retainRefused);
  const { durable, matched, slowest } = result;
  conn.afterPublish();
  // A live subscriber falling behind: stop reading this publisher (TCP backpressure) until that
  // subscriber has caught up, before its queue fills and messages have to be dropped; far behind,
  // stop decoding the rest of what the publisher already sent as well.
  if (slowest !== undefined && slowest.holdBack(conn)) conn.pauseForBackpressure(slowest.farBehind());
  if (qos === 0) {
    durable?.catch(() => undefined);
    return;
  }
  const reasonCode = retainRefused && v5 ? ReasonCode.QuotaExceeded : v5 && matched === 0 ? ReasonCode.NoMatchingSubscribers : 0;
  if (qos === 1) {
    conn.ack(4, p.packetId!, reasonCode, durable);
    return;
  }
  session.incomingQoS2.add(p.packetId!);
  const stored = session.host.persistence && session.persistent ? session.host.persistence.sessionChanged(session) : undefined;
  conn.ack(5, p.packetId!, reasonCode, both(durable, stored));
}

function retainAllowed(conn: Connection, msg: Message): boolean {
  return mayRetain(conn.ctx.quotas, conn.ctx.retained, conn.tenant!, msg, conn.ctx.clock.now());
}

/** PUBREL: release the QoS 2 packet id and answer PUBCOMP (0x92 when the id is unknown). */
export function handlePubrel(conn: Connection, p: PubrelPacket): void {
  const session = conn.session!;
  const known = session.incomingQoS2.delete(p.packetId);
  // PUBCOMP waits until the release is durable: the client may reuse the packet id once it has
  // PUBCOMP, and a restart that still remembered the id would take its next message for a resend.
  const durable = known && session.persistent ? session.host.persistence?.sessionChanged(session) : undefined;
  conn.ack(7, p.packetId, known || conn.protocolVersion !== 5 ? 0 : ReasonCode.PacketIdentifierNotFound, durable);
}

/** A refused PUBLISH: MQTT 5 gets the reason in PUBACK/PUBREC; 3.1.1 drops it silently [MQTT-3.3.5-2]. */
export function refuse(conn: Connection, p: PublishPacket, reasonCode: number): void {
  if (p.qos === 0) return;
  const v5 = conn.protocolVersion === 5;
  conn.sendAfter(undefined, { type: p.qos === 1 ? 4 : 5, packetId: p.packetId!, reasonCode: v5 ? reasonCode : 0 });
}

function both(a: Promise<void> | undefined, b: Promise<void> | undefined): Promise<void> | undefined {
  if (!a) return b;
  if (!b) return a;
  return Promise.all([a, b]).then(() => undefined);
}
