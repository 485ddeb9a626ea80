/**
 * Which process serves which tenant: the broker's own, or its background process (see
 * background-process.ts), and the moves between them.
 *
 * - Tenants named in `background.tenants` are always served in the background.
 * - Automatic placement (`background.auto`): a tenant that keeps most of a busy broker's input to
 *   itself while others are active (load-watch.ts) moves there, and comes back once it is calm. A
 *   move takes the tenant's state along (tenant-transfer.ts) and closes its connections; their
 *   clients connect again and are handed to the process that serves the tenant now.
 * - Only plain TCP connections can change process. A tenant with TLS or WebSocket clients is not
 *   moved; one of them connecting while its tenant is in the background brings the tenant back,
 *   and waits for it.
 * - The background process is started when first needed (at start, if it holds tenants from an
 *   earlier run).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectPacket } from '../codec/packets';
import { ReasonCode } from '../codec/reason-codes';
import type { BrokerConfig } from '../config/schema';
import { ConnState, type Connection } from '../connection/connection';
import type { BackgroundPlacement } from '../connection/context';
import { serveHere, type Authenticated } from '../connection/handle-connect';
import { canHandOff, handOff } from '../connection/handoff';
import type { Logger } from '../log';
import type { EventBus } from '../plugins/event-bus';
import type { IntervalLoad } from '../tenant/fair-scheduler';
import { putTenant, takeTenant, type TenantHolder, type TenantState } from '../tenant/tenant-transfer';
import type { Clock } from '../util/clock';
import { BackgroundProcess, type BackgroundListener } from './background-process';
import { LoadWatch } from './load-watch';

/** A connection that waits for its tenant to come back from the background process. */
interface Waiting {
  conn: Connection;
  p: ConnectPacket;
  clientId: string;
  assigned: boolean;
  result: Authenticated;
}

/** How long a background process that failed to start is not asked for again (ms). */
const START_RETRY_MS = 60_000;

export class Placement implements BackgroundPlacement, BackgroundListener {
  private process: BackgroundProcess | undefined;
  private starting: Promise<boolean> | undefined;
  private startFailedAt = -Infinity;
  private readonly fixed: ReadonlySet<string>;
  /** Tenants placed in the background automatically. */
  private readonly moved = new Set<string>();
  /** Tenants on their way back to the broker, with the connections that wait for them. */
  private readonly returning = new Map<string, Waiting[]>();
  private readonly watch: LoadWatch | undefined;

  constructor(
    private readonly holder: TenantHolder,
    private readonly config: BrokerConfig,
    private readonly baseDir: string,
    private readonly log: Logger,
    private readonly events: EventBus,
    private readonly clock: Clock,
  ) {
    this.fixed = new Set(config.background.tenants);
    const auto = config.background.auto;
    if (auto.enabled) this.watch = new LoadWatch({ afterMs: auto.afterSeconds * 1000, calmMs: auto.calmSeconds * 1000 });
  }

  /**
   * Starts the background process now if it has work from the start: named tenants, or (stored)
   * tenants it served in an earlier run. Otherwise it starts when a tenant first moves.
   */
  async start(): Promise<void> {
    const stored = this.config.storage === 'lmdb' && existsSync(join(this.config.dataDir, 'background'));
    if (this.fixed.size === 0 && !stored) return;
    const process = this.newProcess();
    await process.start();
    if (this.fixed.size === 0 && this.moved.size === 0) {
      // It holds nothing any more: it starts again when a tenant moves.
      await process.stop(5000);
      this.process = undefined;
    }
  }

  /** The background process, once started. */
  get backgroundProcess(): BackgroundProcess | undefined {
    return this.process;
  }

  /** Whether automatic placement needs the fair scheduler's measurements. */
  get watching(): boolean {
    return this.watch !== undefined;
  }

  /** Tenants placed in the background automatically now. */
  get placed(): string[] {
    return [...this.moved];
  }

  serves(tenantId: string): boolean {
    return this.fixed.has(tenantId) || this.moved.has(tenantId) || this.returning.has(tenantId);
  }

  handOff(conn: Connection, p: ConnectPacket, clientId: string, assigned: boolean, result: Authenticated): void {
    const tenantId = result.tenantId;
    const waiting = this.returning.get(tenantId);
    if (waiting !== undefined) {
      this.wait(waiting, { conn, p, clientId, assigned, result });
      return;
    }
    if (this.moved.has(tenantId) && !canHandOff(conn)) {
      // A TLS or WebSocket client cannot be served there: its tenant comes back for it.
      this.moveBack(tenantId, 'a client that cannot change process connected');
      const back = this.returning.get(tenantId);
      if (back !== undefined) {
        this.wait(back, { conn, p, clientId, assigned, result });
        return;
      }
    }
    const process = this.process;
    if (process === undefined) {
      conn.refuse(ReasonCode.ServerUnavailable, 'background process not available', p.protocolVersion);
      return;
    }
    handOff(conn, p, clientId, assigned, result, {
      // The socket goes after this turn: by then its tenant may be on its way back (the client connects again).
      unavailable: () => (this.returning.has(tenantId) ? 'tenant moving back to the broker; connect again' : process.unavailable()),
      send: (socket, handed) => process.send(socket, handed),
    });
  }

