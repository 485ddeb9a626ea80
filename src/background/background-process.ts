/**
 * The broker's background process: a second broker process, without listeners, that serves the
 * tenants named in `background.tenants`. Their plain-TCP connections are handed to it right after
 * authentication (socket and all: connection/handoff.ts), so each such tenant lives wholly in that
 * process: sessions, subscriptions, retained messages (in `<dataDir>/background`), limits and usage.
 *
 * It runs as SCHED_IDLE (spawn.ts): the kernel gives it the CPU only when the broker itself does not
 * want it, and lets the broker in at once when it wakes. Within one event loop, work that has
 * started runs to its end; between processes, a tenant that floods cannot delay the others.
 *
 * A background process that exits is started again after `restartSeconds`; meanwhile its tenants'
 * clients are refused with 0x88 (server unavailable) and reconnect.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { BrokerConfig } from '../config/schema';
import type { HandedConnection, HandoffTarget } from '../connection/handoff';
import { RatatoskError } from '../errors';
import type { Logger } from '../log';
import type { EventBus } from '../plugins/event-bus';
import type { TenantState } from '../tenant/tenant-transfer';
import type { Clock } from '../util/clock';
import type { BackgroundStats, FromBackground, ToBackground } from './messages';
import { rankLast, spawnBackground } from './spawn';

/**
 * Connections on their way, at most (more are refused with 0x88), and how long the broker keeps one
 * on its way: Node passes one socket per round trip to the other process, so a burst of connects
 * queues here; a process that is stopped or starved must not make that queue, or the broker's
 * descriptors, grow without end.
 */
const MAX_IN_FLIGHT = 10_000;
const IN_FLIGHT_MS = 10_000;

interface InFlight {
  socket: Socket;
  at: number;
}

/** What the process reports to the one that placed tenants in it (placement.ts). */
export interface BackgroundListener {
  /** Ready (again): `tenants` are those it holds state of. */
  ready(tenants: string[]): void;
  /** Gone (exited or its channel closed): nothing sent to it since will be answered. */
  lost(): void;
  load(rates: Record<string, number>): void;
  released(state: TenantState): void;
  /** A tenant it was given is in its memory and store. */
  stored(tenantId: string): void;
}

