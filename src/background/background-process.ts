/**
 * The broker's background process: a second broker process, without listeners, that serves the
 * tenants named in `background.tenants`. Their plain-TCP connections are handed to it right after
 * authentication (socket and all), so each such tenant lives wholly in that process: sessions,
 * subscriptions, retained messages (in `<dataDir>/background`), limits and usage.
 *
 * It runs as SCHED_IDLE (`chrt --idle 0`): the kernel gives it the CPU only when the broker itself
 * does not want it, and lets the broker in at once when it wakes. Within one event loop, work that
 * has started runs to its end; between processes, a tenant that floods cannot delay the others.
 *
 * A background process that exits is started again after `restartSeconds`; meanwhile its tenants'
 * clients are refused with 0x88 (server unavailable) and reconnect.
 */
import { fork, spawnSync, type ChildProcess, type ForkOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { setPriority } from 'node:os';
import type { Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import type { ConnectPacket } from '../codec/packets';
import { ReasonCode } from '../codec/reason-codes';
import type { BrokerConfig } from '../config/schema';
import type { Connection } from '../connection/connection';
import type { BackgroundPlacement } from '../connection/context';
import type { Authenticated } from '../connection/handle-connect';
import { canHandOff, takeApart } from '../connection/handoff';
import type { Logger } from '../log';
import type { EventBus } from '../plugins/event-bus';
import type { BackgroundStats, FromBackground, ToBackground } from './messages';

/** How long a handed connection may wait for its output to reach the socket before it is given up. */
const HANDOFF_WAIT_MS = 1000;

/**
 * Sockets sent and not yet adopted, at most (more are refused with 0x88), and how long the broker
 * keeps its copy of one: a background process that is stopped or starved must not use up the
 * broker's file descriptors.
 */
const MAX_IN_FLIGHT = 1000;
const IN_FLIGHT_MS = 10_000;

export class BackgroundProcess implements BackgroundPlacement {
  private child: ChildProcess | undefined;
  private ready = false;
  private stopped = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly tenants: ReadonlySet<string>;
  private readonly stats = new Map<number, (s: BackgroundStats) => void>();
  private statsSeq = 0;
  /**
   * Sockets sent and not yet adopted, by message id. The broker keeps its copy until the background
   * process says it has the socket, and closes them all if that process dies first (their clients
   * then reconnect), so none is left open with nobody serving it.
   */
  private readonly inFlight = new Map<number, { socket: Socket; at: number }>();
  private handSeq = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** Whether it has ever been ready (a failed first start fails the broker's start; later ones are retried). */
  private everReady = false;
  /** Times the process has been started. */
  starts = 0;

  constructor(
    private readonly config: BrokerConfig,
    private readonly baseDir: string,
    private readonly log: Logger,
    private readonly events: EventBus,
  ) {
    this.tenants = new Set(config.background.tenants);
  }

  serves(tenantId: string): boolean {
    return this.tenants.has(tenantId);
  }

  /** The process id while it runs. */
  get pid(): number | undefined {
    return this.ready ? this.child?.pid : undefined;
  }

  /** Starts the process; resolves once it is ready for connections. */
  start(): Promise<void> {
    this.starts++;
    const child = spawnBackground(this.log);
    this.child = child;
    return new Promise((resolve, reject) => {
      let settled = false;
      child.on('message', (m: FromBackground) => {
        if (m.type === 'ready' && !settled) {
          settled = true;
          this.ready = true;
          this.everReady = true;
          this.log.info({ pid: child.pid, tenants: [...this.tenants] }, 'background process ready');
          resolve();
        } else if (m.type === 'failed' && !settled) {
          settled = true;
          reject(new Error(`background process: ${m.message}`));
        } else if (m.type === 'adopted') {
          this.inFlight.get(m.id)?.socket.destroy();
          this.inFlight.delete(m.id);
        } else if (m.type === 'event') {
          this.events.relay(m.event);
        } else if (m.type === 'stats') {
          this.stats.get(m.id)?.(m.stats);
          this.stats.delete(m.id);
        }
      });
      child.on('error', (err) => this.log.error({ err }, 'background process error'));
      // Its end of the channel closes as it dies, often before the exit is reported: no more handing over.
      child.on('disconnect', () => this.lost());
      child.on('exit', (code, signal) => {
        this.lost();
        for (const answer of this.stats.values()) answer({ pid: 0, connections: {} });
        this.stats.clear();
        if (!settled) {
          settled = true;
          reject(new Error(`background process exited while starting (code ${code}, signal ${signal})`));
        }
        // A restart that fails (exits before it is ready, or reports a failure) is tried again too.
        if (this.stopped || !this.everReady) return;
        this.log.error({ code, signal, restartSeconds: this.config.background.restartSeconds }, 'background process exited; restarting');
        this.restartTimer = setTimeout(() => {
          this.restartTimer = undefined;
          if (!this.stopped) this.start().catch((err: unknown) => this.log.error({ err }, 'background process restart failed'));
        }, this.config.background.restartSeconds * 1000);
        this.restartTimer.unref();
      });
      this.send({ type: 'start', config: this.config, baseDir: this.baseDir, events: this.events.wanted });
    });
  }

  handOff(conn: Connection, p: ConnectPacket, clientId: string, assigned: boolean, result: Authenticated): void {
    if (!canHandOff(conn)) {
      conn.refuse(ReasonCode.ServerUnavailable, `tenant ${result.tenantId} is served on plain TCP listeners only`, p.protocolVersion);
      return;
    }
    // Nothing more is read or decoded here; what was read goes along with the socket.
    conn.block();
    conn.transport.pause();
    const deadline = Date.now() + HANDOFF_WAIT_MS;
    const transfer = (): void => {
      if (conn.closed) return;
      if (!this.ready || this.child?.connected !== true) {
        conn.refuse(ReasonCode.ServerUnavailable, 'background process not available', p.protocolVersion);
        return;
      }
      if (this.inFlight.size >= MAX_IN_FLIGHT) {
        conn.refuse(ReasonCode.ServerUnavailable, 'background process busy', p.protocolVersion);
        return;
      }
      // A packet behind the CONNECT (or an AUTH) that did not decode: its reason code now, as the
      // stream cannot be handed on from the middle of it.
      const bad = conn.pendingError;
      if (bad !== undefined) {
        conn.refuse(bad.reasonCode, bad.message, p.protocolVersion);
        return;
      }
      const taken = takeApart(conn, p, clientId, assigned, result);
      if (taken === undefined) {
        // Output (an AUTH of an enhanced authentication) still on its way to the client.
        if (Date.now() < deadline) setTimeout(transfer, 5);
        else conn.refuse(ReasonCode.ServerUnavailable, 'connection could not be handed over', p.protocolVersion);
        return;
      }
      const { socket, handed } = taken;
      // Not tracked by the server it came from: its 'close' here is the listener's account of it.
      (socket as unknown as { server: unknown }).server = null;
      const id = ++this.handSeq;
      this.inFlight.set(id, { socket, at: Date.now() });
      this.sweepLater();
      const message: ToBackground = { type: 'connection', id, handed, events: this.events.wanted };
      this.child.send(message, socket, { keepOpen: true }, (err) => {
        if (!err) return;
        this.log.warn({ err, clientId }, 'handing a connection to the background process failed');
        this.inFlight.delete(id);
        socket.destroy();
      });
    };
    // After this turn: the CONNECT's chunk is fully decoded by then.
    setImmediate(transfer);
  }

  /** The process is gone (its channel closed, or it exited): nothing more goes to it. */
  private lost(): void {
    this.ready = false;
    for (const f of this.inFlight.values()) f.socket.destroy();
    this.inFlight.clear();
  }

  /**
   * Closes the broker's copies of sockets the background process has not taken within IN_FLIGHT_MS
   * (it is stopped, or starved): the socket stays open in the message on its way, and the process
   * takes it when it runs again (or the kernel closes it when the process dies).
   */
  private sweepLater(): void {
    if (this.sweepTimer !== undefined) return;
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      const old = Date.now() - IN_FLIGHT_MS;
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
    if (!this.ready || this.child?.connected !== true) return Promise.resolve({ pid: 0, connections: {} });
    const id = ++this.statsSeq;
    return new Promise((resolve) => {
      this.stats.set(id, resolve);
      this.send({ type: 'stats', id });
    });
  }

  /** Stops the process gracefully (its clients get DISCONNECT 0x8B); kills it after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) this.send({ type: 'stop' });
    else child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  private send(message: ToBackground): void {
    if (this.child?.connected === true) this.child.send(message);
  }
}

/**
 * Forks the background process under `chrt --idle 0` (every thread of it SCHED_IDLE); where `chrt`
 * is missing or may not do that, at the lowest nice level, which only lowers its share of the CPU.
 */
function spawnBackground(log: Logger): ChildProcess {
  const entry = join(__dirname, 'background-main.js');
  // The broker's Node.js options carry over (bin/ratatosk's garbage-collector settings; measured:
  // with Node's defaults, SCHED_IDLE all the same, a neighbour's p99 beside a flood was 3.0-3.9 ms
  // instead of 0.6 ms, for a reason not yet known); test-runner, inspector and watch options do not.
  const execArgv = process.execArgv.filter((a) => !/^--(test|inspect|watch|experimental-test|eval|print)/.test(a));
  const options: ForkOptions = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' };
  const chrt = findOnPath('chrt');
  // chrt may be there and still not allowed to (a sandbox that forbids sched_setscheduler).
  if (chrt !== undefined && spawnSync(chrt, ['--idle', '0', 'true'], { stdio: 'ignore' }).status === 0) {
    return fork(entry, [], { ...options, execPath: chrt, execArgv: ['--idle', '0', process.execPath, ...execArgv] });
  }
  const child = fork(entry, [], { ...options, execArgv });
  log.warn('chrt --idle is not available: the background process runs at nice 19 instead of SCHED_IDLE');
  if (child.pid !== undefined) setPriority(child.pid, 19);
  return child;
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}
