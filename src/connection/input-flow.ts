/**
 * The way a connection's input goes from its socket to its decoder: through fair scheduling (which
 * may hold a chunk, or its end, for a later turn) and back again after backpressure (a publisher
 * paused for a subscriber far behind stops decoding mid-chunk; the rest waits until it is
 * unblocked), and what a decode error means for the connection. Functions over the connection
 * rather than an object per connection: an idle connection must stay small.
 */
import { performance } from 'node:perf_hooks';
import { flushWrites } from '../transport/socket-writer';
import { TurnBatch } from '../util/turn-batch';
import type { DecodeError } from '../codec/decoder';
import { ConnState, type Connection } from './connection';
import { Hold } from './input-gate';

/** Reads a chunk: behind input still waiting, or on to fair scheduling and the decoder. */
export function readInput(conn: Connection, chunk: Buffer): void {
  if (conn.pendingInput !== undefined) {
    // Behind input left undecoded by backpressure (fair scheduling off; rare): keeps the order.
    conn.pendingInput = Buffer.concat([conn.pendingInput, chunk]);
    return;
  }
  const tenant = conn.tenant;
  const fairness = conn.ctx.fairness;
  // Fair scheduling may hold the chunk, or its end, for a later turn (the connection is paused until then).
  const now = tenant !== undefined && fairness !== undefined ? fairness.admit(tenant, conn, chunk) : chunk;
  if (now === undefined) return;
  if (fairness !== undefined && tenant !== undefined && !tenant.fairLight) {
    const started = performance.now();
    consumeInput(conn, now);
    fairness.spent(tenant, performance.now() - started);
  } else {
    consumeInput(conn, now);
  }
  // A light tenant sharing the loop with a flood: its deliveries go out now, not after the turn.
  if (tenant?.fairLight === true) flushWrites();
}

/** Decodes a chunk; what decoding leaves when it yields to backpressure waits for the connection. */
export function consumeInput(conn: Connection, chunk: Buffer): void {
  const err = conn.decoder.push(chunk);
  if (err !== undefined) {
    if (!conn.closed) decodeFailed(conn, err);
    return;
  }
  const rest = conn.decoder.takeRest();
  if (rest === undefined || conn.closed) return;
  if (conn.state !== ConnState.Connected) {
    // Behind a CONNECT still being decided: decoded after the CONNACK, under the tenant's limits.
    conn.pendingInput = rest;
    conn.gate.hold(Hold.Connack);
    return;
  }
  const tenant = conn.tenant;
  const fairness = conn.ctx.fairness;
  if (tenant !== undefined && fairness !== undefined) {
    fairness.holdFirst(tenant, conn, rest);
    // Nothing else holds it (the CONNECT that yielded): handled at the end of this turn.
    if (!conn.inputBlocked) fairness.unblocked(tenant);
  } else {
    conn.pendingInput = rest;
    if (!conn.inputBlocked) feedLater.add(conn);
  }
}

/** Only fair scheduling holds the input now: chunks it held, or input left undecoded, may go on. */
export function inputUnblocked(conn: Connection): void {
  const tenant = conn.tenant;
  if (conn.fairChunks !== undefined && tenant !== undefined) conn.ctx.fairness?.unblocked(tenant);
  if (conn.pendingInput !== undefined) feedLater.add(conn);
}

/** Connections whose undecoded input goes on at the end of this turn. */
const feedLater = new TurnBatch<Connection>((conn) => {
  const rest = conn.pendingInput;
  if (rest === undefined || conn.closed || conn.inputBlocked || conn.state !== ConnState.Connected) return;
  conn.pendingInput = undefined;
  consumeInput(conn, rest);
  // A decode error handed over with the input of a connection that changed process (handoff.ts).
  if (!conn.holdingPackets && conn.pendingInput === undefined) reportPendingError(conn);
});

/**
 * A decode error that waited for the packets before it (held behind a decision, or handed over with
 * them) is reported once they are handled: DISCONNECT with its reason code. Returns whether it was.
 */
export function reportPendingError(conn: Connection): boolean {
  const err = conn.pendingError;
  if (err === undefined || conn.state !== ConnState.Connected) return false;
  conn.pendingError = undefined;
  conn.closeWith(err.reasonCode, true, err.message);
  return true;
}

/** Decoding failed: the reason code for this connection only (see docs/errors.md). */
function decodeFailed(conn: Connection, err: DecodeError): void {
  conn.ctx.log.debug({ clientId: conn.clientId, address: conn.remoteAddress, code: err.code }, err.message);
  if (conn.state === ConnState.AwaitingConnect) {
    conn.refuse(err.reasonCode, err.message, conn.decoder.protocolVersion);
    return;
  }
  if (conn.holdingPackets) {
    // [4.13.1] the CONNECT itself was fine: answer it, handle what came before the bad packet,
    // then report the bad packet with DISCONNECT.
    conn.pendingError = err;
    return;
  }
  if (conn.state === ConnState.Authenticating) {
    // Waiting for the client's AUTH in an enhanced-authentication exchange.
    conn.refuse(err.reasonCode, err.message, conn.protocolVersion);
    return;
  }
  conn.closeWith(err.reasonCode, true, err.message);
}

/**
 * The client sent FIN: once what it sent before has been handled (an authentication still pending,
 * packets held behind the CONNECT or by fair scheduling), the connection ends, as closed by the
 * network (so a will is published). Checked again every 10 ms while work is pending; a connection
 * that never gets there ends by its connect timeout or keepalive.
 */
export function endWhenIdle(conn: Connection): void {
  if (conn.closed) return;
  const pending = conn.state === ConnState.Authenticating || conn.pendingInput !== undefined || conn.fairChunks !== undefined || conn.holdingPackets;
  if (!pending) {
    conn.transport.end();
    return;
  }
  setTimeout(() => endWhenIdle(conn), 10);
}
