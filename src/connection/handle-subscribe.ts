/**
 * SUBSCRIBE and UNSUBSCRIBE (MQTT 5 sections 3.8-3.11): filter validation, the tenant's settings,
 * authorization, the session's subscriptions, SUBACK/UNSUBACK, and retained messages by Retain Handling.
 */
import type { QoS, SubscribePacket, Subscription, UnsubscribePacket } from '../codec/packets';
import { ReasonCode } from '../codec/reason-codes';
import type { SessionSubscription } from '../session/subscription';
import { parseFilter, type ParsedFilter } from '../topic/validate';
import { ConnState, type Connection } from './connection';
import { subackReturnCode } from './reason-map';

interface Decision {
  req: Subscription;
  parsed: ParsedFilter | undefined;
  /** Failure reason code, or 0 when the filter passed every check but authorization. */
  code: number;
  allowed: boolean | Promise<boolean>;
}

export function handleSubscribe(conn: Connection, p: SubscribePacket): void {
  const s = conn.settings;
  const v5 = conn.protocolVersion === 5;
  const session = conn.session!;
  const tenant = conn.tenant!;
  const subId = v5 ? p.properties?.subscriptionIdentifiers?.[0] : undefined;
  if (subId !== undefined && !s.subscriptionIdentifierEnabled) {
    conn.abort(ReasonCode.SubscriptionIdentifiersNotSupported, 'subscription identifiers are not available');
    return;
  }
  const decisions: Decision[] = [];
  let asyncAnswers = false;
  let added = 0;
  /** Filters this SUBSCRIBE adds: one repeated later in it replaces the first, it adds nothing. */
  let adding: Set<string> | undefined;
  for (let i = 0; i < p.subscriptions.length; i++) {
    const req = p.subscriptions[i]!;
    const d: Decision = { req, parsed: undefined, code: 0, allowed: false };
    decisions.push(d);
    if (i >= s.maxFiltersPerSubscribe) {
      d.code = ReasonCode.QuotaExceeded;
      continue;
    }
    const parsed = parseFilter(req.filter, conn.topicLimits);
    if (typeof parsed === 'number') {
      d.code = parsed;
      continue;
    }
    d.parsed = parsed;
    const exists = session.subscriptions.has(req.filter) || adding?.has(req.filter) === true;
    if (parsed.shareGroup !== undefined) {
      if (req.noLocal) {
        // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
        conn.abort(ReasonCode.ProtocolError, 'No Local on a shared subscription');
        return;
      }
      if (!s.sharedSubscriptionEnabled) {
        d.code = ReasonCode.SharedSubscriptionsNotSupported;
        continue;
      }
      if (!exists && tenant.subscriptions.groupSize(parsed.shareGroup, parsed.filter) >= s.maxSharedGroupMembers) {
        d.code = ReasonCode.QuotaExceeded;
        continue;
      }
    }
    if (parsed.wildcard && !s.wildcardSubscriptionEnabled) {
      d.code = ReasonCode.WildcardSubscriptionsNotSupported;
      continue;
    }
    if (!exists && session.subscriptions.size + added >= s.maxSubscriptionsPerSession) {
      d.code = ReasonCode.QuotaExceeded;
      continue;
    }
    if (!exists) {
      added++;
      (adding ??= new Set()).add(req.filter);
    }
    d.allowed = conn.checkAuthorization ? conn.authorization.check(conn.identity!, 'subscribe', parsed.filter, req.qos, false) : true;
    if (d.allowed instanceof Promise) asyncAnswers = true;
  }
  if (!asyncAnswers) {
    applySubscribe(conn, p, decisions, subId);
    return;
  }
  conn.block();
  Promise.all(decisions.map((d) => d.allowed)).then((answers) => {
    answers.forEach((a, i) => (decisions[i]!.allowed = a));
    if (conn.state === ConnState.Connected) applySubscribe(conn, p, decisions, subId);
    conn.unblock();
  });
}

function applySubscribe(conn: Connection, p: SubscribePacket, decisions: Decision[], subId: number | undefined): void {
  const s = conn.settings;
  const v5 = conn.protocolVersion === 5;
  const session = conn.session!;
  const ctx = conn.ctx;
  const codes: number[] = [];
  const retainedFor: SessionSubscription[] = [];
  for (const d of decisions) {
    if (d.code !== 0 || !d.parsed) {
      codes.push(d.code);
      continue;
    }
    if (d.allowed !== true) {
      codes.push(ReasonCode.NotAuthorized);
      ctx.events.emit({ type: 'acl.denied', tenantId: session.tenantId, clientId: conn.clientId, action: 'subscribe', topic: d.parsed.filter });
      continue;
    }
    const req = d.req;
    const quota = quotaRefusal(conn, req.filter, d.parsed.shareGroup !== undefined);
    if (quota) {
      codes.push(quota);
      continue;
    }
    const granted = (req.qos < s.maxQoS ? req.qos : s.maxQoS) as QoS;
    const sub: SessionSubscription = {
      kind: 'sub',
      session,
      key: req.filter,
      filter: d.parsed.filter,
      wildcard: d.parsed.wildcard,
      group: undefined,
      shareName: d.parsed.shareGroup,
      qos: granted,
      noLocal: v5 && req.noLocal,
      retainAsPublished: v5 && req.retainAsPublished,
      retainHandling: v5 ? req.retainHandling : 0,
      subscriptionId: subId,
    };
    const isNew = ctx.sessions.subscribe(session, sub);
    codes.push(granted);
    // [MQTT-3.8.4-4] Retain Handling 0 sends retained messages on every subscribe, 1 only on a new one.
    // Shared subscriptions get no retained messages.
    if (sub.shareName === undefined && s.retainEnabled && (sub.retainHandling === 0 || (sub.retainHandling === 1 && isNew))) {
      retainedFor.push(session.subscriptions.get(sub.key)!);
    }
  }
  const stored = session.persistent ? session.host.persistence?.sessionChanged(session) : undefined;
  const sent = conn.sendAfter(stored, { type: 9, packetId: p.packetId, reasonCodes: v5 ? codes : codes.map(subackReturnCode) });
  if (retainedFor.length === 0) return;
  if (sent === undefined) sendRetained(conn, retainedFor);
  else sent.then(() => conn.state === ConnState.Connected && sendRetained(conn, retainedFor));
}

