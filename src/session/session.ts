/**
 * A session: the state that outlives a network connection (MQTT 5 section 4.1). Subscriptions,
 * QoS 1/2 messages in flight towards the client and queued behind them, QoS 2 packet ids received
 * from the client and not yet released, the will, and the expiry.
 *
 * Delivery is synchronous on the hot path: a message for a connected client with room in its window
 * is written straight away; otherwise it waits in a bounded queue.
 */
import type { QoS } from '../codec/packets';
import type { Message } from '../routing/message';
import type { DropReason } from '../plugins/events';
import type { DeadlineHandle } from '../util/deadline-scheduler';
import { Deque } from '../util/deque';
import { TurnBatch } from '../util/turn-batch';
import { STALL_BACKLOG, backlogFar, backlogHigh, backlogLow, stallWindow } from './backlog';
import { OutState, type Outbound, type SessionLink } from './outbound';
import { resendInflight, resendWaiting } from './resend';
import type { SessionPersistence } from './session-persistence';
import type { SessionSubscription, SharedGroup } from './subscription';
import type { WillMessage } from './will';

/** What a session needs from the rest of the broker. */
export interface SessionHost {
  readonly tenantId: string;
  now(): number;
  /** Queue limits, read per message so that setting changes apply. */
  inboxSize(): number;
  dropPolicy(): 'oldest' | 'newest';
  queueQoS0Offline(): boolean;
  dropped(session: Session, msg: Message, qos: number, reason: DropReason): void;
  /** Whether `bytes` more may be held in memory for this session (tenant quotas). */
  admit(session: Session, bytes: number): boolean;
  /** Bytes held in memory for the session moved by `delta` (tenant usage). */
  held(session: Session, delta: number): void;
  /** Gives a message that came through a shared group to another member. */
  redispatch(group: SharedGroup, out: Outbound, leaving: Session): void;
  /** Durable persistence of persistent sessions; undefined when nothing is persisted. */
  readonly persistence: SessionPersistence | undefined;
}

/** Publishers resumed at once when a subscriber has caught up. */
const WAKE_AT_ONCE = 8;

/** Sessions that woke some of their paused publishers this turn and may wake more at its end. */
const wakeLater = new TurnBatch<Session>((s) => s.wakeMore());

/** A publisher paused until a subscriber's queue drains. */
export interface BackpressureWaiter {
  resumeFromBackpressure(): void;
}

/** Bytes a held message is charged for (payload, topic and bookkeeping). */
export function sizeOf(msg: Message): number {
  return msg.payload.length + msg.topic.length + 64;
}

export class Session {
  link: SessionLink | undefined = undefined;
  private subscriptionMap: Map<string, SessionSubscription> | undefined = undefined;
  readonly queue = new Deque<Outbound>();
  // Allocated on first use: an idle session holds no collections.
  private inflightMap: Map<number, Outbound> | undefined = undefined;
  private incoming: Set<number> | undefined = undefined;
  /** Seconds; 0 ends the session with its connection; 0xFFFFFFFF never expires. */
  expiryInterval = 0;
  will: WillMessage | undefined = undefined;
  /** When the last connection ended (ms), 0 while connected. */
  disconnectedAt = 0;
  /** Expiry or will-delay deadline while disconnected. */
  expiryHandle: DeadlineHandle | undefined = undefined;
  willHandle: DeadlineHandle | undefined = undefined;
  ended = false;
  /** Set while a new connection takes the session over (its end, if any, is reported so). */
  takenOver = false;
  /** Sequence of the last outbound stored in the durable inbox. */
  lastSeq = 0;
  private nextPacketId = 1;

  /** Publishers paused because this session fell behind; woken when its queue has drained. */
  private waiters: BackpressureWaiter[] | undefined = undefined;
  /** Last time the client acknowledged or read something (ms). */
  private progressAt = 0;
  /** The link's `bytesTaken` when last looked at: more since then is progress. */
  private takenSeen = 0;
  /** In-flight messages of a resumed session not resent yet: over the client's Receive Maximum. */
  private resendLater: Outbound[] | undefined = undefined;

  // Scratch space of the router while it merges overlapping subscriptions of one publish.
  routeMark = 0;
  routeQoS: QoS = 0;
  routeRetain = false;
  routeSubIds: number[] | undefined = undefined;

  constructor(
    readonly host: SessionHost,
    readonly clientId: string,
  ) {}

  get tenantId(): string {
    return this.host.tenantId;
  }

  /** The session's subscriptions by filter as subscribed (created when first needed). */
  get subscriptions(): Map<string, SessionSubscription> {
    return (this.subscriptionMap ??= new Map());
  }

  /** Outgoing QoS 1/2 messages with a packet id, in the order they were sent. */
  get inflight(): Map<number, Outbound> {
    return (this.inflightMap ??= new Map());
  }