  private wait(list: Waiting[], w: Waiting): void {
    // Nothing it sent is handled until its tenant is back (or it is refused).
    w.conn.block();
    list.push(w);
  }

  /** One interval of the broker's fair scheduler. */
  interval(load: IntervalLoad): void {
    const watch = this.watch;
    if (watch === undefined) return;
    const tenantId = watch.interval(load, this.clock.now(), this.movable);
    if (tenantId !== undefined) this.moveOut(tenantId);
    else if (watch.hasCandidate && this.process === undefined && this.clock.now() - this.startFailedAt >= START_RETRY_MS) {
      // A tenant may move soon: the process starts now, so that it is ready by then.
      this.starting ??= this.startLazily();
    }
  }

  private readonly movable = (tenantId: string): boolean => {
    if (this.fixed.has(tenantId) || this.moved.has(tenantId) || this.returning.has(tenantId)) return false;
    if (this.clock.now() - this.startFailedAt < START_RETRY_MS) return false;
    const tenant = this.holder.tenants.find(tenantId);
    if (tenant === undefined) return false;
    for (const c of tenant.connections) if (!canHandOff(c as Connection)) return false;
    return true;
  };

  private moveOut(tenantId: string): void {
    const process = this.process;
    if (process === undefined || !process.available) {
      // Started when first needed; the tenant moves once it is ready (if it still should).
      this.starting ??= this.startLazily();
      void this.starting.then((ok) => {
        if (ok && this.movable(tenantId)) this.moveOut(tenantId);
      });
      return;
    }
    this.moved.add(tenantId);
    const state = takeTenant(this.holder, tenantId);
    process.putTenant(state);
    this.moveEvent(state, 'background');
  }

  private async startLazily(): Promise<boolean> {
    try {
      if (this.process === undefined) await this.newProcess().start();
      return this.process?.available === true;
    } catch (err) {
      this.startFailedAt = this.clock.now();
      this.log.error({ err }, 'background process did not start; tenants stay in the broker');
      this.process = undefined;
      return false;
    } finally {
      this.starting = undefined;
    }
  }

  private newProcess(): BackgroundProcess {
    this.process = new BackgroundProcess(this.config, this.baseDir, this.log, this.events, this.clock, this);
    return this.process;
  }

  private moveBack(tenantId: string, why: string): void {
    const process = this.process;
    if (!this.moved.has(tenantId) || process === undefined || !process.available) return;
    this.moved.delete(tenantId);
    this.returning.set(tenantId, []);
    this.log.info({ tenantId, why }, 'tenant moving back from the background process');
    process.release(tenantId);
  }

  private moveEvent(state: TenantState, to: 'background' | 'broker'): void {
    const sessions = state.sessions.length;
    const retained = state.retained.length;
    this.log.info({ tenantId: state.tenantId, to, sessions, retained }, 'tenant moved');
    this.events.emit({ type: 'tenant.moved', tenantId: state.tenantId, to, sessions, retained });
  }

  // ---- BackgroundListener ------------------------------------------------------------------

  ready(tenants: string[]): void {
    // What it holds from its store is what it serves (a process restarted on `storage: memory`
    // holds nothing: its tenants are the broker's again).
    this.moved.clear();
    for (const id of tenants) if (!this.fixed.has(id)) this.moved.add(id);
  }

  lost(): void {
    // Tenants on their way back will not come: their waiting clients connect again later.
    for (const [, waiting] of this.returning) {
      for (const w of waiting) {
        if (w.conn.state !== ConnState.Closed) w.conn.refuse(ReasonCode.ServerUnavailable, 'background process not available', w.p.protocolVersion);
      }
    }
    this.returning.clear();
  }

  load(rates: Record<string, number>): void {
    if (this.watch === undefined) return;
    for (const tenantId of this.watch.background(new Map(Object.entries(rates)), this.moved, this.clock.now())) {
      this.moveBack(tenantId, 'calm');
    }
  }

  released(state: TenantState): void {
    const waiting = this.returning.get(state.tenantId) ?? [];
    this.returning.delete(state.tenantId);
    putTenant(this.holder, state);
    this.moveEvent(state, 'broker');
    for (const w of waiting) {
      serveHere(w.conn, w.p, w.clientId, w.assigned, w.result);
      w.conn.unblock();
    }
  }

  /** Stops the background process, if there is one. */
  async stop(timeoutMs: number): Promise<void> {
    await this.process?.stop(timeoutMs);
  }
}
