/**
 * Authentication exchanges of a connection: the one a CONNECT starts, MQTT 5 enhanced
 * authentication (AUTH 0x18 continue, both ways) and re-authentication (AUTH 0x19) while connected
 * (MQTT 5 section 4.12). Credentials that expire (a JWT's `exp`) close the connection with 0x87
 * unless the client re-authenticates first.
 */
import type { AuthPacket } from '../codec/packets';
import { ReasonCode } from '../codec/reason-codes';
import type { AuthStep } from '../auth/auth-service';
import type { AuthRequest, AuthResult } from '../plugins/types';
import { AuthorizationCache } from './authorization';
import { ConnState, type Connection } from './connection';
import { disconnectReason } from './reason-map';

type Authenticated = Extract<AuthResult, { ok: true }>;

/** An exchange in progress. */
export interface AuthExchange {
  provider: number;
  step: number;
  method: string;
  request: AuthRequest;
  reauth: boolean;
  /** Called with the provider's final yes. */
  done: (result: Authenticated) => void;
}

/**
 * Runs the first step of authentication for `request` and follows it through: `done` gets the
 * final success; refusals close the connection (CONNACK at connect, DISCONNECT on re-auth).
 */
export function authenticate(conn: Connection, request: AuthRequest, reauth: boolean, done: (r: Authenticated) => void): void {
  conn.block();
  let step: AuthStep | Promise<AuthStep>;
  try {
    step = conn.ctx.auth.authenticate(request);
  } catch (err) {
    conn.ctx.log.error({ err }, 'authentication failed');
    fail(conn, ReasonCode.ServerUnavailable, 'authentication failed', reauth);
    return;
  }
  if (!(step instanceof Promise)) {
    onStep(conn, step, request, reauth, done);
    return;
  }
  step.then(
    (s) => onStep(conn, s, request, reauth, done),
    (err: unknown) => {
      conn.ctx.log.error({ err }, 'authentication failed');
      fail(conn, ReasonCode.ServerUnavailable, 'authentication failed', reauth);
    },
  );
}

function onStep(conn: Connection, step: AuthStep, request: AuthRequest, reauth: boolean, done: (r: Authenticated) => void): void {
  if (conn.state === ConnState.Closed) return;
  const result = step.result;
  if (result.ok === true) {
    conn.authExchange = undefined;
    done(result);
    conn.unblock();
    return;
  }
  if (result.ok === 'continue') {
    const method = request.authMethod;
    if (method === undefined || conn.protocolVersion !== 5) {
      fail(conn, ReasonCode.BadAuthenticationMethod, 'authentication method not supported', reauth);
      return;
    }
    const previous = conn.authExchange;
    conn.authExchange = { provider: step.provider, step: previous ? previous.step : 0, method, request, reauth, done };
    conn.send({
      type: 15,
      reasonCode: ReasonCode.ContinueAuthentication,
      properties: { authenticationMethod: method, authenticationData: result.authData },
    });
    // Let the client's AUTH through; everything else is refused while the exchange lasts.
    conn.unblock();
    return;
  }
  const reason = result.ok === false ? result.reasonString ?? 'not authorized' : 'not authorized';
  fail(conn, result.ok === false ? result.reasonCode : ReasonCode.NotAuthorized, reason, reauth);
}

function fail(conn: Connection, reasonCode: number, reason: string, reauth: boolean): void {
  conn.authExchange = undefined;
  if (conn.state === ConnState.Connected || reauth) conn.closeWith(disconnectReason(reasonCode), true, reason);
  else conn.refuse(reasonCode, reason, conn.protocolVersion);
}

/** An AUTH packet from the client: the next step of an exchange, or the start of a re-authentication. */
export function handleAuth(conn: Connection, p: AuthPacket): void {
  const reasonCode = p.reasonCode ?? 0;
  const method = p.properties?.authenticationMethod;
  const data = p.properties?.authenticationData;
  const exchange = conn.authExchange;
  if (exchange) {
    // [MQTT-4.12.0-5] the method stays the same through an exchange.
    if (reasonCode !== ReasonCode.ContinueAuthentication || method !== exchange.method) {
      fail(conn, ReasonCode.ProtocolError, 'unexpected AUTH in an authentication exchange', exchange.reauth);
      return;
    }
    exchange.step++;
    const request: AuthRequest = { ...exchange.request, authData: data };
    conn.block();
    conn.ctx.auth.continueAuth(exchange.provider, request, exchange.step).then(
      (step) => onStep(conn, step, request, exchange.reauth, exchange.done),
      () => fail(conn, ReasonCode.ServerUnavailable, 'authentication failed', exchange.reauth),
    );
    return;
  }
  if (conn.state !== ConnState.Connected) {
    conn.refuse(ReasonCode.ProtocolError, 'AUTH before CONNECT finished', conn.protocolVersion);
    return;
  }
  // [MQTT-4.12.1-1] re-authentication only with the method the connection was authenticated with.
  if (reasonCode !== ReasonCode.ReAuthenticate || conn.authMethod === undefined || method !== conn.authMethod) {
    conn.abort(ReasonCode.ProtocolError, 'AUTH without the authentication method of the connection');
    return;
  }
  const identity = conn.identity!;
  const request: AuthRequest = {
    conn: conn.transport.info,
    protocolVersion: conn.protocolVersion,
    clientId: conn.clientId,
    username: identity.username,
    password: undefined,
    authMethod: method,
    authData: data,
  };
  authenticate(conn, request, true, (result) => {
    if (result.tenantId !== identity.tenantId || result.userId !== identity.userId) {
      conn.closeWith(ReasonCode.NotAuthorized, true, 're-authentication as a different user');
      return;
    }
    applyCredentials(conn, result);
    conn.send({
      type: 15,
      reasonCode: 0,
      properties: { authenticationMethod: method, authenticationData: result.authData },
    });
  });
}

/** Takes the rules and expiry of fresh credentials; authorization answers given before are forgotten. */
export function applyCredentials(conn: Connection, result: Authenticated): void {
  const identity = conn.identity!;
  identity.acl = result.acl;
  conn.clearAuthorization();
  conn.checkAuthorization = !AuthorizationCache.allowsAll(conn.ctx.auth, identity);
  conn.checkDelivery = conn.ctx.checkDelivery && conn.checkAuthorization;
  setCredentialsExpiry(conn, result.expiresAt);
}

/** Arms (or disarms) the end of the credentials' validity: DISCONNECT 0x87 then. */
function setCredentialsExpiry(conn: Connection, at: number | undefined): void {
  const scheduler = conn.ctx.scheduler;
  scheduler.cancel(conn.credentialsDeadline);
  conn.credentialsDeadline = undefined;
  if (at === undefined) return;
  conn.credentialsDeadline = scheduler.schedule(at, {
    onDeadline: () => {
      conn.credentialsDeadline = undefined;
      conn.closeWith(ReasonCode.NotAuthorized, true, 'credentials expired');
    },
  });
}