  /** Number of outgoing messages in flight (without allocating). */
  get inflightCount(): number {
    return this.inflightMap === undefined ? 0 : this.inflightMap.size;
  }

  /** Packet ids of QoS 2 PUBLISHes received and not yet released by PUBREL. */
  get incomingQoS2(): Set<number> {
    return (this.incoming ??= new Set());
  }

  /** Number of received QoS 2 ids not yet released (without allocating). */
  get incomingQoS2Count(): number {
    return this.incoming === undefined ? 0 : this.incoming.size;
  }

  get persistent(): boolean {
    return this.expiryInterval > 0;
  }

  get connected(): boolean {
    return this.link !== undefined;
  }

  /**
   * Delivers a message at `qos` (already reduced to the subscription's maximum). Returns a promise
   * when the message had to be stored durably first (persistent sessions), else undefined.
   */
  deliver(
    msg: Message,
    qos: QoS,
    retain: boolean,
    subIds: number[] | undefined,
    group: SharedGroup | undefined,
  ): Promise<void> | undefined {
    if (this.ended) return undefined;
    const link = this.link;
    if (qos === 0) {
      if (link !== undefined) {
        const writable = link.writable;
        if (writable && this.queue.length === 0) {
          const refused = link.writePublish(msg, 0, retain, subIds, 0, false);
          if (refused !== undefined) this.host.dropped(this, msg, 0, refused);
          return undefined;
        }
        // The socket is full. A client that keeps reading, however slowly, gets the message queued
        // (and its publishers slowed down); one that stopped reading loses it.
        if (!writable && this.stalled(link)) {
          this.host.dropped(this, msg, 0, 'congested');
          return undefined;
        }
      } else if (!this.host.queueQoS0Offline()) {
        return undefined;
      }
    }
    if (!this.host.admit(this, sizeOf(msg))) {
      this.host.dropped(this, msg, qos, 'quota');
      return undefined;
    }
    const out: Outbound = { msg, qos, retain, subIds, group, packetId: 0, state: OutState.Queued, seq: 0 };
    if (qos > 0 && link !== undefined && this.queue.length === 0 && this.inflightCount < link.sendWindow && link.writable) {
      return this.send(out, link, true);
    }
    return this.enqueue(out);
  }

  /** PUBACK from the client. Returns false for an unknown packet id. */
  acknowledge(packetId: number): boolean {
    const out = this.inflightMap?.get(packetId);
    if (!out || out.qos !== 1) return false;
    this.progressAt = this.host.now();
    this.complete(out);
    return true;
  }

  /** PUBREC from the client: answer PUBREL, or forget the message when the client refused it. */
  received(packetId: number, refused: boolean): boolean {
    const out = this.inflightMap?.get(packetId);
    if (!out || out.qos !== 2) return false;
    if (refused) {
      this.complete(out);
      return true;
    }
    const link = this.link;
    if (out.state === OutState.Published) {
      out.state = OutState.Released;
      const stored = out.seq !== 0 ? this.host.persistence?.outboundChanged(this, out) : undefined;
      if (stored !== undefined && link !== undefined) {
        // [MQTT-4.3.3] once PUBREL is sent the PUBLISH must never be resent: PUBREL waits until the
        // released state is durable, so a restart cannot resend the PUBLISH.
        stored.then(
          () => {
            if (this.link === link && this.inflight.get(packetId) === out) link.writePubrel(packetId);
          },
          () => undefined,
        );
        return true;
      }
    }
    link?.writePubrel(packetId);
    return true;
  }

  /** PUBCOMP from the client. */
  completed(packetId: number): boolean {
    const out = this.inflightMap?.get(packetId);
    if (!out || out.qos !== 2 || out.state !== OutState.Released) return false;
    this.complete(out);
    return true;
  }

  /** Attaches a connection and resends what was in flight (DUP set), then drains the queue. */
  attach(link: SessionLink): void {
    this.link = link;
    this.progressAt = this.host.now();
    this.takenSeen = link.transport.bytesTaken;
    this.disconnectedAt = 0;
    this.resendLater = resendInflight(this.inflight, link, (out) => this.complete(out, false));
    this.drain();
  }

  /** Detaches the connection. Messages of shared groups go to other members of their group. */
  detach(now: number): void {
    this.link = undefined;
    this.resendLater = undefined;
    this.disconnectedAt = now;
    this.releaseShared();
    this.wakeWaiters();
  }

