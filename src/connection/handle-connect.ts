/**
 * CONNECT: client identifier rules, authentication, the tenant's settings, will and keepalive
 * checks, opening or resuming the session, and the CONNACK (MQTT 5 sections 3.1 and 3.2).
 */
import { randomBytes } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { ConnectPacket, Properties } from '../codec/packets';
import { ReasonCode } from '../codec/reason-codes';
import { redirectionProblem } from '../plugins/answers';
import type { AuthRequest, AuthResult } from '../plugins/types';
import { messagePropertiesOf } from '../routing/message';
import { NEVER_EXPIRES } from '../session/session-manager';
import type { WillMessage } from '../session/will';
import type { TenantSettings } from '../tenant/settings';
import { topicLimitsOf, validateTopicName } from '../topic/validate';
import { applyCredentials, authenticate } from './authentication';
import { AuthorizationCache } from './authorization';
import { ConnState, type Connection } from './connection';
import { Hold } from './input-gate';
import { InboundAliases, OutboundAliases } from './topic-aliases';

const NO_ATTRS: Readonly<Record<string, string>> = Object.freeze({});

export function handleConnect(conn: Connection, p: ConnectPacket): void {
  conn.protocolVersion = p.protocolVersion;
  conn.state = ConnState.Authenticating;
  if (p.protocolVersion === 5 && p.properties?.requestProblemInformation === 0) conn.problemInformation = false;

  let clientId = p.clientId;
  let assigned = false;
  if (clientId.length === 0) {
    // [MQTT-3.1.3-6] MQTT 5 may assign one; [MQTT-3.1.3-7] 3.1.1 only with a clean session.
    if (p.protocolVersion === 5 || (p.protocolVersion === 4 && p.cleanStart)) {
      clientId = `rtk-${randomBytes(9).toString('base64url')}`;
      assigned = p.protocolVersion === 5;
    } else {
      conn.refuse(ReasonCode.ClientIdentifierNotValid, 'empty client identifier', p.protocolVersion);
      return;
    }
  }
  conn.clientId = clientId;

  const props = p.properties;
  if (props?.maximumPacketSize !== undefined) conn.clientMaxPacketSize = props.maximumPacketSize;
  if (props?.authenticationData !== undefined && props.authenticationMethod === undefined) {
    conn.refuse(ReasonCode.ProtocolError, 'authentication data without an authentication method', p.protocolVersion);
    return;
  }
  if (props?.authenticationMethod !== undefined) conn.authMethod = props.authenticationMethod;
  // What the client sent behind CONNECT waits undecoded until its tenant's limits apply (CONNACK);
  // an enhanced authentication goes on decoding, for its AUTH packets.
  else conn.decoder.yieldAfterPacket();
  const request: AuthRequest = {
    conn: conn.transport.info,
    protocolVersion: p.protocolVersion,
    clientId,
    username: p.username,
    password: p.password,
    authMethod: props?.authenticationMethod,
    authData: props?.authenticationData,
  };
  authenticate(conn, request, false, (result) => onAuthenticated(conn, p, clientId, assigned, result));
}

export type Authenticated = Extract<AuthResult, { ok: true }>;

/** Authentication said yes: the connection goes on here, or in the process that serves its tenant. */
export function onAuthenticated(conn: Connection, p: ConnectPacket, clientId: string, assigned: boolean, result: Authenticated): void {
  if (conn.state !== ConnState.Authenticating) return; // closed meanwhile
  conn.identity = {
    tenantId: result.tenantId,
    userId: result.userId,
    clientId,
    username: p.username,
    attrs: result.attrs ?? NO_ATTRS,
    conn: conn.transport.info,
    acl: result.acl,
  };
  const background = conn.ctx.background;
  if (background !== undefined && background.serves(result.tenantId)) {
    background.handOff(conn, p, clientId, assigned, result);
    return;
  }
  serveHere(conn, p, clientId, assigned, result);
}

