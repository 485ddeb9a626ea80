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
 * - The background process is started when a tenant is about to move (at start, if it holds tenants
 *   from an earlier run), and stopped after it has served no moved tenant for a while.
 * - Failures: a tenant sent there is kept here too until the background process says it has stored
 *   it; if the process dies first, the tenant is put back here. A tenant on its way back whose
 *   process dies, or does not answer in time, stays placed there. A tenant both processes hold
 *   (after such a failure, or a crash of the broker in the middle of a move) is brought back here,
 *   keeping the sessions here where both have one.
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

interface Returning {
  waiting: Waiting[];
  timer: NodeJS.Timeout;
}

/** How long a background process that failed to start is not asked for again (ms). */
const START_RETRY_MS = 60_000;
/** How long a tenant's way back may take before its waiting clients are refused (ms). */
const RETURN_TIMEOUT_MS = 10_000;
/** How long the background process runs on without a moved tenant before it is stopped (ms). */
const IDLE_STOP_MS = 10 * 60_000;
/**
 * A tenant that moves out again within this time of coming back needs twice the calm it needed
 * before to come back the next time (up to MAX_CALM_FACTOR times `calmSeconds`): a tenant whose
 * input there only looked calm (its process starved of CPU) does not swing back and forth.
 */
const FLAP_WINDOW_MS = 10 * 60_000;
const MAX_CALM_FACTOR = 32;

