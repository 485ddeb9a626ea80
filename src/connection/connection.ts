/**
 * One client connection: the MQTT protocol state machine between a transport and a session.
 *
 * Bytes come in through `onData`, are decoded into packets and dispatched on the connection state
 * (awaiting CONNECT, authenticating, connected, closed). Packets that arrive while an asynchronous
 * decision is pending (authentication, an asynchronous ACL answer) are held, and the socket is paused,
 * so packets are always handled in order. Version differences live in this folder only.
 */
import { consumeInput, endWhenIdle, inputUnblocked, readInput, reportPendingError } from './input-flow';
import { PacketDecoder, type DecodeError, type PacketSink } from '../codec/decoder';
import type { Packet, Properties, ProtocolVersion, QoS } from '../codec/packets';
import type { DropReason } from '../plugins/events';
import { handleAuth, type AuthExchange } from './authentication';
import { AuthorizationCache } from './authorization';
import { TrafficLimits } from './traffic-limits';
import { Hold, InputGate, type GateListener } from './input-gate';
import type { Pausable } from '../tenant/fair-scheduler';
import { ReasonCode, reasonName } from '../codec/reason-codes';
import type { ClientIdentity } from '../plugins/types';
import type { Message } from '../routing/message';
import type { BackpressureWaiter, Session } from '../session/session';
import type { SessionOwner } from '../session/session-manager';
import { DEFAULT_TENANT_SETTINGS, type TenantSettings } from '../tenant/settings';
import type { Tenant } from '../tenant/tenant';
import type { Transport, TransportHandler } from '../transport/transport';
import { DEFAULT_TOPIC_LIMITS, type TopicLimits } from '../topic/validate';
import type { DeadlineHandle, DeadlineTarget } from '../util/deadline-scheduler';
import type { ConnectionContext } from './context';
import { handleConnect } from './handle-connect';
import { handlePacket } from './handle-packet';
import { AckSequencer, type AckSender } from './ack-sequencer';
import { ownEncoding, writeShared } from './publish-encoder';
import { connackRefusal, encodeWithin } from './reason-map';
import type { InboundAliases, OutboundAliases } from './topic-aliases';

/** Longest a publisher waits for a slow subscriber before it is read again (and re-checked). */
const BACKPRESSURE_MAX_MS = 250;

export const ConnState = {
  AwaitingConnect: 0,
  Authenticating: 1,
  Connected: 2,
  Closed: 3,
} as const;
export type ConnStateCode = (typeof ConnState)[keyof typeof ConnState];

export class Connection implements TransportHandler, PacketSink, SessionOwner, DeadlineTarget, Pausable, BackpressureWaiter, AckSender, GateListener {
  state: ConnStateCode = ConnState.AwaitingConnect;
  readonly decoder: PacketDecoder;
  protocolVersion: ProtocolVersion = 4;
  clientId = '';
  tenant: Tenant | undefined;
  session: Session | undefined;
  identity: ClientIdentity | undefined;
  /** Settings of the tenant as they were when this connection was accepted. */
  settings: TenantSettings = DEFAULT_TENANT_SETTINGS;
  topicLimits: TopicLimits = DEFAULT_TOPIC_LIMITS;
  /** Keepalive in ms after the 1.5x rule (0: none). */
  keepAliveTimeout = 0;
  lastActivity: number;
  /** The client's Receive Maximum: QoS 1/2 PUBLISHes we may have in flight towards it. */
  sendWindow = 65535;
  /** The client's Maximum Packet Size. */
  clientMaxPacketSize = Number.MAX_SAFE_INTEGER;
  inAliases: InboundAliases | undefined;
  outAliases: OutboundAliases | undefined;
  /** Whether the client wants reason strings and user properties on errors (MQTT 5). */
  problemInformation = true;
  /** The MQTT 5 authentication method of the CONNECT (re-authentication must use it). */
  authMethod: string | undefined;
  /** An MQTT 5 enhanced authentication exchange in progress. */
  authExchange: AuthExchange | undefined;
  private authCache: AuthorizationCache | undefined = undefined;
  /** Whether publish/subscribe/receive need authorization at all (false: no rules, no authorizer). */
  checkAuthorization = false;
  /** Whether every delivery is authorized (auth.checkDelivery). */
  checkDelivery = false;
  /** End of the credentials' validity (see authentication.ts). */
  credentialsDeadline: DeadlineHandle | undefined;
  /** Rate limits and quotas watching this connection's traffic, if any. */
  limits: TrafficLimits | undefined = undefined;
  /** Why the socket is not being read (see input-gate.ts); created the first time it is paused. */
  private inputGate: InputGate | undefined = undefined;
  /** Chunks fair scheduling holds for a later turn (see FairScheduler). */
  fairChunks: Buffer[] | undefined = undefined;
  /** Whether fair scheduling keeps it paused in its tenant's line of connections waiting to read. */
  waitingToRead = false;
  /** Input left undecoded while the connection was paused, fair scheduling off (see input-flow.ts). */
  pendingInput: Buffer | undefined = undefined;
  /** A decode error met while earlier packets were still held: reported once they are handled. */
  pendingError: DecodeError | undefined;
  /** Pending asynchronous decisions; while above 0, packets are held and the socket is paused. */
  private blocked = 0;
  /** Packets held while `blocked` (given up whole when the connection changes process: handoff.ts). */
  held: Packet[] | undefined;
  private deadline: DeadlineHandle | undefined;
  private acks: AckSequencer | undefined = undefined;

