/**
 * A connection handed from one broker process to another after authentication: what the first
 * process gives up (the socket, the CONNECT, who the client is, and every byte it read behind the
 * CONNECT), and how the second one goes on from there as if it had authenticated the client
 * itself. Only plain TCP sockets can change process: TLS and WebSocket state lives in the process.
 */
import type { Socket } from 'node:net';
import type { DecodeError } from '../codec/decoder';
import { encodePacket } from '../codec/encoder';
import type { ConnectPacket } from '../codec/packets';
import { ReasonCode } from '../codec/reason-codes';
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
  /** A packet behind those that failed to decode: reported once they are handled, as it would have been. */
  error: DecodeError | undefined;
}

/** Where a connection goes: the background process, seen from the connection. */
export interface HandoffTarget {
  /** Why no connection can go now (it is refused with 0x88 and this reason), or undefined. */
  unavailable(): string | undefined;
  /** Sends the socket; it is the target's from here. */
  send(socket: Socket, handed: HandedConnection): void;
}

/** How long a connection may wait for its output to reach the socket before it is refused instead. */
const OUTPUT_WAIT_MS = 1000;

/**
 * Hands an authenticated connection to `target`: after this turn (when the CONNECT's chunk has been
 * decoded), once what the broker wrote to it (an enhanced authentication's AUTH) has left. Only
 * plain TCP sockets can change process: others are refused with 0x88 and the reason.
 */
export function handOff(conn: Connection, p: ConnectPacket, clientId: string, assigned: boolean, result: Authenticated, target: HandoffTarget): void {
  if (!canHandOff(conn)) {
    conn.refuse(ReasonCode.ServerUnavailable, `tenant ${result.tenantId} is served on plain TCP listeners only`, p.protocolVersion);
    return;
  }
  // Nothing more is read or decoded here; what was read goes along with the socket.
  conn.block();
  conn.transport.pause();
  const deadline = conn.ctx.clock.now() + OUTPUT_WAIT_MS;
  const transfer = (): void => {
    if (conn.closed) return;
    const why = target.unavailable();
    if (why !== undefined) {
      conn.refuse(ReasonCode.ServerUnavailable, why, p.protocolVersion);
      return;
    }
    const taken = takeApart(conn, p, clientId, assigned, result);
    if (taken !== undefined) target.send(taken.socket, taken.handed);
    else if (conn.ctx.clock.now() < deadline) setTimeout(transfer, 5);
    else conn.refuse(ReasonCode.ServerUnavailable, 'connection could not be handed over', p.protocolVersion);
  };
  setImmediate(transfer);
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
  // left undecoded behind the CONNECT, and what the socket read meanwhile. After a packet that
  // failed to decode, nothing more: the stream cannot be followed past it.
  for (const packet of conn.held ?? []) parts.push(encodePacket(packet, conn.protocolVersion));
  conn.held = undefined;
  const error = conn.pendingError;
  const incomplete = conn.decoder.takeIncomplete();
  if (incomplete !== undefined && error === undefined) parts.push(incomplete);
  if (conn.pendingInput !== undefined && error === undefined) parts.push(conn.pendingInput);
  conn.pendingInput = undefined;
  const { socket, unread } = transport.release();
  if (error === undefined) parts.push(...unread);
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
    error: error === undefined ? undefined : { ...error },
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
  if ((h.rest !== undefined && h.rest.length > 0) || h.error !== undefined) {
    // Decoded after the CONNACK, under the tenant's limits, as in the process it came from; an error
    // met behind it is reported once it has been handled (input-flow.ts).
    conn.pendingInput = h.rest === undefined ? Buffer.alloc(0) : Buffer.from(h.rest.buffer, h.rest.byteOffset, h.rest.length);
    conn.pendingError = h.error;
    conn.gate.hold(Hold.Connack);
  }
  onAuthenticated(conn, p, h.clientId, h.assigned, h.result);
  return conn;
}