export class BackgroundProcess implements HandoffTarget {
  private child: ChildProcess | undefined;
  private ready = false;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly stats = new Map<number, (s: BackgroundStats) => void>();
  private statsSeq = 0;
  /**
   * Sockets sent (or queued to be sent) and not yet adopted, by message id. The broker keeps its
   * copy until the background process says it has the socket, and closes them all if that process
   * dies first (their clients then reconnect), so none is left open with nobody serving it.
   */
  private readonly inFlight = new Map<number, InFlight>();
  private handSeq = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Whether it has ever been ready (a failed first start fails the broker's start; later ones are retried). */
  private everReady = false;
  private startCount = 0;

  constructor(
    private readonly config: BrokerConfig,
    private readonly baseDir: string,
    private readonly log: Logger,
    private readonly events: EventBus,
    private readonly clock: Clock,
    private readonly listener: BackgroundListener,
  ) {
    this.unwatch = events.watchWanted(() => this.tell({ type: 'wanted', events: this.events.wanted }));
  }

  private readonly unwatch: () => void;

  /** The process id while it is ready. */
  get pid(): number | undefined {
    return this.ready ? this.child?.pid : undefined;
  }

  /** Times the process has been started. */
  get starts(): number {
    return this.startCount;
  }

  /** Connections on their way to it (sent or queued, not yet adopted). */
  get handing(): number {
    return this.inFlight.size;
  }

  /** Starts the process; resolves once it is ready for connections. */
  start(): Promise<void> {
    this.startCount++;
    const child = spawnBackground();
    this.child = child;
    return new Promise((resolve, reject) => {
      let settled = false;
      let readySent = false;
      const failed = (why: string): void => {
        if (!settled) {
          settled = true;
          reject(new RatatoskError('RTK_BACKGROUND_START', why));
        }
      };
      const ended = (): void => {
        this.lost();
        // A restart that fails (exits before it is ready, reports a failure, cannot be spawned) is tried again too.
        if (this.stopped || !this.everReady || this.restartTimer !== undefined) return;
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined;
          if (!this.stopped) this.start().catch((err: unknown) => this.log.error({ err }, 'background process did not start'));
        }, this.config.background.restartSeconds * 1000);
        this.restartTimer.unref();
      };
      child.on('message', (m: FromBackground) => {
        if (m.type === 'ready' && !settled) {
          // It started: from here an exit is restarted, not a failed start.
          this.everReady = true;
          readySent = true;
          // Ranked last before it gets any work.
          void rankLast(child.pid!, this.log).then(() => {
            if (settled || child.exitCode !== null || child.signalCode !== null) return;
            settled = true;
            this.ready = true;
            this.log.info({ pid: child.pid, tenants: m.tenants }, 'background process ready');
            this.listener.ready(m.tenants);
            resolve();
          });
        } else if (m.type === 'failed') {
          failed(m.message);
        } else if (m.type === 'adopted') {
          this.inFlight.get(m.id)?.socket.destroy();
          this.inFlight.delete(m.id);
        } else if (m.type === 'events') {
          for (const e of m.events) this.events.relay(e);
        } else if (m.type === 'stats') {
          this.stats.get(m.id)?.(m.stats);
          this.stats.delete(m.id);
        } else if (m.type === 'load') {
          this.listener.load(m.rates);
        } else if (m.type === 'released') {
          this.listener.released(m.state);
        } else if (m.type === 'stored') {
          this.listener.stored(m.tenantId);
        }
      });
      child.on('error', (err) => {
        this.log.error({ err }, 'background process error');
        // Not spawned at all (no 'exit' follows): the same as an exit.
        if (child.pid === undefined) {
          failed(err.message);
          ended();
        }
      });
      // Its end of the channel closes as it dies, often before the exit is reported: no more handing over.
      child.on('disconnect', () => this.lost());
      child.on('exit', (code, signal) => {
        for (const answer of this.stats.values()) answer({ pid: 0, connections: {} });
        this.stats.clear();
        if (readySent && !settled) {
          // It exited while being ranked last: it did start (and is started again below).
          settled = true;
          resolve();
        }
        failed(`exited while starting (code ${code}, signal ${signal})`);
        if (!this.stopped && this.everReady) this.log.error({ code, signal, restartSeconds: this.config.background.restartSeconds }, 'background process exited; restarting');
        ended();
      });
      this.tell({ type: 'start', config: this.config, baseDir: this.baseDir, events: this.events.wanted });
    });
  }

  /** Whether it is ready and connected (what is sent now reaches it). */
  get available(): boolean {
    return this.ready && this.child?.connected === true;
  }

  /** Gives it a tenant's state (before any of the tenant's connections). */
  putTenant(state: TenantState): void {
    this.tell({ type: 'tenant', state });
  }

  /** Asks it to give a tenant up (answered through `BackgroundListener.released`). */
  release(tenantId: string): void {
    this.tell({ type: 'release', tenantId });
  }

  unavailable(): string | undefined {
    if (!this.available) return 'background process not available';
    if (this.inFlight.size >= MAX_IN_FLIGHT) return 'background process busy';
    return undefined;
  }

  send(socket: Socket, handed: HandedConnection): void {
    const child = this.child!;
    // Not tracked by the server it came from: its 'close' here is the listener's account of it.
    (socket as unknown as { server: unknown }).server = null;
    const id = ++this.handSeq;
    this.inFlight.set(id, { socket, at: this.clock.now() });
    this.sweepLater();
    const message: ToBackground = { type: 'connection', id, handed, events: this.events.wanted };
    child.send(message, socket, { keepOpen: true }, (err) => {
      if (!err) return;
      this.log.warn({ err, clientId: handed.clientId }, 'handing a connection to the background process failed');
      this.inFlight.delete(id);
      socket.destroy();
    });
  }

  /** The process is gone (its channel closed, or it exited): nothing more goes to it. */
  private lost(): void {
    const was = this.ready;
    this.ready = false;
    for (const f of this.inFlight.values()) f.socket.destroy();
    this.inFlight.clear();
    if (was) this.listener.lost();
  }

  /**
   * Closes the broker's copies of sockets the background process has not taken within IN_FLIGHT_MS
   * (it is stopped, or starved). One already in the channel stays open there, and the process takes
   * it when it runs again (or the kernel closes it when the process dies); one still queued here is
   * closed, and its client reconnects.
   */
  private sweepLater(): void {
    if (this.sweepTimer !== undefined) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      const old = this.clock.now() - IN_FLIGHT_MS;
      let dropped = 0;
      for (const [id, f] of this.inFlight) {
        if (f.at > old) continue;
        f.socket.destroy();
        this.inFlight.delete(id);
        dropped++;
      }
      if (dropped > 0) this.log.warn({ sockets: dropped }, 'background process has not taken connections handed to it');
      if (this.inFlight.size > 0) this.sweepLater();
    }, 1000);
    this.sweepTimer.unref();
  }

  /** Open connections of the background process, by tenant (empty when it is not running). */
  connections(): Promise<BackgroundStats> {
    if (!this.available) return Promise.resolve({ pid: 0, connections: {} });
    const id = ++this.statsSeq;
    return new Promise((resolve) => {
      this.stats.set(id, resolve);
      this.tell({ type: 'stats', id });
    });
  }

  /** Stops the process gracefully (its clients get DISCONNECT 0x8B); kills it after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.unwatch();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    const child = this.child;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) this.tell({ type: 'stop' });
    else child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  private tell(message: ToBackground): void {
    if (this.child?.connected === true) this.child.send(message);
  }
}