/** Tenant quotas for one filter: subscribe rate, and the subscription counts for a new one. */
function quotaRefusal(conn: Connection, key: string, shared: boolean): number {
  const tenant = conn.tenant!;
  const session = conn.session!;
  const quotas = conn.ctx.quotas;
  if (!quotas.allows(tenant, 'subscribeRate', conn.clientId)) return ReasonCode.QuotaExceeded;
  tenant.usage.rates.subscribes.add(conn.ctx.clock.now());
  if (session.subscriptions.has(key)) return 0;
  if (!quotas.allows(tenant, session.persistent ? 'persistentSubscriptions' : 'transientSubscriptions', conn.clientId)) {
    return ReasonCode.QuotaExceeded;
  }
  if (shared && !quotas.allows(tenant, 'sharedSubscriptions', conn.clientId)) return ReasonCode.QuotaExceeded;
  return 0;
}

/** Retained messages for new subscriptions, after the SUBACK. */
function sendRetained(conn: Connection, subs: SessionSubscription[]): void {
  const ctx = conn.ctx;
  const session = conn.session!;
  const now = ctx.clock.now();
  const limit = conn.settings.retainedMatchLimit;
  const tenant = conn.tenant!;
  const matches = tenant.usage.rates.retainedMatches;
  for (const sub of subs) {
    const found = ctx.retained.match(session.tenantId, sub.filter, limit, now);
    const subIds = sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined;
    for (const msg of found) {
      if (!ctx.quotas.allows(tenant, 'retainedMatchRate', conn.clientId)) return;
      matches.add(now);
      // [MQTT-3.3.1-9] retained messages sent on subscribe carry RETAIN 1.
      const qos = (msg.qos < sub.qos ? msg.qos : sub.qos) as QoS;
      session.deliver(msg, qos, true, subIds, undefined)?.catch(() => undefined);
    }
  }
}

export function handleUnsubscribe(conn: Connection, p: UnsubscribePacket): void {
  if (!conn.checkAuthorization) {
    applyUnsubscribe(conn, p, undefined);
    return;
  }
  const answers = p.filters.map((f) => conn.authorization.check(conn.identity!, 'unsubscribe', stripShare(f), 0, false));
  if (!answers.some((a) => a instanceof Promise)) {
    applyUnsubscribe(conn, p, answers as boolean[]);
    return;
  }
  conn.block();
  Promise.all(answers).then((allowed) => {
    if (conn.state === ConnState.Connected) applyUnsubscribe(conn, p, allowed);
    conn.unblock();
  });
}

function stripShare(filter: string): string {
  const parsed = parseFilter(filter);
  return typeof parsed === 'number' ? filter : parsed.filter;
}

/**
 * UNSUBSCRIBE. Each filter counts against the tenant's subscribe rate. Over the rate, MQTT 5 refuses
 * the filter with 0x80 (UNSUBACK has no quota code, section 3.11.2.2) and says why in a reason
 * string; 3.1/3.1.1 cannot refuse an unsubscribe (its UNSUBACK reads as success), so the filter is
 * removed, and counted, all the same.
 */
function applyUnsubscribe(conn: Connection, p: UnsubscribePacket, allowed: boolean[] | undefined): void {
  const session = conn.session!;
  const v5 = conn.protocolVersion === 5;
  const codes: number[] = [];
  const tenant = conn.tenant!;
  let overRate = false;
  for (let i = 0; i < p.filters.length; i++) {
    if (allowed && !allowed[i]) {
      codes.push(ReasonCode.NotAuthorized);
      continue;
    }
    if (!conn.ctx.quotas.allows(tenant, 'subscribeRate', conn.clientId) && v5) {
      overRate = true;
      codes.push(ReasonCode.UnspecifiedError);
      continue;
    }
    tenant.usage.rates.subscribes.add(conn.ctx.clock.now());
    const removed = conn.ctx.sessions.unsubscribe(session, p.filters[i]!);
    codes.push(removed ? 0 : ReasonCode.NoSubscriptionExisted);
  }
  const stored = session.persistent ? session.host.persistence?.sessionChanged(session) : undefined;
  const properties = overRate && conn.problemInformation ? { reasonString: 'subscribe rate quota exceeded' } : undefined;
  conn.sendAfter(stored, { type: 11, packetId: p.packetId, reasonCodes: v5 ? codes : [], properties });
}