  constructor(
    readonly transport: Transport,
    readonly ctx: ConnectionContext,
    connectTimeoutMs: number,
    maxPacketSize: number,
  ) {
    this.decoder = new PacketDecoder(this, { maxPacketSize });
    this.lastActivity = ctx.clock.now();
    transport.bind(this);
    ctx.connections.add(this);
    this.deadline = ctx.scheduler.schedule(this.lastActivity + connectTimeoutMs, this);
  }

  /** Authorization answers of this connection (created when first needed). */
  get authorization(): AuthorizationCache {
    return (this.authCache ??= new AuthorizationCache(this.ctx.auth, this.ctx.aclCacheMs, this.ctx.clock));
  }

  /** Forgets every authorization answer (re-authentication). */
  clearAuthorization(): void {
    this.authCache?.clear();
  }

  get remoteAddress(): string {
    return this.transport.info.remoteAddress;
  }

  // ---- SessionLink -------------------------------------------------------------------------

  get writable(): boolean {
    if (this.limits !== undefined && !this.limits.mayWrite(this.ctx.clock.now())) return false;
    return this.transport.writable;
  }

  writePublish(msg: Message, qos: QoS, retain: boolean, subIds: number[] | undefined, packetId: number, dup: boolean): DropReason | undefined {
    if (this.checkDelivery && !this.authorization.mayReceive(this.identity!, msg.topic)) return 'not-authorized';
    // Its acknowledgement will be awaited: a connection waiting in fair scheduling's line reads again.
    if (qos > 0 && this.waitingToRead) this.ctx.fairness?.line.leave(this);
    const v = this.protocolVersion;
    let bytes: number;
    if (v !== 5 || (subIds === undefined && msg.expiresAt === 0 && this.outAliases === undefined)) {
      bytes = writeShared(msg, v, qos, retain, packetId, dup, this.clientMaxPacketSize, this.transport);
      if (bytes < 0) return 'packet-too-large';
    } else {
      let topic = msg.topic;
      let alias = 0;
      let fresh = false;
      if (this.outAliases) {
        const a = this.outAliases.lookup(msg.topic);
        alias = a.alias;
        fresh = alias > 0 && !a.known;
        if (a.known) topic = '';
      }
      const encoded = ownEncoding(msg, v, qos, retain, subIds, topic, alias, msg.remainingExpiry(this.ctx.clock.now()), packetId, dup);
      if (encoded.length > this.clientMaxPacketSize) {
        if (fresh) this.outAliases!.forget(msg.topic);
        return 'packet-too-large';
      }
      this.transport.write(encoded);
      bytes = encoded.length;
    }
    const usage = this.tenant!.usage;
    usage.messagesOut++;
    usage.bytesOut += bytes;
    this.limits?.outbound(bytes, this.ctx.clock.now());
    return undefined;
  }

