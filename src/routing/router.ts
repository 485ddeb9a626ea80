/**
 * Who gets a PUBLISH: local fan-out over one tenant's subscription table.
 *
 * Overlapping subscriptions of one session give it one delivery at the highest granted QoS carrying
 * every matching subscription identifier (MQTT 5 section 3.3.4). Sessions are merged through scratch
 * fields stamped with a per-publish mark, so routing allocates nothing beyond the deliveries.
 * A shared group gives each message to one member, round robin over the members that can take it.
 */
import type { QoS } from '../codec/packets';
import type { Session } from '../session/session';
import type { Outbound } from '../session/outbound';
import type { SessionSubscription, SharedGroup } from '../session/subscription';
import type { Message } from './message';
import type { SubscriptionTable } from './subscription-table';

/** What routing did with a message. The router reuses one object: read it before routing again. */
export interface RouteResult {
  /** Sessions (or shared groups) the message went to. */
  matched: number;
  /** Resolves when the message is durable for every persistent session it reached; undefined if none. */
  durable: Promise<void> | undefined;
  /** The connected session with the longest queue it went to (the slowest live subscriber), if any queued. */
  slowest: Session | undefined;
}

export class Router {
  private mark = 0;
  private readonly scratch: Session[] = [];
  private pending: Promise<void>[] = [];

  route(table: SubscriptionTable, msg: Message): RouteResult {
    const entries = table.match(msg.topic);
    const n = entries.length;
    this.backlog = 0;
    this.slowest = undefined;
    if (n === 0) return this.result(0, undefined);
    if (n === 1) {
      const entry = entries[0]!;
      const p = entry.kind === 'group' ? this.toGroup(entry, msg, undefined) : this.toOne(entry, msg);
      return this.result(p === null ? 0 : 1, p ?? undefined);
    }
    const mark = ++this.mark;
    const scratch = this.scratch;
    let matched = 0;
    for (let i = 0; i < n; i++) {
      const entry = entries[i]!;
      if (entry.kind === 'group') {
        const p = this.toGroup(entry, msg, undefined);
        if (p !== null) matched++;
        if (p) this.pending.push(p);
        continue;
      }
      const s = entry.session;
      if (entry.noLocal && s.clientId === msg.origin) continue;
      const qos = (entry.qos < msg.qos ? entry.qos : msg.qos) as QoS;
      const retain = entry.retainAsPublished && msg.retain;
      const subId = entry.subscriptionId;
      if (s.routeMark !== mark) {
        s.routeMark = mark;
        s.routeQoS = qos;
        s.routeRetain = retain;
        s.routeSubIds = subId !== undefined ? [subId] : undefined;
        scratch.push(s);
      } else {
        if (qos > s.routeQoS) s.routeQoS = qos;
        if (retain) s.routeRetain = true;
        if (subId !== undefined) (s.routeSubIds ??= []).push(subId);
      }
    }
    for (let i = 0; i < scratch.length; i++) {
      const s = scratch[i]!;
      const p = s.deliver(msg, s.routeQoS, s.routeRetain, s.routeSubIds, undefined);
      if (p) this.pending.push(p);
      this.noteBacklog(s);
    }
    matched += scratch.length;
    scratch.length = 0;
    return this.result(matched, this.collect());
  }

  /** One result object reused for every publish (read at once by the caller): no allocation. */
  private readonly last: RouteResult = { matched: 0, durable: undefined, slowest: undefined };

  private result(matched: number, durable: Promise<void> | undefined): RouteResult {
    const r = this.last;
    r.matched = matched;
    r.durable = durable;
    r.slowest = this.slowest;
    return r;
  }

  private backlog = 0;
  private slowest: Session | undefined = undefined;

  /**
   * Remembers the live session furthest behind: one whose socket is congested, else the longest
   * queue. A stalled one is passed over: its publishers are not paused for it, and must not miss a
   * slow subscriber behind it.
   */
  private noteBacklog(s: Session): void {
    const link = s.link;
    if (link === undefined || this.backlog === CONGESTED) return;
    const q = link.writable ? s.queue.length : s.stalling ? -1 : CONGESTED;
    if (q > this.backlog) {
      this.backlog = q;
      this.slowest = s;
    }
  }

  /** Gives a message another member of its group after its member left (or back to it if it is the only one). */
  redispatch(group: SharedGroup, out: Outbound, leaving: Session): void {
    const p = this.toGroup(group, out.msg, leaving);
    if (p === null) {
      const own = group.members.find((m) => m.session === leaving);
      if (own) own.session.deliver(out.msg, out.qos, out.retain, out.subIds, group);
    }
  }

  /** One regular subscription: null when No Local skips it. */
  private toOne(sub: SessionSubscription, msg: Message): Promise<void> | undefined | null {
    if (sub.noLocal && sub.session.clientId === msg.origin) return null;
    const qos = (sub.qos < msg.qos ? sub.qos : msg.qos) as QoS;
    const subIds = sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined;
    const p = sub.session.deliver(msg, qos, sub.retainAsPublished && msg.retain, subIds, undefined);
    this.noteBacklog(sub.session);
    return p;
  }

  /** One member of a shared group: null when the group has no member to take it. */
  private toGroup(group: SharedGroup, msg: Message, exclude: Session | undefined): Promise<void> | undefined | null {
    const member = pickMember(group, msg.qos, exclude);
    if (!member) return null;
    const qos = (member.qos < msg.qos ? member.qos : msg.qos) as QoS;
    const subIds = member.subscriptionId !== undefined ? [member.subscriptionId] : undefined;
    const p = member.session.deliver(msg, qos, member.retainAsPublished && msg.retain, subIds, group);
    this.noteBacklog(member.session);
    return p;
  }

  private collect(): Promise<void> | undefined {
    const pending = this.pending;
    if (pending.length === 0) return undefined;
    this.pending = [];
    if (pending.length === 1) return pending[0];
    return Promise.all(pending).then(noop);
  }
}

function noop(): void {}

/** Backlog score of a session whose socket cannot take more now. */
const CONGESTED = 0x7fffffff;

/**
 * Round robin over members, preferring one that is connected and has room; then any connected one;
 * then any (an offline persistent member queues the message).
 */
function pickMember(group: SharedGroup, qos: QoS, exclude: Session | undefined): SessionSubscription | undefined {
  const members = group.members;
  const n = members.length;
  if (n === 0) return undefined;
  const start = group.next % n;
  let connected = -1;
  let anyMember = -1;
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    const m = members[i]!;
    const s = m.session;
    if (s === exclude || s.ended) continue;
    if (anyMember < 0) anyMember = i;
    const link = s.link;
    if (!link) continue;
    if (connected < 0) connected = i;
    if (link.writable && s.queue.length === 0 && (qos === 0 || s.inflightCount < link.sendWindow)) {
      group.next = i + 1;
      return m;
    }
  }
  const chosen = connected >= 0 ? connected : anyMember;
  if (chosen < 0) return undefined;
  group.next = chosen + 1;
  return members[chosen];
}