export class Placement implements BackgroundPlacement, BackgroundListener {
  private process: BackgroundProcess | undefined;
  private starting: Promise<boolean> | undefined;
  private startFailedAt = -Infinity;
  private readonly fixed: ReadonlySet<string>;
  /** Tenants placed in the background automatically. */
  private readonly moved = new Set<string>();
  /** Tenants sent there and not yet stored there, with what was sent (put back here if it dies first). */
  private readonly sending = new Map<string, TenantState>();
  /** Tenants on their way back to the broker, with the connections that wait for them. */
  private readonly returning = new Map<string, Returning>();
  /** When each tenant last came back, and how much calm it needs to come back again (× calmSeconds). */
  private readonly cameBackAt = new Map<string, number>();
  private readonly calmFactor = new Map<string, number>();
  /** Since when the background process has had nothing moved to it (ms), while running. */
  private idleSince: number | undefined;
  private readonly watch: LoadWatch | undefined;
  private stopped = false;
  private readonly afterMs: number;
  private readonly calmMs: number;

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
    this.afterMs = auto.afterSeconds * 1000;
    this.calmMs = auto.calmSeconds * 1000;
    if (auto.enabled) this.watch = new LoadWatch({ afterMs: this.afterMs, calmMs: this.calmMs });
  }

  /** Whether an earlier run left a background store (it may hold tenants). */
  static hasStored(config: BrokerConfig): boolean {
    return config.storage === 'lmdb' && existsSync(join(config.dataDir, 'background'));
  }

  /**
   * Starts the background process now if it has work from the start: named tenants, or (stored)
   * tenants it served in an earlier run. Otherwise it starts when a tenant is about to move.
   */
  async start(): Promise<void> {
    if (this.fixed.size === 0 && !Placement.hasStored(this.config)) return;
    const process = this.newProcess();
    await process.start();
    if (this.fixed.size === 0 && this.moved.size === 0 && this.returning.size === 0) {
      // It holds nothing any more: it starts again when a tenant moves.
      await this.stopProcess();
    }
  }

  /** The background process, once started. */
  get backgroundProcess(): BackgroundProcess | undefined {
    return this.process;
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
    const w: Waiting = { conn, p, clientId, assigned, result };
    if (this.returning.has(tenantId)) {
      this.wait(tenantId, w);
      return;
    }
    if (this.moved.has(tenantId) && !canHandOff(conn)) {
      // A TLS or WebSocket client cannot be served there: its tenant comes back for it.
      this.moveBack(tenantId, 'a client that cannot change process connected');
      if (this.returning.has(tenantId)) {
        this.wait(tenantId, w);
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

  private wait(tenantId: string, w: Waiting): void {
    // Nothing it sent is handled until its tenant is back (or it is refused).
    w.conn.block();
    this.returning.get(tenantId)!.waiting.push(w);
  }

  /** One interval of the broker's fair scheduler. */
  interval(load: IntervalLoad): void {
    const watch = this.watch;
    if (watch === undefined || this.stopped) return;
    const now = this.clock.now();
    const tenantId = watch.interval(load, now, this.movable);
    if (tenantId !== undefined) this.moveOut(tenantId);
    else if (this.process === undefined && watch.candidateFor(now) >= this.afterMs / 2 && now - this.startFailedAt >= START_RETRY_MS) {
      // A tenant may move soon: the process starts now, so that it is ready by then.
      this.starting ??= this.startLazily();
    }
  }

  private readonly movable = (tenantId: string): boolean => {
    if (this.serves(tenantId)) return false;
    if (this.clock.now() - this.startFailedAt < START_RETRY_MS) return false;
    const tenant = this.holder.tenants.find(tenantId);
    if (tenant === undefined) return false;
    for (const c of tenant.connections) if (!canHandOff(c as Connection)) return false;
    return true;
  };

  private moveOut(tenantId: string): void {
    const process = this.process;
    if (process === undefined || !process.available) {
      // The tenant moves once the process is ready (if it still should).
      this.starting ??= this.startLazily();
      void this.starting.then((ok) => {
        if (ok && !this.stopped && this.movable(tenantId)) this.moveOut(tenantId);
      });
      return;
    }
    const now = this.clock.now();
    const back = this.cameBackAt.get(tenantId);
    this.calmFactor.set(tenantId, back !== undefined && now - back < FLAP_WINDOW_MS ? Math.min(MAX_CALM_FACTOR, (this.calmFactor.get(tenantId) ?? 1) * 2) : 1);
    this.moved.add(tenantId);
    const state = takeTenant(this.holder, tenantId);
    this.sending.set(tenantId, state);
    process.putTenant(state);
    this.moveEvent(state, 'background');
  }

  private async startLazily(): Promise<boolean> {
    if (this.stopped) return false;
    try {
      if (this.process === undefined) await this.newProcess().start();
      return this.process?.available === true;
    } catch (err) {
      this.startFailedAt = this.clock.now();
      if (!this.stopped) this.log.error({ err }, 'background process did not start; tenants stay in the broker');
      this.process = undefined;
      return false;
    } finally {
      this.starting = undefined;
    }
  }

  private newProcess(): BackgroundProcess {
    this.idleSince = undefined;
    this.process = new BackgroundProcess(this.config, this.baseDir, this.log, this.events, this.clock, this);
    return this.process;
  }

  private async stopProcess(): Promise<void> {
    const process = this.process;
    this.process = undefined;
    this.idleSince = undefined;
    await process?.stop(5000);
  }

  private moveBack(tenantId: string, why: string): void {
    const process = this.process;
    if (!this.moved.has(tenantId) || process === undefined || !process.available) return;
    this.moved.delete(tenantId);
    const timer = setTimeout(() => this.returnTimedOut(tenantId), RETURN_TIMEOUT_MS);
    timer.unref();
    this.returning.set(tenantId, { waiting: [], timer });
    this.log.info({ tenantId, why }, 'tenant moving back from the background process');
    process.release(tenantId);
  }

  /** No answer to a `release`: the tenant stays there, and the clients waiting for it connect again. */
  private returnTimedOut(tenantId: string): void {
    this.log.warn({ tenantId }, 'the background process did not give a tenant back in time; it stays there');
    this.endReturn(tenantId, 'tenant is moving; connect again');
    this.moved.add(tenantId);
  }

  private endReturn(tenantId: string, refusal: string): void {
    const r = this.returning.get(tenantId);
    if (r === undefined) return;
    this.returning.delete(tenantId);
    clearTimeout(r.timer);
    for (const w of r.waiting) {
      if (w.conn.state !== ConnState.Closed) w.conn.refuse(ReasonCode.ServerUnavailable, refusal, w.p.protocolVersion);
    }
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
    for (const id of [...this.moved]) {
      // Held here too (a failure in the middle of a move), or nothing here would bring it back.
      if (this.holder.tenants.find(id) !== undefined || this.holder.retained.usage(id).topics > 0) this.moveBack(id, 'the broker holds the tenant too');
      else if (this.watch === undefined) this.moveBack(id, 'automatic placement is off');
    }
  }

  lost(): void {
    // Sent and not stored there: put back here (it may have stored part of it; see `ready`).
    for (const state of this.sending.values()) {
      this.log.warn({ tenantId: state.tenantId }, 'the background process ended before it stored a tenant moved to it; the broker serves the tenant again');
      this.moved.delete(state.tenantId);
      void putTenant(this.holder, state).catch((err: unknown) => this.log.error({ err, tenantId: state.tenantId }, 'storing a tenant moved back failed'));
      this.moveEvent(state, 'broker');
    }
    this.sending.clear();
    // On their way back: they stay there (its store still has them); their waiting clients connect again.
    for (const tenantId of [...this.returning.keys()]) {
      this.endReturn(tenantId, 'background process not available');
      this.moved.add(tenantId);
    }
  }

  stored(tenantId: string): void {
    this.sending.delete(tenantId);
  }

  load(rates: Record<string, number>): void {
    const now = this.clock.now();
    if (this.watch !== undefined) {
      const calmMsOf = (id: string): number => this.calmMs * (this.calmFactor.get(id) ?? 1);
      for (const tenantId of this.watch.background(new Map(Object.entries(rates)), this.moved, now, calmMsOf)) this.moveBack(tenantId, 'calm');
    }
    if (this.fixed.size > 0 || this.moved.size > 0 || this.returning.size > 0 || this.sending.size > 0 || this.starting !== undefined) {
      this.idleSince = undefined;
      return;
    }
    this.idleSince ??= now;
    if (now - this.idleSince >= IDLE_STOP_MS) void this.stopProcess();
  }

  released(state: TenantState): void {
    const tenantId = state.tenantId;
    const waiting = this.returning.get(tenantId)?.waiting ?? [];
    const r = this.returning.get(tenantId);
    if (r !== undefined) clearTimeout(r.timer);
    this.returning.delete(tenantId);
    this.moved.delete(tenantId);
    this.cameBackAt.set(tenantId, this.clock.now());
    void putTenant(this.holder, state).catch((err: unknown) => this.log.error({ err, tenantId }, 'storing a tenant moved back failed'));
    this.moveEvent(state, 'broker');
    for (const w of waiting) {
      serveHere(w.conn, w.p, w.clientId, w.assigned, w.result);
      w.conn.unblock();
    }
  }

  /** Stops the background process, if there is one. */
  async stop(timeoutMs: number): Promise<void> {
    // Nothing starts or moves from here on (the fair scheduler may still report an interval).
    this.stopped = true;
    for (const tenantId of [...this.returning.keys()]) this.endReturn(tenantId, 'server shutting down');
    // (one still starting is told to stop once it has: its start then fails, quietly)
    await this.process?.stop(timeoutMs);
  }
}