  // ---- Rate limits and quotas on the connection's traffic ----------------------------------

  /** Sets up the limits that apply to this connection (after CONNECT). */
  setupLimits(): void {
    this.limits = TrafficLimits.for(this);
  }

  /** After each accepted PUBLISH: the per-connection publish rate and the tenant's fan-out budget. */
  afterPublish(): void {
    this.limits?.published(this.ctx.clock.now());
  }

  outboundRenewed(): void {
    if (this.state === ConnState.Connected) this.session?.drain();
  }

  /**
   * Stops reading until the subscriber has caught up. With `stopDecoding`, the rest of the chunk
   * being decoded waits too: a chunk holds hundreds of PUBLISHes, and queueing them all would make
   * the subscriber's queue (and its memory) grow far past the point at which its publishers are
   * paused. Below that, finishing the chunk keeps a fan-in fast.
   */
  pauseForBackpressure(stopDecoding: boolean): void {
    if (this.state === ConnState.Closed) return;
    // Never wait forever on a subscriber that stalls: resume after a bound and re-check then.
    this.gate.holdFor(Hold.Backpressure, BACKPRESSURE_MAX_MS);
    if (stopDecoding) this.decoder.yieldAfterPacket();
  }

  resumeFromBackpressure(): void {
    this.inputGate?.release(Hold.Backpressure);
  }

  pauseForFairness(): void {
    if (this.state !== ConnState.Closed) this.gate.hold(Hold.Fairness);
  }

  resumeFromFairness(): void {
    this.inputGate?.release(Hold.Fairness);
  }

  /** Why the socket is not being read (input-gate.ts); made on first use. */
  get gate(): InputGate {
    return (this.inputGate ??= new InputGate(this.transport, this));
  }

  get inputBlocked(): boolean {
    return this.inputGate !== undefined && this.inputGate.blockedBeyondFairness;
  }

  get closed(): boolean {
    return this.state === ConnState.Closed;
  }

  onInputUnblocked(): void {
    inputUnblocked(this);
  }

  /** Stops reading for `ms` (TCP backpressure: nothing is lost, the client slows down). */
  throttle(ms: number): void {
    if (this.state !== ConnState.Closed) this.gate.holdFor(Hold.Throttle, ms);
  }

  writePubrel(packetId: number): void {
    this.send({ type: 6, packetId });
  }

  takeOver(): void {
    this.closeWith(ReasonCode.SessionTakenOver, true, 'session taken over');
  }

  // ---- TransportHandler --------------------------------------------------------------------

  onData(chunk: Buffer): void {
    const now = this.ctx.clock.now();
    this.lastActivity = now;
    this.limits?.inbound(chunk.length, now);
    readInput(this, chunk);
  }

  consumeHeld(chunk: Buffer): void {
    if (this.state !== ConnState.Closed) consumeInput(this, chunk);
  }

  onClose(error: Error | undefined): void {
    this.finish(true, 'network', ReasonCode.UnspecifiedError, error ? error.message : 'connection closed by peer');
  }

  onEnd(): void {
    endWhenIdle(this);
  }

  onDrain(): void {
    const session = this.session;
    if (session === undefined) return;
    session.progressed(this.ctx.clock.now());
    session.drain();
  }

  // ---- PacketSink --------------------------------------------------------------------------

  onPacket(packet: Packet): void {
    if (this.blocked > 0) {
      (this.held ??= []).push(packet);
      // Reading stops only once something must wait: a decision that comes back at once costs nothing.
      this.gate.hold(Hold.Packets);
      return;
    }
    this.dispatch(packet);
  }

  private dispatch(packet: Packet): void {
    switch (this.state) {
      case ConnState.Connected:
        handlePacket(this, packet);
        return;
      case ConnState.AwaitingConnect:
        if (packet.type === 1) {
          handleConnect(this, packet);
        } else {
          // [MQTT-3.1.0-1] the first packet must be CONNECT.
          this.abort(ReasonCode.ProtocolError, 'first packet is not CONNECT');
        }
        return;
      case ConnState.Authenticating:
        // Only an enhanced-authentication exchange lets packets through before CONNACK.
        if (packet.type === 15) handleAuth(this, packet);
        else this.refuse(ReasonCode.ProtocolError, 'packet during authentication', this.protocolVersion);
        return;
      default:
        return;
    }
  }