  /** Sends queued messages while the window and the socket allow. */
  drain(): void {
    const link = this.link;
    if (!link) return;
    if (this.resendLater !== undefined) this.resendLater = resendWaiting(this.resendLater, this.inflight, link, (out) => this.complete(out, false));
    const now = this.host.now();
    while (this.queue.length > 0) {
      const out = this.queue.peek()!;
      if (out.msg.isExpired(now)) {
        this.queue.shift();
        this.release(out);
        this.dropStored(out, 'expired');
        continue;
      }
      if (!link.writable) break;
      if (out.qos === 0) {
        this.queue.shift();
        this.release(out);
        const refused = link.writePublish(out.msg, 0, out.retain, out.subIds, 0, false);
        if (refused !== undefined) this.host.dropped(this, out.msg, 0, refused);
        if (out.seq !== 0) this.host.persistence?.outboundRemoved(this, out);
        continue;
      }
      if (this.inflightCount >= link.sendWindow) break;
      this.queue.shift();
      this.send(out, link, false);
    }
    if (this.waiters !== undefined && this.queue.length <= backlogLow(this.host.inboxSize()) && link.writable) this.wakeWaiters(WAKE_AT_ONCE);
  }

  /**
   * Pauses `waiter` while this live session falls behind (its socket is full, or its queue is long)
   * until it has caught up (or goes away). Returns false when there is no need to wait.
   */
  holdBack(waiter: BackpressureWaiter): boolean {
    const link = this.link;
    if (link === undefined) return false;
    if (this.queue.length <= backlogHigh(this.host.inboxSize()) && link.writable) return false;
    // A client that stopped reading or acknowledging is not waited for: it must not slow everyone
    // else down; its queue fills and overflows instead.
    if (this.stalled(link)) return false;
    const w = (this.waiters ??= []);
    if (!w.includes(waiter)) w.push(waiter);
    return true;
  }

  /**
   * Whether this session's queue is twice past the point at which its publishers are paused: a
   * publisher should then stop decoding what it already sent, not only stop being read.
   */
  farBehind(): boolean {
    return this.queue.length > backlogFar(this.host.inboxSize());
  }

  /**
   * Whether the client stopped consuming: its socket holds a backlog the kernel will not take and
   * the kernel has taken nothing, nor the client acknowledged anything, lately. A client whose
   * socket still takes data is only behind this turn's burst, and one that reads slowly or in
   * bursts is slow, not stalled.
   */
  private stalled(link: SessionLink): boolean {
    const now = this.host.now();
    const output = link.transport;
    const taken = output.bytesTaken;
    if (taken > this.takenSeen) {
      this.takenSeen = taken;
      this.progressAt = now;
    }
    const backlog = output.socketBacklog;
    return backlog > STALL_BACKLOG && now - this.progressAt > stallWindow(backlog);
  }

  /** Whether the attached client stopped consuming (see `stalled`): publishers never wait for it. */
  get stalling(): boolean {
    const link = this.link;
    return link !== undefined && this.stalled(link);
  }

  /** The client read or acknowledged something: it is consuming, if slowly. */
  progressed(now: number): void {
    this.progressAt = now;
  }

  /**
   * Resumes paused publishers: all of them (`limit` omitted: the session went away), or the first
   * `limit` in line — a few at a time, since each one resumed brings a whole socket read at once.
   */
  private wakeWaiters(limit = Infinity): void {
    const w = this.waiters;
    if (w === undefined) return;
    if (w.length <= limit) {
      this.waiters = undefined;
      for (let i = 0; i < w.length; i++) w[i]!.resumeFromBackpressure();
      return;
    }
    const woken = w.splice(0, limit);
    for (let i = 0; i < woken.length; i++) woken[i]!.resumeFromBackpressure();
    // The rest are woken next turn if the queue is still short then: waiting for the socket's next
    // drain would leave them paused for as long as the few woken ones do not fill it again.
    wakeLater.add(this);
  }

  /** Wakes the next publishers in line if this session is still caught up (see wakeLater). */
  wakeMore(): void {
    const link = this.link;
    if (this.waiters === undefined || link === undefined) return;
    if (this.queue.length <= backlogLow(this.host.inboxSize()) && link.writable) this.wakeWaiters(WAKE_AT_ONCE);
  }

  /** Number of queued plus in-flight messages. */
  get pendingCount(): number {
    return this.queue.length + this.inflightCount;
  }

  /** Drops everything queued and in flight (session ended or clean start). */
  clearMessages(): void {
    this.wakeWaiters();
    for (const out of this.queue) this.release(out);
    if (this.inflightMap !== undefined) for (const out of this.inflightMap.values()) this.release(out);
    this.queue.clear();
    this.inflightMap = undefined;
    this.resendLater = undefined;
    this.incoming = undefined;
  }

  /** The stored copy of the session is gone (resumed as transient): its messages are not stored either. */
  unstore(): void {
    for (const out of this.queue) out.seq = 0;
    if (this.inflightMap !== undefined) for (const out of this.inflightMap.values()) out.seq = 0;
  }

