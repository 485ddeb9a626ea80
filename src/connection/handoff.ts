/**
 * A connection handed from one broker process to another after authentication: what the first
 * process gives up (the socket, the CONNECT, who the client is, and every byte it read behind the
 * CONNECT), and how the second one goes on from there as if it had authenticated the client
 * itself. Only plain TCP sockets can change process: TLS and WebSocket state lives in the process.
 */
import type { Socket } from 'node:net';
import { encodePacket } from '../codec/encoder';
import type { ConnectPacket } from '../codec/packets';
import type { ConnectionInfo } from '../plugins/types';
import { StreamTransport } from '../transport/stream-transport';
import { ConnState, Connection } from './connection';
import type { ConnectionContext } from './context';
import { onAuthenticated, type Authenticated } from './handle-connect';
import { Hold } from './input-gate';

/** What crosses to the other process with the socket (structured-clone safe). */
export interface HandedConnection {
  info: ConnectionInfo;
  /** The CONNECT, without its password. */
  connect: ConnectPacket;
  clientId: string;
  /** Whether the client id was assigned by the broker (announced in CONNACK). */
  assigned: boolean;
  result: Authenticated;
  authMethod: string | undefined;
  problemInformation: boolean;
  clientMaxPacketSize: number;
  /** Bytes the client sent behind the CONNECT (and its AUTH packets), undecoded. */
  rest: Buffer | undefined;
}

/** Whether the connection's socket can be handed over (plain TCP). */
export function canHandOff(conn: Connection): boolean {
  return conn.transport instanceof StreamTransport && conn.transport.info.transport === 'tcp';
}

/**
 * Takes an authenticated connection apart: its socket stops being read and leaves this process's
 * books (no event: the connection has not started here). Returns undefined when it cannot go yet
 * (output still on its way to the client) or is closed.
 */
export function takeApart(conn: Connection, p: ConnectPacket, clientId: string, assigned: boolean, result: Authenticated): { socket: Socket; handed: HandedConnection } | undefined {
  const transport = conn.transport;
  if (conn.state !== ConnState.Authenticating || !(transport instanceof StreamTransport) || transport.pendingBytes > 0) return undefined;
  const parts: Buffer[] = [];
  // In the order they came: packets decoded while authentication was pending, a packet begun, input
  // left undecoded behind the CONNECT, and what the socket read meanwhile.
  for (const packet of conn.held ?? []) parts.push(encodePacket(packet, conn.protocolVersion));
  conn.held = undefined;
  const incomplete = conn.decoder.takeIncomplete();
  if (incomplete !== undefined) parts.push(incomplete);
  if (conn.pendingInput !== undefined) parts.push(conn.pendingInput);
  conn.pendingInput = undefined;
  const { socket, unread } = transport.release();
  parts.push(...unread);
  conn.finish(false, 'server', 0, 'handed to another process');
  const handed: HandedConnection = {
    info: transport.info,
    connect: { ...p, password: undefined },
    clientId,
    assigned,
    result,
    authMethod: conn.authMethod,
    problemInformation: conn.problemInformation,
    clientMaxPacketSize: conn.clientMaxPacketSize,
    rest: parts.length === 0 ? undefined : Buffer.concat(parts),
  };
  return { socket, handed };
}

/** Goes on with a connection another process authenticated, from where that process left it. */
export function adoptConnection(socket: Socket, h: HandedConnection, ctx: ConnectionContext, connectTimeoutMs: number, packetLimit: number): Connection {
  // Half-open like the plain TCP listeners it came from.
  socket.allowHalfOpen = true;
  const conn = new Connection(new StreamTransport(socket, h.info), ctx, connectTimeoutMs, packetLimit);
  const p = h.connect;
  conn.protocolVersion = p.protocolVersion;
  conn.decoder.protocolVersion = p.protocolVersion;
  conn.state = ConnState.Authenticating;
  conn.clientId = h.clientId;
  conn.problemInformation = h.problemInformation;
  conn.clientMaxPacketSize = h.clientMaxPacketSize;
  conn.authMethod = h.authMethod;
  if (h.rest !== undefined && h.rest.length > 0) {
    // Decoded after the CONNACK, under the tenant's limits, as in the process it came from.
    conn.pendingInput = Buffer.from(h.rest.buffer, h.rest.byteOffset, h.rest.length);
    conn.gate.hold(Hold.Connack);
  }
  onAuthenticated(conn, p, h.clientId, h.assigned, h.result);
  return conn;
}