  // ---- Flow control of input ---------------------------------------------------------------

  /** Holds further packets until `unblock` (an asynchronous decision is pending). */
  block(): void {
    this.blocked++;
  }

  /** Whether packets are held behind an asynchronous decision. */
  get holdingPackets(): boolean {
    return this.blocked > 0;
  }

  unblock(): void {
    if (--this.blocked > 0) return;
    const held = this.held;
    this.held = undefined;
    if (held) {
      for (let i = 0; i < held.length; i++) {
        if (this.state === ConnState.Closed) return;
        if (this.blocked > 0) {
          // Blocked again: keep the rest, in order, ahead of anything newer.
          this.held = held.slice(i).concat(this.held ?? []);
          return;
        }
        this.dispatch(held[i]!);
      }
    }
    if (this.blocked > 0 || reportPendingError(this)) return;
    if (this.state !== ConnState.Closed) this.inputGate?.release(Hold.Packets);
  }

  // ---- Output ------------------------------------------------------------------------------

  send(packet: Packet): void {
    if (this.state === ConnState.Closed && packet.type !== 14) return;
    const bytes = encodeWithin(packet, this.protocolVersion, this.clientMaxPacketSize);
    // A packet the client cannot take even without its reason string, or that MQTT cannot carry: the connection ends.
    if (bytes === undefined) this.transport.destroy();
    else this.transport.write(bytes);
  }

  /**
   * Sends an acknowledgement once `durable` resolves, keeping acknowledgements in the order their
   * PUBLISHes arrived [MQTT-4.6.0-2]. A failed store answers 0x80 (MQTT 5) or closes (3.1.1).
   */
  sendAfter(durable: Promise<void> | undefined, ack: Packet): Promise<void> | undefined {
    return (this.acks ??= new AckSequencer(this)).after(durable, ack);
  }

  /**
   * PUBACK / PUBREC / PUBCOMP for `packetId`, after `durable` if given. The common case (success, or
   * any code in 3.1.1, nothing waiting) is four bytes written straight away, without a packet object.
   */
  ack(type: 4 | 5 | 7, packetId: number, reasonCode: number, durable: Promise<void> | undefined): void {
    if (durable === undefined && (this.acks === undefined || !this.acks.waiting) && (reasonCode === 0 || this.protocolVersion !== 5)) {
      if (this.state === ConnState.Closed) return;
      const b = Buffer.allocUnsafe(4);
      b[0] = type << 4;
      b[1] = 2;
      b[2] = packetId >> 8;
      b[3] = packetId & 0xff;
      this.transport.write(b);
      return;
    }
    this.sendAfter(durable, { type, packetId, reasonCode });
  }

  /** QoS 1 PUBLISHes received whose PUBACK waits (for storage, or for earlier acknowledgements). */
  get pendingAcks(): number {
    return this.acks === undefined ? 0 : this.acks.waitingPubacks;
  }

  deliverAck(ack: Packet, failed: boolean): void {
    if (this.state === ConnState.Closed) return;
    if (failed) {
      // PUBCOMP has no reason code for it: the client sends PUBREL again after reconnecting.
      if (this.protocolVersion !== 5 || ack.type === 7) {
        this.abort(ReasonCode.UnspecifiedError, 'storage failure');
        return;
      }
      (ack as { reasonCode?: number }).reasonCode = ReasonCode.UnspecifiedError;
    }
    this.send(ack);
  }

  storageFailed(err: unknown): void {
    this.ctx.log.error({ err, clientId: this.clientId }, 'storing a message failed');
  }

  // ---- Keepalive and connect timeout -------------------------------------------------------

  /** Starts keepalive supervision with `seconds` (already clamped); 0 turns it off. */
  startKeepAlive(seconds: number): void {
    this.ctx.scheduler.cancel(this.deadline);
    this.deadline = undefined;
    this.keepAliveTimeout = seconds * 1500; // [MQTT-3.1.2-22] one and a half times the keepalive
    if (seconds > 0) this.deadline = this.ctx.scheduler.schedule(this.lastActivity + this.keepAliveTimeout, this);
  }

