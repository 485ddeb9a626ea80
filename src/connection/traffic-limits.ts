/**
 * The rate limits and quotas that watch one connection's traffic: per-connection publish rate and
 * bandwidth in both directions (tenant settings), and the tenant's inbound and fan-out byte quotas.
 * Only connections that something limits get one of these.
 */
import { ReasonCode } from '../codec/reason-codes';
import { RateWindow } from '../tenant/rate-window';
import type { TenantSettings } from '../tenant/settings';
import type { Tenant } from '../tenant/tenant';
import type { ConnectionContext } from './context';

/** What the limits act on. */
export interface LimitedConnection {
  readonly ctx: ConnectionContext;
  readonly settings: TenantSettings;
  readonly tenant: Tenant | undefined;
  readonly clientId: string;
  /** Stops reading for `ms` (TCP backpressure). */
  throttle(ms: number): void;
  closeWith(reasonCode: number, publishWill: boolean, reason: string): void;
  /** Outgoing messages may flow again (the outbound budget was renewed). */
  outboundRenewed(): void;
}

export class TrafficLimits {
  private readonly trackInbound: boolean;
  private readonly trackFanout: boolean;
  private readonly inRate: RateWindow | undefined;
  private readonly outRate: RateWindow | undefined;
  private readonly pubRate: RateWindow | undefined;
  private drainTimer: NodeJS.Timeout | undefined;

  /** The limits of a connection, or undefined when nothing limits it (the common case). */
  static for(conn: LimitedConnection): TrafficLimits | undefined {
    const s = conn.settings;
    const plugin = conn.ctx.quotas.plugin;
    const any =
      plugin ||
      s.maxInboundBytesPerSecond > 0 ||
      s.maxFanoutBytesPerSecond > 0 ||
      s.inboundBandwidth > 0 ||
      s.outboundBandwidth > 0 ||
      s.publishRate > 0;
    return any ? new TrafficLimits(conn) : undefined;
  }

  private constructor(private readonly conn: LimitedConnection) {
    const s = conn.settings;
    const plugin = conn.ctx.quotas.plugin;
    this.trackInbound = plugin || s.maxInboundBytesPerSecond > 0;
    this.trackFanout = plugin || s.maxFanoutBytesPerSecond > 0;
    if (s.inboundBandwidth > 0) this.inRate = new RateWindow();
    if (s.outboundBandwidth > 0) this.outRate = new RateWindow();
    if (s.publishRate > 0) this.pubRate = new RateWindow();
  }

  /**
   * Before a PUBLISH is routed: counts it against the connection's publish rate (if it has one). The
   * PUBLISH that exceeds the rate is neither routed nor acknowledged: the connection is closed with
   * DISCONNECT 0x96 instead, and the client may send it again once reconnected.
   */
  mayPublish(now: number): boolean {
    if (this.pubRate === undefined || this.pubRate.add(now) <= this.conn.settings.publishRate) return true;
    this.conn.closeWith(ReasonCode.MessageRateTooHigh, true, 'publish rate too high');
    return false;
  }

  /** Bytes read: the connection's inbound bandwidth and the tenant's inbound quota. */
  inbound(bytes: number, now: number): void {
    const { conn } = this;
    const tenant = conn.tenant;
    if (!tenant) return;
    // Byte budgets carry what a read took beyond them into the next seconds (a read is a whole chunk).
    const bandwidth = conn.settings.inboundBandwidth;
    if (this.inRate !== undefined && this.inRate.addOver(now, bytes, bandwidth) >= bandwidth) {
      conn.throttle(this.inRate.waitOver(now, bandwidth));
    }
    if (this.trackInbound) {
      const inbound = tenant.usage.rates.inboundBytes;
      const quota = tenant.settings.maxInboundBytesPerSecond;
      inbound.addOver(now, bytes, quota);
      if (!conn.ctx.quotas.allows(tenant, 'inboundBytesRate', conn.clientId)) conn.throttle(inbound.waitOver(now, quota));
    }
  }

  /** Bytes delivered to this connection: its outbound bandwidth and the tenant's fan-out. */
  outbound(bytes: number, now: number): void {
    const { conn } = this;
    if (this.outRate !== undefined) this.outRate.addOver(now, bytes, conn.settings.outboundBandwidth);
    if (this.trackFanout) conn.tenant!.usage.rates.fanoutBytes.addOver(now, bytes, conn.tenant!.settings.maxFanoutBytesPerSecond);
  }

  /** After each routed PUBLISH: the tenant's fan-out budget (the publish rate comes before, see mayPublish). */
  published(now: number): void {
    const { conn } = this;
    const tenant = conn.tenant!;
    if (this.trackFanout && !conn.ctx.quotas.allows(tenant, 'fanoutBytesRate', conn.clientId)) {
      conn.throttle(tenant.usage.rates.fanoutBytes.waitOver(now, tenant.settings.maxFanoutBytesPerSecond));
    }
  }

  /** Whether more may be sent now under the outbound bandwidth; if not, sending resumes next window. */
  mayWrite(now: number): boolean {
    const bandwidth = this.conn.settings.outboundBandwidth;
    if (this.outRate === undefined || this.outRate.currentOver(now, bandwidth) < bandwidth) return true;
    if (this.drainTimer === undefined) {
      this.drainTimer = setTimeout(() => {
        this.drainTimer = undefined;
        this.conn.outboundRenewed();
      }, this.outRate.waitOver(now, bandwidth));
    }
    return false;
  }

  close(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer);
  }
}