/** Goes on in this process: the tenant's settings, redirection, then the session and CONNACK. */
export function serveHere(conn: Connection, p: ConnectPacket, clientId: string, assigned: boolean, result: Authenticated): void {
  if (conn.state !== ConnState.Authenticating) return; // closed meanwhile
  const settingsReady = conn.ctx.ensureSettings(result.tenantId);
  if (settingsReady) {
    // A tenant seen for the first time: its settings come from the setting provider first.
    conn.block();
    settingsReady.then(() => {
      if (conn.state === ConnState.Authenticating) redirectOrComplete(conn, p, clientId, assigned, result);
      conn.unblock();
    });
    return;
  }
  redirectOrComplete(conn, p, clientId, assigned, result);
}

function redirectOrComplete(conn: Connection, p: ConnectPacket, clientId: string, assigned: boolean, result: Authenticated): void {
  const balancer = conn.ctx.balancer;
  if (!balancer || p.protocolVersion !== 5) {
    completeConnect(conn, p, clientId, assigned, result);
    return;
  }
  // MQTT 5 server redirection: the balancer may send the client elsewhere (0x9C / 0x9D).
  conn.block();
  conn.ctx.pluginGuard.callAsync('balancer.redirect', () => balancer.redirect(conn.identity!), redirectionProblem).then((r) => {
    if (conn.state !== ConnState.Authenticating) return;
    const to = r.ok ? r.value : undefined;
    if (to) {
      const code = to.permanent ? ReasonCode.ServerMoved : ReasonCode.UseAnotherServer;
      conn.refuse(code, to.permanent ? 'server moved' : 'use another server', 5, { serverReference: to.serverReference });
      return;
    }
    completeConnect(conn, p, clientId, assigned, result);
    conn.unblock();
  });
}

function completeConnect(conn: Connection, p: ConnectPacket, clientId: string, assigned: boolean, result: Authenticated): void {
  const ctx = conn.ctx;
  // Its tenant moved to the background process while settings or redirection were decided.
  if (ctx.background !== undefined && ctx.background.serves(result.tenantId)) {
    ctx.background.handOff(conn, p, clientId, assigned, result);
    return;
  }
  const tenant = ctx.tenants.get(result.tenantId);
  // Count the connection in its tenant from now on, so a takeover of the tenant's only other
  // connection does not leave the tenant looking idle (and dropped) midway.
  tenant.connections.add(conn);
  const settings = tenant.settings;
  conn.tenant = tenant;
  conn.settings = settings;
  conn.decoder.maxPacketSize = settings.maxPacketSize;
  conn.topicLimits = topicLimitsOf(settings);

  const refusal = checkAgainstSettings(p, settings);
  if (refusal) {
    conn.refuse(refusal[0], refusal[1], p.protocolVersion);
    return;
  }
  // The will is a publish the broker makes for the client later: the client must be allowed it now.
  const will = p.will;
  if (!will || AuthorizationCache.allowsAll(ctx.auth, conn.identity!)) {
    openSession(conn, p, clientId, assigned, result);
    return;
  }
  const allowed = conn.authorization.check(conn.identity!, 'publish', will.topic, will.qos, will.retain);
  if (allowed === true) openSession(conn, p, clientId, assigned, result);
  else if (allowed === false) refuseWill(conn, p);
  else {
    conn.block();
    allowed.then((ok) => {
      if (conn.state === ConnState.Authenticating) {
        if (ok) openSession(conn, p, clientId, assigned, result);
        else refuseWill(conn, p);
      }
      conn.unblock();
    });
  }
}

/** A will the client may not publish: CONNACK 0x87 (3.1.1: 5, not authorized). */
function refuseWill(conn: Connection, p: ConnectPacket): void {
  const topic = p.will!.topic;
  conn.ctx.events.emit({ type: 'acl.denied', tenantId: conn.tenant!.id, clientId: conn.clientId, action: 'publish', topic });
  conn.refuse(ReasonCode.NotAuthorized, 'not authorized to publish the will', p.protocolVersion);
}

