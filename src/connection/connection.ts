/**
 * One client connection: the MQTT protocol state machine between a transport and a session.
 *
 * Bytes come in through `onData`, are decoded into packets and dispatched on the connection state
 * (awaiting CONNECT, authenticating, connected, closed). Packets that arrive while an asynchronous
 * decision is pending (authentication, an asynchronous ACL answer) are held, and the socket is paused,
 * so packets are always handled in order. Version differences live in this folder only.
 */
import { PacketDecoder, type DecodeError, type PacketSink } from '../codec/decoder';
import { encodePacket } from '../codec/encoder';
import type { Packet, Properties, ProtocolVersion, QoS } from '../codec/packets';
import type { DropReason } from '../plugins/events';
import { handleAuth, type AuthExchange } from './authentication';
import { AuthorizationCache } from './authorization';
import { RateWindow } from '../tenant/rate-window';
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
import { handlePublish, handlePubrel } from './handle-publish';
import { handleSubscribe, handleUnsubscribe } from './handle-subscribe';
import { ownEncoding, sharedEncoding, writeEncoded } from './publish-encoder';
import { connackReturnCode } from './reason-map';
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

export class Connection implements TransportHandler, PacketSink, SessionOwner, DeadlineTarget, Pausable, BackpressureWaiter {
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
  /** QoS 1 PUBLISHes received whose PUBACK waits (for storage, or for earlier acknowledgements). */
  pendingAcks = 0;
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
  private credentialsDeadline: DeadlineHandle | undefined;
  /** Whether any rate limit or quota watches this connection's traffic. */
  private limited = false;
  private trackInbound = false;
  private trackFanout = false;
  private inRate: RateWindow | undefined;
  private outRate: RateWindow | undefined;
  private pubRate: RateWindow | undefined;
  private throttled = false;
  private fairPaused = false;
  private heldBack = false;
  /** Whether the transport is paused (for any of the reasons above). */
  private inputPaused = false;
  private backpressureTimer: NodeJS.Timeout | undefined;
  /** A decode error met while earlier packets were still held: reported once they are handled. */
  private pendingError: DecodeError | undefined;
  private throttleTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  /** Pending asynchronous decisions; while above 0, packets are held and the socket is paused. */
  private blocked = 0;
  private held: Packet[] | undefined;
  private deadline: DeadlineHandle | undefined;
  private ackTail: Promise<void> | undefined;

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
    if (this.outRate !== undefined && !this.outboundAllowed()) return false;
    return this.transport.writable;
  }

  writePublish(msg: Message, qos: QoS, retain: boolean, subIds: number[] | undefined, packetId: number, dup: boolean): DropReason | undefined {
    if (this.checkDelivery && !this.mayReceive(msg.topic)) return 'not-authorized';
    const v = this.protocolVersion;
    let enc;
    if (v !== 5 || (subIds === undefined && msg.expiresAt === 0 && this.outAliases === undefined)) {
      enc = sharedEncoding(msg, v, qos, retain);
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
      enc = ownEncoding(msg, v, qos, retain, subIds, topic, alias, msg.remainingExpiry(this.ctx.clock.now()));
      if (enc.bytes.length > this.clientMaxPacketSize && fresh) this.outAliases!.forget(msg.topic);
    }
    if (enc.bytes.length > this.clientMaxPacketSize) return 'packet-too-large';
    writeEncoded(enc, qos, packetId, dup, this.transport);
    const usage = this.tenant!.usage;
    const bytes = enc.bytes.length;
    usage.messagesOut++;
    usage.bytesOut += bytes;
    if (this.limited) {
      const now = this.ctx.clock.now();
      if (this.outRate !== undefined) this.outRate.add(now, bytes);
      if (this.trackFanout) usage.rates.fanoutBytes.add(now, bytes);
    }
    return undefined;
  }

  // ---- Rate limits and quotas on the connection's traffic ----------------------------------

  /** Sets up the limits that apply to this connection (after CONNECT). */
  setupLimits(): void {
    const s = this.settings;
    const plugin = this.ctx.quotas.plugin;
    this.trackInbound = plugin || s.maxInboundBytesPerSecond > 0;
    this.trackFanout = plugin || s.maxFanoutBytesPerSecond > 0;
    if (s.inboundBandwidth > 0) this.inRate = new RateWindow();
    if (s.outboundBandwidth > 0) this.outRate = new RateWindow();
    if (s.publishRate > 0) this.pubRate = new RateWindow();
    this.limited = this.trackInbound || this.trackFanout || s.inboundBandwidth > 0 || s.outboundBandwidth > 0 || s.publishRate > 0;
  }

  private accountInbound(bytes: number, now: number): void {
    const tenant = this.tenant;
    if (!tenant) return;
    if (this.inRate !== undefined && this.inRate.add(now, bytes) > this.settings.inboundBandwidth) {
      this.throttle(RateWindow.msToNextWindow(now));
    }
    if (this.trackInbound) {
      tenant.usage.rates.inboundBytes.add(now, bytes);
      if (!this.ctx.quotas.allows(tenant, 'inboundBytesRate', this.clientId)) this.throttle(RateWindow.msToNextWindow(now));
    }
  }

  /** After each accepted PUBLISH: the per-connection publish rate and the tenant's fan-out budget. */
  afterPublish(): void {
    if (!this.limited) return;
    const now = this.ctx.clock.now();
    if (this.pubRate !== undefined && this.pubRate.add(now) > this.settings.publishRate) {
      this.closeWith(ReasonCode.MessageRateTooHigh, true, 'publish rate too high');
      return;
    }
    if (this.trackFanout && !this.ctx.quotas.allows(this.tenant!, 'fanoutBytesRate', this.clientId)) {
      this.throttle(RateWindow.msToNextWindow(now));
    }
  }

  private outboundAllowed(): boolean {
    const now = this.ctx.clock.now();
    if (this.outRate!.current(now) < this.settings.outboundBandwidth) return true;
    if (this.drainTimer === undefined) {
      this.drainTimer = setTimeout(() => {
        this.drainTimer = undefined;
        if (this.state === ConnState.Connected) this.session?.drain();
      }, RateWindow.msToNextWindow(now));
    }
    return false;
  }

  /** Paused until a subscriber this connection publishes to has caught up (or at most a while). */
  pauseForBackpressure(): void {
    if (this.heldBack || this.state === ConnState.Closed) return;
    this.heldBack = true;
    this.pauseInput();
    // Never wait forever on a subscriber that stalls: resume after a bound and re-check then.
    this.backpressureTimer = setTimeout(() => this.resumeFromBackpressure(), BACKPRESSURE_MAX_MS);
  }

  resumeFromBackpressure(): void {
    if (!this.heldBack) return;
    this.heldBack = false;
    if (this.backpressureTimer) clearTimeout(this.backpressureTimer);
    this.backpressureTimer = undefined;
    this.resumeIfFree();
  }

  pauseForFairness(): void {
    if (this.fairPaused || this.state === ConnState.Closed) return;
    this.fairPaused = true;
    this.pauseInput();
  }

  resumeFromFairness(): void {
    if (!this.fairPaused) return;
    this.fairPaused = false;
    this.resumeIfFree();
  }

  /** Stops reading from the socket (once, whatever the reasons). */
  private pauseInput(): void {
    if (this.inputPaused) return;
    this.inputPaused = true;
    this.transport.pause();
  }

  private resumeIfFree(): void {
    if (this.inputPaused && this.blocked === 0 && !this.throttled && !this.fairPaused && !this.heldBack && this.state !== ConnState.Closed) {
      this.inputPaused = false;
      this.transport.resume();
    }
  }

  /** Stops reading for `ms` (TCP backpressure: nothing is lost, the client slows down). */
  throttle(ms: number): void {
    if (this.throttled || this.state === ConnState.Closed) return;
    this.throttled = true;
    this.pauseInput();
    this.throttleTimer = setTimeout(() => {
      this.throttleTimer = undefined;
      this.throttled = false;
      this.resumeIfFree();
    }, ms);
  }

  /**
   * Delivery authorization (auth.checkDelivery): a cached answer, or a synchronous one; a provider
   * that can only answer asynchronously denies this delivery and its answer serves the next ones.
   */
  private mayReceive(topic: string): boolean {
    const known = this.authorization.peek('receive', topic);
    if (known !== undefined) return known;
    const answer = this.authorization.check(this.identity!, 'receive', topic, 0, false);
    if (answer instanceof Promise) {
      answer.catch(() => undefined);
      return false;
    }
    return answer;
  }

  /** Arms (or disarms) the end of the credentials' validity: DISCONNECT 0x87 then. */
  setCredentialsExpiry(at: number | undefined): void {
    this.ctx.scheduler.cancel(this.credentialsDeadline);
    this.credentialsDeadline = undefined;
    if (at === undefined) return;
    this.credentialsDeadline = this.ctx.scheduler.schedule(at, {
      onDeadline: () => {
        this.credentialsDeadline = undefined;
        this.closeWith(ReasonCode.NotAuthorized, true, 'credentials expired');
      },
    });
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
    const tenant = this.tenant;
    if (tenant !== undefined) this.ctx.fairness?.onInbound(tenant, chunk.length);
    if (this.limited) this.accountInbound(chunk.length, now);
    const err = this.decoder.push(chunk);
    if (err !== undefined && this.state !== ConnState.Closed) this.onDecodeError(err);
  }

  onClose(error: Error | undefined): void {
    this.finish(true, 'network', ReasonCode.UnspecifiedError, error ? error.message : 'connection closed by peer');
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
      this.pauseInput();
      return;
    }
    this.dispatch(packet);
  }

  private dispatch(packet: Packet): void {
    switch (this.state) {
      case ConnState.Connected:
        break;
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
    switch (packet.type) {
      case 3:
        handlePublish(this, packet);
        return;
      case 4:
        if (!this.session!.acknowledge(packet.packetId)) this.unknownAck(packet.packetId);
        return;
      case 5:
        if (!this.session!.received(packet.packetId, (packet.reasonCode ?? 0) >= 0x80)) {
          // [MQTT-4.3.3] a PUBREC for an unknown id is answered with PUBREL 0x92.
          if (this.protocolVersion === 5) this.send({ type: 6, packetId: packet.packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
          else this.send({ type: 6, packetId: packet.packetId });
        }
        return;
      case 6:
        handlePubrel(this, packet);
        return;
      case 7:
        if (!this.session!.completed(packet.packetId)) this.unknownAck(packet.packetId);
        return;
      case 8:
        handleSubscribe(this, packet);
        return;
      case 10:
        handleUnsubscribe(this, packet);
        return;
      case 12:
        this.send({ type: 13 });
        return;
      case 14:
        this.onDisconnect(packet.reasonCode ?? 0, packet.properties?.sessionExpiryInterval);
        return;
      case 15:
        handleAuth(this, packet);
        return;
      case 1:
        // [MQTT-3.1.0-2] a second CONNECT is a protocol error.
        this.abort(ReasonCode.ProtocolError, 'second CONNECT');
        return;
      default:
        // CONNACK, SUBACK, UNSUBACK, PINGRESP are never sent by a client.
        this.abort(ReasonCode.ProtocolError, `unexpected packet type ${packet.type}`);
    }
  }

  /** An acknowledgement for a packet id that is not in flight: ignored (it may be a late duplicate). */
  private unknownAck(packetId: number): void {
    this.ctx.log.debug({ clientId: this.clientId, packetId }, 'acknowledgement for an unknown packet id');
  }

  // ---- Flow control of input ---------------------------------------------------------------

  /** Holds further packets until `unblock` (an asynchronous decision is pending). */
  block(): void {
    this.blocked++;
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
    if (this.blocked > 0) return;
    const err = this.pendingError;
    if (err !== undefined && this.state === ConnState.Connected) {
      this.pendingError = undefined;
      this.closeWith(err.reasonCode, true, err.message);
      return;
    }
    this.resumeIfFree();
  }

  // ---- Output ------------------------------------------------------------------------------

  send(packet: Packet): void {
    if (this.state === ConnState.Closed && packet.type !== 14) return;
    const bytes = encodePacket(packet, this.protocolVersion);
    this.transport.write(bytes);
  }

  /**
   * Sends an acknowledgement once `durable` resolves, keeping acknowledgements in the order their
   * PUBLISHes arrived [MQTT-4.6.0-2]. A failed store answers 0x80 (MQTT 5) or closes (3.1.1).
   */
  sendAfter(durable: Promise<void> | undefined, ack: Packet): Promise<void> | undefined {
    if (durable === undefined && this.ackTail === undefined) {
      this.send(ack);
      return undefined;
    }
    // A PUBREC that waits is already counted through the session's received QoS 2 ids.
    const counted = ack.type === 4;
    if (counted) this.pendingAcks++;
    const prev = this.ackTail;
    const tail: Promise<void> = Promise.all([prev, durable]).then(
      () => this.ackReady(tail, ack, false, counted),
      (err: unknown) => {
        this.ctx.log.error({ err, clientId: this.clientId }, 'storing a message failed');
        this.ackReady(tail, ack, true, counted);
      },
    );
    this.ackTail = tail;
    return tail;
  }

  private ackReady(tail: Promise<void>, ack: Packet, failed: boolean, counted: boolean): void {
    if (counted) this.pendingAcks--;
    if (this.ackTail === tail) this.ackTail = undefined;
    if (this.state === ConnState.Closed) return;
    if (failed) {
      if (this.protocolVersion !== 5) {
        this.abort(ReasonCode.UnspecifiedError, 'storage failure');
        return;
      }
      (ack as { reasonCode?: number }).reasonCode = ReasonCode.UnspecifiedError;
    }
    this.send(ack);
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
    const due = this.lastActivity + this.keepAliveTimeout;
    if (now < due) {
      this.deadline = this.ctx.scheduler.schedule(due, this);
      return;
    }
    this.closeWith(ReasonCode.KeepAliveTimeout, true, 'keepalive timeout');
  }

  // ---- Closing -----------------------------------------------------------------------------

  private onDisconnect(reasonCode: number, sessionExpiry: number | undefined): void {
    const session = this.session!;
    if (sessionExpiry !== undefined) {
      // [MQTT-3.14.2-2] a session expiry of 0 at CONNECT cannot be raised at DISCONNECT.
      if (session.expiryInterval === 0 && sessionExpiry !== 0 && !this.settings.forceTransient) {
        this.abort(ReasonCode.ProtocolError, 'session expiry set at DISCONNECT after 0 at CONNECT');
        return;
      }
      if (!this.settings.forceTransient) {
        this.ctx.sessions.setExpiry(session, Math.min(sessionExpiry, this.settings.maxSessionExpiry));
      }
    }
    this.transport.end();
    // [MQTT-3.14.4-3] a normal DISCONNECT discards the will; 0x04 asks for it.
    this.finish(reasonCode === ReasonCode.DisconnectWithWillMessage, 'client', reasonCode, 'client disconnected');
  }

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

  private onDecodeError(err: DecodeError): void {
    this.ctx.log.debug({ clientId: this.clientId, address: this.remoteAddress, code: err.code }, err.message);
    if (this.state === ConnState.AwaitingConnect) {
      this.refuse(err.reasonCode, err.message, this.decoder.protocolVersion);
      return;
    }
    if (this.blocked > 0) {
      // [4.13.1] the CONNECT itself was fine: answer it, handle what came before the bad packet,
      // then report the bad packet with DISCONNECT.
      this.pendingError = err;
      return;
    }
    if (this.state === ConnState.Authenticating) {
      // Waiting for the client's AUTH in an enhanced-authentication exchange.
      this.refuse(err.reasonCode, err.message, this.protocolVersion);
      return;
    }
    this.closeWith(err.reasonCode, true, err.message);
  }

  /**
   * Refuses a CONNECT: CONNACK with the reason (mapped for 3.1.1; an unknown protocol version
   * always gets the 3.1.1 form), then close.
   */
  refuse(reasonCode: number, reason: string, version: ProtocolVersion, extra?: Properties): void {
    if (this.state === ConnState.Closed) return;
    if (this.state !== ConnState.Connected) {
      this.protocolVersion = version;
      this.sendConnackRefusal(reasonCode, reason, extra);
      this.ctx.events.emit({
        type: 'client.refused',
        tenantId: this.tenant?.id,
        clientId: this.clientId || undefined,
        address: this.remoteAddress,
        reasonCode,
        reason,
      });
    }
    this.transport.end();
    this.finish(false, 'server', reasonCode, reason);
  }

  private sendConnackRefusal(reasonCode: number, reason: string, extra: Properties | undefined): void {
    if (this.protocolVersion === 5) {
      const properties: Properties = { ...extra };
      if (this.problemInformation) properties.reasonString = reason;
      this.send({ type: 2, sessionPresent: false, reasonCode, properties });
      return;
    }
    // 3.1/3.1.1 have no return code for a malformed packet or a protocol error: just close.
    if (reasonCode === ReasonCode.MalformedPacket || reasonCode === ReasonCode.ProtocolError || reasonCode === ReasonCode.PacketTooLarge) {
      return;
    }
    this.send({ type: 2, sessionPresent: false, reasonCode: connackReturnCode(reasonCode) });
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
    if (this.throttleTimer) clearTimeout(this.throttleTimer);
    if (this.drainTimer) clearTimeout(this.drainTimer);
    if (this.backpressureTimer) clearTimeout(this.backpressureTimer);
    this.ctx.connections.delete(this);
    const tenant = this.tenant;
    const session = this.session;
    tenant?.connections.delete(this);
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
