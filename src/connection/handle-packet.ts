/**
 * Packets of a connected client, by type; DISCONNECT from the client.
 */
import type { Packet } from '../codec/packets';
import { ReasonCode } from '../codec/reason-codes';
import { handleAuth } from './authentication';
import type { Connection } from './connection';
import { handlePublish, handlePubrel } from './handle-publish';
import { handleSubscribe, handleUnsubscribe } from './handle-subscribe';

export function handlePacket(conn: Connection, packet: Packet): void {
  switch (packet.type) {
    case 3:
      handlePublish(conn, packet);
      return;
    case 4:
      if (!conn.session!.acknowledge(packet.packetId)) unknownAck(conn, packet.packetId);
      return;
    case 5:
      if (!conn.session!.received(packet.packetId, (packet.reasonCode ?? 0) >= 0x80)) {
        // [MQTT-4.3.3] a PUBREC for an unknown id is answered with PUBREL 0x92.
        if (conn.protocolVersion === 5) conn.send({ type: 6, packetId: packet.packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
        else conn.send({ type: 6, packetId: packet.packetId });
      }
      return;
    case 6:
      handlePubrel(conn, packet);
      return;
    case 7:
      if (!conn.session!.completed(packet.packetId)) unknownAck(conn, packet.packetId);
      return;
    case 8:
      handleSubscribe(conn, packet);
      return;
    case 10:
      handleUnsubscribe(conn, packet);
      return;
    case 12:
      conn.send({ type: 13 });
      return;
    case 14:
      handleDisconnect(conn, packet.reasonCode ?? 0, packet.properties?.sessionExpiryInterval);
      return;
    case 15:
      handleAuth(conn, packet);
      return;
    case 1:
      // [MQTT-3.1.0-2] a second CONNECT is a protocol error.
      conn.abort(ReasonCode.ProtocolError, 'second CONNECT');
      return;
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP are never sent by a client.
      conn.abort(ReasonCode.ProtocolError, `unexpected packet type ${packet.type}`);
  }
}

/** An acknowledgement for a packet id that is not in flight: ignored (it may be a late duplicate). */
function unknownAck(conn: Connection, packetId: number): void {
  if (conn.ctx.log.isLevelEnabled('debug')) {
    conn.ctx.log.debug({ clientId: conn.clientId, packetId }, 'acknowledgement for an unknown packet id');
  }
}

function handleDisconnect(conn: Connection, reasonCode: number, sessionExpiry: number | undefined): void {
  const session = conn.session!;
  const s = conn.settings;
  if (sessionExpiry !== undefined) {
    // [MQTT-3.14.2-2] a session expiry of 0 at CONNECT cannot be raised at DISCONNECT. A tenant
    // that allows no expiry (or forces transient sessions) gave 0 whatever the CONNECT asked: the
    // client's value is clamped to 0 again rather than taken for a protocol error.
    if (session.expiryInterval === 0 && sessionExpiry !== 0 && !s.forceTransient && s.maxSessionExpiry > 0) {
      conn.abort(ReasonCode.ProtocolError, 'session expiry set at DISCONNECT after 0 at CONNECT');
      return;
    }
    if (!s.forceTransient) conn.ctx.sessions.setExpiry(session, Math.min(sessionExpiry, s.maxSessionExpiry));
  }
  conn.transport.end();
  // [MQTT-3.14.4-3] a normal DISCONNECT discards the will; 0x04 asks for it.
  conn.finish(reasonCode === ReasonCode.DisconnectWithWillMessage, 'client', reasonCode, 'client disconnected');
}