/** The CONNECT passed every check of the tenant's settings: quotas, the session, the CONNACK. */
function openSession(conn: Connection, p: ConnectPacket, clientId: string, assigned: boolean, result: Authenticated): void {
  const ctx = conn.ctx;
  const tenant = conn.tenant!;
  const settings = conn.settings;
  const v5 = p.protocolVersion === 5;
  const props = p.properties;
  // Session expiry: MQTT 5 asks for one; a 3.1.1 persistent session lasts as long as the tenant allows.
  const requestedExpiry = v5 ? (props?.sessionExpiryInterval ?? 0) : p.cleanStart ? 0 : NEVER_EXPIRES;
  const expiry = settings.forceTransient ? 0 : Math.min(requestedExpiry, settings.maxSessionExpiry);
  const cleanStart = p.cleanStart || settings.forceTransient;
  const keepAlive = clampKeepAlive(p.keepAlive, settings, v5);

  const quotaRefusal = checkQuotas(conn, clientId, expiry);
  if (quotaRefusal) {
    conn.refuse(quotaRefusal[0], quotaRefusal[1], p.protocolVersion);
    return;
  }
  const earlier = tenant.sessions.get(clientId);
  const discards = cleanStart && earlier !== undefined && !earlier.ended && earlier.persistent;
  const { session, present } = ctx.sessions.open(tenant, clientId, cleanStart);
  ctx.sessions.setExpiry(session, expiry);
  session.will = p.will ? willOf(p) : undefined;
  conn.session = session;
  const persistence = session.host.persistence;
  // The CONNACK leaves once the store has what it announces: the new persistent session (behind
  // the removal of one a clean start discarded), or the removal of a stored session that a clean
  // start or a transient resume ends; a crash after it cannot bring the old session back.
  let stored: Promise<void> | undefined;
  if (session.persistent) stored = persistence?.sessionChanged(session);
  else if (present || discards) {
    stored = persistence?.sessionEnded(session);
    session.unstore();
  }

  if (v5) {
    conn.sendWindow = props?.receiveMaximum ?? 65535;
    if (props?.topicAliasMaximum) conn.outAliases = new OutboundAliases(props.topicAliasMaximum);
    if (settings.topicAliasMaximum > 0) conn.inAliases = new InboundAliases(settings.topicAliasMaximum);
  } else {
    conn.sendWindow = settings.maxInflightOut;
  }

  conn.state = ConnState.Connected;
  conn.setupLimits();
  tenant.usage.connections++;
  tenant.usage.connects++;
  let properties: Properties | undefined;
  if (v5) {
    properties = connackProperties(p, settings, expiry, keepAlive, assigned ? clientId : undefined);
    if (conn.authMethod !== undefined) {
      properties.authenticationMethod = conn.authMethod;
      if (result.authData) properties.authenticationData = result.authData;
    }
  }
  if (stored !== undefined) {
    // Closed before the store has the session (a failed write, a takeover, a protocol error in what
    // followed CONNECT), the connection drops what it held: the client never sees the CONNACK.
    conn.transport.holdOutput();
    stored.then(
      () => conn.transport.releaseOutput(),
      (err: unknown) => {
        conn.storageFailed(err);
        conn.transport.destroy();
      },
    );
  }
  conn.send({ type: 2, sessionPresent: present, reasonCode: 0, properties });
  // What came behind CONNECT (held since: input-flow.ts) is decoded now, under the tenant's limits.
  if (conn.pendingInput !== undefined) conn.gate.release(Hold.Connack);
  conn.startKeepAlive(keepAlive);
  applyCredentials(conn, result);
  ctx.sessions.started(session, present);
  session.attach(conn);
  ctx.events.emit({
    type: 'client.connected',
    tenantId: tenant.id,
    clientId,
    userId: result.userId,
    address: conn.remoteAddress,
    protocolVersion: p.protocolVersion,
    cleanStart: p.cleanStart,
    sessionPresent: present,
    keepAlive,
    listener: conn.transport.info.listener,
  });
}