  /** Puts a stored inbox entry back (restart recovery): queued, or in flight with its packet id. */
  restoreOutbound(out: Outbound): void {
    this.host.held(this, sizeOf(out.msg));
    if (out.state === OutState.Queued || out.packetId === 0 || this.inflight.has(out.packetId)) {
      out.state = OutState.Queued;
      this.queue.push(out);
    } else {
      this.inflight.set(out.packetId, out);
    }
  }

  /** Memory accounting when an outbound leaves the session. */
  private release(out: Outbound): void {
    this.host.held(this, -sizeOf(out.msg));
  }

  /**
   * Gives queued and in-flight QoS 1 messages of shared groups to other members; QoS 2 in flight
   * stays [MQTT-4.8.2-4], and so does everything of a group without another member: it is resent
   * to this client (DUP set, same packet id) when it reconnects.
   */
  private releaseShared(): void {
    let moved: Outbound[] | undefined;
    if (this.inflightMap !== undefined) for (const out of this.inflightMap.values()) {
      if (out.group && out.qos === 1 && out.state === OutState.Published && this.shares(out.group)) (moved ??= []).push(out);
    }
    if (moved) for (const out of moved) this.complete(out, false);
    if (this.queue.length > 0) {
      this.queue.removeWhere((out) => {
        if (!out.group || !this.shares(out.group)) return false;
        (moved ??= []).push(out);
        this.release(out);
        if (out.seq !== 0) this.host.persistence?.outboundRemoved(this, out);
        return true;
      });
    }
    if (moved === undefined) return;
    const now = this.host.now();
    for (const out of moved) {
      // [MQTT-3.3.2-5] a message that expired is not delivered to the member it would go to now.
      if (out.msg.isExpired(now)) this.host.dropped(this, out.msg, out.qos, 'expired');
      else this.host.redispatch(out.group!, out, this);
    }
  }

  /** Whether `group` has a member besides this session. */
  private shares(group: SharedGroup): boolean {
    return group.members.some((m) => m.session !== this);
  }

  private send(out: Outbound, link: SessionLink, fresh: boolean): Promise<void> | undefined {
    if (fresh) this.host.held(this, sizeOf(out.msg));
    const packetId = this.allocatePacketId();
    out.packetId = packetId;
    out.state = OutState.Published;
    this.inflight.set(packetId, out);
    let stored: Promise<void> | undefined;
    if (fresh) stored = this.store(out);
    else if (out.seq !== 0) stored = this.host.persistence?.outboundChanged(this, out);
    if (out.qos === 2 && stored !== undefined) {
      // Exactly once across a crash: a QoS 2 PUBLISH leaves only once its packet id is durable, so
      // after a restart it is resent with the same id (DUP) and never as a new message.
      stored.then(
        () => {
          if (this.link === link && this.inflight.get(packetId) === out) this.write(out, link, packetId);
        },
        () => undefined,
      );
    } else {
      this.write(out, link, packetId);
    }
    return fresh ? stored : undefined;
  }

  private write(out: Outbound, link: SessionLink, packetId: number): void {
    const refused = link.writePublish(out.msg, out.qos, out.retain, out.subIds, packetId, false);
    if (refused !== undefined) {
      this.complete(out, false);
      this.host.dropped(this, out.msg, out.qos, refused);
    }
  }

  private enqueue(out: Outbound): Promise<void> | undefined {
    if (this.queue.length >= this.host.inboxSize()) {
      if (this.host.dropPolicy() === 'newest') {
        this.host.dropped(this, out.msg, out.qos, 'queue-full');
        return undefined;
      }
      const oldest = this.queue.shift()!;
      this.release(oldest);
      this.dropStored(oldest, 'queue-full');
    }
    out.msg.own();
    this.queue.push(out);
    this.host.held(this, sizeOf(out.msg));
    return this.store(out);
  }

  private store(out: Outbound): Promise<void> | undefined {
    const persistence = this.host.persistence;
    if (persistence === undefined || this.expiryInterval === 0) return undefined;
    out.msg.own();
    out.seq = ++this.lastSeq;
    return persistence.outboundAdded(this, out);
  }

  private dropStored(out: Outbound, reason: DropReason): void {
    if (out.seq !== 0) this.host.persistence?.outboundRemoved(this, out);
    this.host.dropped(this, out.msg, out.qos, reason);
  }

  private complete(out: Outbound, drain = true): void {
    this.inflightMap?.delete(out.packetId);
    this.release(out);
    if (out.seq !== 0) this.host.persistence?.outboundRemoved(this, out);
    if (drain && (this.queue.length > 0 || this.resendLater !== undefined)) this.drain();
  }

  private allocatePacketId(): number {
    // Ids in use are at most the window (<= 65535), so this finds a free one.
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 65535 ? 1 : id + 1;
      if (this.inflightMap === undefined || !this.inflightMap.has(id)) return id;
    }
  }
}