  onDeadline(now: number): void {
    this.deadline = undefined;
    if (this.state === ConnState.Closed) return;
    if (this.state !== ConnState.Connected) {
      this.ctx.log.debug({ address: this.remoteAddress }, 'CONNECT timeout');
      this.finish(false, 'server', ReasonCode.MaximumConnectTime, 'no CONNECT in time');
      this.transport.destroy();
      return;
    }
    // Input the broker itself holds (see input-gate.ts) is not read: silence proves nothing, the clock restarts.
    if (this.inputGate?.held === true) this.lastActivity = now;
    const due = this.lastActivity + this.keepAliveTimeout;
    if (now < due) {
      this.deadline = this.ctx.scheduler.schedule(due, this);
      return;
    }
    this.closeWith(ReasonCode.KeepAliveTimeout, true, 'keepalive timeout');
  }

  // ---- Closing -----------------------------------------------------------------------------

  /** Protocol violation or refusal: tell an MQTT 5 client why (DISCONNECT), then close. */
  abort(reasonCode: number, reason: string): void {
    this.closeWith(reasonCode, true, reason);
  }

  /** Server-initiated close of a connected client, with DISCONNECT for MQTT 5. */
  closeWith(reasonCode: number, publishWill: boolean, reason: string): void {
    if (this.state === ConnState.Closed) return;
    if (this.state === ConnState.Connected && this.protocolVersion === 5) {
      const props = this.problemInformation ? { reasonString: reason } : undefined;
      this.send({ type: 14, reasonCode, properties: props });
    }
    this.transport.end();
    this.finish(publishWill, 'server', reasonCode, reason);
  }

  /** Refuses a CONNECT: CONNACK with the reason (3.1.1 form for 3.1.1 or an unknown version), then close. */
  refuse(reasonCode: number, reason: string, version: ProtocolVersion, extra?: Properties): void {
    if (this.state === ConnState.Closed) return;
    if (this.state !== ConnState.Connected) {
      this.protocolVersion = version;
      const connack = connackRefusal(version, reasonCode, this.problemInformation ? reason : undefined, extra);
      if (connack) this.send(connack);
      this.ctx.events.emit({
        type: 'client.refused',
        tenantId: this.tenant?.id ?? this.identity?.tenantId,
        clientId: this.clientId || undefined,
        address: this.remoteAddress,
        reasonCode,
        reason,
      });
    }
    this.transport.end();
    this.finish(false, 'server', reasonCode, reason);
  }

  /** Tears the connection down once; hands the session back to the session manager. */
  finish(publishWill: boolean, by: 'client' | 'server' | 'network', reasonCode: number, reason: string): void {
    if (this.state === ConnState.Closed) return;
    const wasConnected = this.state === ConnState.Connected;
    this.state = ConnState.Closed;
    this.held = undefined;
    this.decoder.halt();
    this.ctx.scheduler.cancel(this.deadline);
    this.deadline = undefined;
    this.ctx.scheduler.cancel(this.credentialsDeadline);
    this.credentialsDeadline = undefined;
    this.authExchange = undefined;
    this.inputGate?.close();
    this.limits?.close();
    this.ctx.connections.delete(this);
    const tenant = this.tenant;
    const session = this.session;
    tenant?.connections.delete(this);
    if (tenant !== undefined) this.ctx.fairness?.forget(tenant, this);
    if (wasConnected && tenant && session) {
      tenant.usage.connections--;
      if (session.link === this) this.ctx.sessions.closed(session, publishWill);
      this.ctx.events.emit({
        type: 'client.disconnected',
        tenantId: tenant.id,
        clientId: this.clientId,
        address: this.remoteAddress,
        reasonCode,
        by,
        reason,
      });
      if (this.ctx.log.isLevelEnabled('debug')) {
        this.ctx.log.debug({ tenantId: tenant.id, clientId: this.clientId, reason: reasonName(reasonCode), by }, reason);
      }
    }
    if (tenant) this.ctx.tenants.release(tenant);
  }
}