/** A reason to refuse the CONNECT under this tenant's settings, or undefined. */
function checkAgainstSettings(p: ConnectPacket, s: TenantSettings): [number, string] | undefined {
  const v = p.protocolVersion;
  if ((v === 3 && !s.mqtt3Enabled) || (v === 4 && !s.mqtt4Enabled) || (v === 5 && !s.mqtt5Enabled)) {
    return [ReasonCode.UnsupportedProtocolVersion, `MQTT protocol level ${v} is not enabled`];
  }
  const will = p.will;
  if (!will) return undefined;
  if (validateTopicName(will.topic, topicLimitsOf(s)) !== 0) {
    return [ReasonCode.TopicNameInvalid, 'invalid will topic'];
  }
  if (will.topic.startsWith('$')) return [ReasonCode.TopicNameInvalid, 'will topic may not start with $'];
  if (will.qos > s.maxQoS) return [ReasonCode.QoSNotSupported, `will QoS above the maximum ${s.maxQoS}`];
  if (will.retain && !s.retainEnabled) return [ReasonCode.RetainNotSupported, 'retain is not available'];
  if (will.payload.length > s.maxWillPayload) return [ReasonCode.PacketTooLarge, 'will payload too large'];
  if (s.payloadFormatValidation && will.properties?.payloadFormatIndicator === 1 && !isUtf8(will.payload)) {
    return [ReasonCode.PayloadFormatInvalid, 'will payload is not UTF-8'];
  }
  return undefined;
}

/** Tenant quotas at connect: connections, connect rate, persistent sessions. */
function checkQuotas(conn: Connection, clientId: string, expiry: number): [number, string] | undefined {
  const tenant = conn.tenant!;
  const quotas = conn.ctx.quotas;
  if (!quotas.allows(tenant, 'connectRate', clientId)) return [ReasonCode.ConnectionRateExceeded, 'connection rate exceeded'];
  tenant.usage.rates.connects.add(conn.ctx.clock.now());
  const existing = tenant.sessions.get(clientId);
  // A takeover replaces a connection of the tenant: it does not add one.
  if (!existing?.connected && !quotas.allows(tenant, 'connections', clientId)) return [ReasonCode.QuotaExceeded, 'connection quota exceeded'];
  // A clean start of a persistent session replaces it: the tenant has no more sessions than before.
  const newPersistent = expiry > 0 && (existing === undefined || !existing.persistent);
  if (newPersistent && !quotas.allows(tenant, 'persistentSessions', clientId)) return [ReasonCode.QuotaExceeded, 'persistent session quota exceeded'];
  return undefined;
}

function clampKeepAlive(requested: number, s: TenantSettings, v5: boolean): number {
  // 0 (no keepalive) is longer than any maximum: an MQTT 5 client of a tenant that sets one is
  // told it (Server Keep Alive); a 3.1.1 client cannot be told, and would never send a PINGREQ.
  let k = v5 && requested === 0 && s.maxKeepAlive < 65535 ? s.maxKeepAlive : requested;
  if (k < s.minKeepAlive) k = s.minKeepAlive;
  if (k > s.maxKeepAlive) k = s.maxKeepAlive;
  return k;
}

function willOf(p: ConnectPacket): WillMessage {
  const w = p.will!;
  return {
    topic: w.topic,
    // The will outlives this read: copy it out of the socket chunk.
    payload: Buffer.from(w.payload),
    qos: w.qos,
    retain: w.retain,
    properties: messagePropertiesOf(w.properties),
    expiryInterval: w.properties?.messageExpiryInterval ?? 0,
    delay: w.properties?.willDelayInterval ?? 0,
  };
}

function connackProperties(
  p: ConnectPacket,
  s: TenantSettings,
  expiry: number,
  keepAlive: number,
  assignedClientId: string | undefined,
): Properties {
  const out: Properties = {};
  if (expiry !== (p.properties?.sessionExpiryInterval ?? 0)) out.sessionExpiryInterval = expiry;
  if (s.receiveMaximum < 65535) out.receiveMaximum = s.receiveMaximum;
  if (s.maxQoS < 2) out.maximumQoS = s.maxQoS;
  if (!s.retainEnabled) out.retainAvailable = 0;
  out.maximumPacketSize = s.maxPacketSize;
  if (assignedClientId !== undefined) out.assignedClientIdentifier = assignedClientId;
  if (s.topicAliasMaximum > 0) out.topicAliasMaximum = s.topicAliasMaximum;
  if (!s.wildcardSubscriptionEnabled) out.wildcardSubscriptionAvailable = 0;
  if (!s.subscriptionIdentifierEnabled) out.subscriptionIdentifierAvailable = 0;
  if (!s.sharedSubscriptionEnabled) out.sharedSubscriptionAvailable = 0;
  if (keepAlive !== p.keepAlive) out.serverKeepAlive = keepAlive;
  return out;
}
