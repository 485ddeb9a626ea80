/**
 * A real broker process for the crash tests (`node dist/src/main.js start ...` on a loopback port
 * and a data directory of its own), MQTT.js clients, a windowed publisher that records which
 * messages were acknowledged, and a receiver that counts deliveries per sequence number.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient, type Packet } from 'mqtt';

export const MAIN = join(__dirname, '..', '..', 'src', 'main.js');

export const DURABLE_CONFIG = `host: 127.0.0.1
durability: sync
tenants:
  default:
    inboxSize: 100000
    maxInflightOut: 100
`;

/** A free loopback port: listen on port 0, read the port, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `cond` holds or `ms` pass; returns whether it held. */
export async function waitUntil(cond: () => boolean, ms: number, every = 10): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() >= deadline) return false;
    await sleep(every);
  }
  return true;
}

/** Brokers still running when the test process exits (a timed-out test) are killed with it. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
});

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class BrokerProcess {
  /** stdout and stderr of every run (log level warn), for diagnostics. */
  output = '';
  private child: ChildProcess | undefined;
  private exit: Promise<Exit> | undefined;
  readonly dataDir: string;
  readonly configFile: string;

  private constructor(
    readonly dir: string,
    readonly port: number,
    config: string,
  ) {
    this.dataDir = join(dir, 'data');
    this.configFile = join(dir, 'ratatosk.yaml');
    mkdirSync(this.dataDir);
    writeFileSync(this.configFile, config);
  }

  static async create(config = DURABLE_CONFIG): Promise<BrokerProcess> {
    return new BrokerProcess(mkdtempSync(join(tmpdir(), 'rtk-crash-')), await freePort(), config);
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the broker and resolves, with the milliseconds it took, once its port accepts connections. */
  async start(): Promise<number> {
    if (this.child) throw new Error('already running');
    this.killSent = false;
    const started = Date.now();
    const child = spawn(
      process.execPath,
      [MAIN, 'start', '--config', this.configFile, '--mqtt-port', String(this.port), '--ws-port', '0', '--data-dir', this.dataDir, '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    liveChildren.add(child);
    const collect = (b: Buffer): void => {
      if (this.output.length < 200_000) this.output += b.toString();
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        liveChildren.delete(child);
        if (this.child === child) this.child = undefined;
        resolve({ code, signal });
      });
    });
    let exited: Exit | undefined;
    void this.exit.then((e) => (exited = e));
    const deadline = started + 15_000;
    for (;;) {
      if (exited) throw new Error(`broker exited during start (${exited.code ?? exited.signal}):\n${this.output}`);
      if (await canConnect(this.port)) return Date.now() - started;
      if (Date.now() > deadline) throw new Error(`broker did not listen on ${this.port} within 15 s:\n${this.output}`);
      await sleep(15);
    }
  }

  /** Whether killNow() was called on the current run. */
  killSent = false;

  /** SIGKILL now (synchronously, so that it can be called from a message callback). */
  killNow(): void {
    if (!this.child) return;
    this.killSent = true;
    this.child.kill('SIGKILL');
  }

  /** SIGKILL and wait until the process is gone. */
  async kill(): Promise<void> {
    const exit = this.exit;
    this.killNow();
    if (exit) await exit;
  }

  /** Waits until the process is gone (after killNow). */
  async exited(): Promise<Exit | undefined> {
    return this.exit;
  }

  /** SIGTERM (graceful shutdown); resolves with the exit code and the milliseconds it took. */
  async stop(): Promise<Exit & { ms: number }> {
    const child = this.child;
    if (!child) throw new Error('not running');
    const started = Date.now();
    child.kill('SIGTERM');
    const e = await this.exit!;
    return { ...e, ms: Date.now() - started };
  }

  async dispose(): Promise<void> {
    if (this.child) await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface Connected {
  client: MqttClient;
  connack: IConnackPacket;
}

/**
 * Connects an MQTT.js client and resolves with its CONNACK. `setup` runs before the connection
 * opens, so that message handlers see what the broker sends right after CONNACK.
 */
/** Every client opened, so that a failed or timed-out test can still close them. */
const openClients = new Set<MqttClient>();

export async function closeAllClients(): Promise<void> {
  const all = [...openClients];
  openClients.clear();
  await Promise.all(all.map((c) => closeClient(c)));
}

export function connectClient(port: number, opts: IClientOptions, setup?: (c: MqttClient) => void): Promise<Connected> {
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...opts,
  });
  openClients.add(client);
  client.once('end', () => openClients.delete(client));
  // Errors after the first CONNACK (a killed broker) are expected; the tests look at outcomes.
  client.on('error', () => undefined);
  setup?.(client);
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      cleanup();
      client.end(true);
      reject(err);
    };
    const onClose = (): void => {
      if (opts.reconnectPeriod) return;
      cleanup();
      reject(new Error(`${String(opts.clientId)}: closed before CONNACK`));
    };
    const cleanup = (): void => {
      client.off('error', onError);
      client.off('close', onClose);
    };
    client.once('connect', (connack) => {
      cleanup();
      resolve({ client, connack });
    });
    client.once('error', onError);
    client.on('close', onClose);
  });
}

/** Ends a client without waiting for anything in flight. */
export function closeClient(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.end(true, {}, () => resolve()));
}

/** Normal DISCONNECT, after what is in flight. */
export function disconnectClient(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.end(false, {}, () => resolve()));
}

export function subscribe(client: MqttClient, filter: string, qos: 0 | 1 | 2): Promise<number> {
  return new Promise((resolve, reject) => {
    client.subscribe(filter, { qos }, (err, granted) => {
      if (err) reject(err);
      else resolve(granted?.[0]?.qos ?? -1);
    });
  });
}

export function publish(client: MqttClient, topic: string, payload: string | Buffer, opts: { qos: 0 | 1 | 2; retain?: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, { qos: opts.qos, retain: opts.retain ?? false }, (err) => (err ? reject(err) : resolve()));
  });
}

export interface StreamOptions {
  count: number;
  qos: 1 | 2;
  /** Messages in flight at most (below the broker's Receive Maximum of 64). */
  window: number;
  topic: (seq: number) => string;
  payload: (seq: number) => string;
  retain?: boolean;
  /** Called for each acknowledgement (PUBACK, or PUBREC for QoS 2) as it arrives. */
  onAck?: (seq: number, acked: number) => void;
}

export interface Stream {
  /** Seqs whose PUBACK (QoS 1) or PUBREC (QoS 2) arrived with a success reason code. */
  readonly acked: Set<number>;
  /** Seqs whose PUBCOMP arrived (QoS 2). */
  readonly completed: Set<number>;
  /** Seqs sent (PUBLISH written). */
  sent(): number;
  /** Resolves when every message is acknowledged or the connection closed. */
  readonly done: Promise<void>;
  /** Reason code of a DISCONNECT the broker sent, if any. */
  disconnectReason(): number | undefined;
}

/**
 * Publishes seq 0..count-1 as fast as the window allows. Acknowledgements are read from the packets
 * themselves (packet id of the PUBLISH sent → seq), not from client callbacks.
 */
export function publishStream(client: MqttClient, o: StreamOptions): Stream {
  const acked = new Set<number>();
  const completed = new Set<number>();
  const seqOfId = new Map<number, number>();
  let next = 0;
  let inflight = 0;
  let sent = 0;
  let closed = false;
  let disconnectReason: number | undefined;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  client.on('packetsend', (p: Packet) => {
    if (p.cmd === 'publish' && p.messageId !== undefined) {
      sent++;
      seqOfId.set(p.messageId, Number(String(p.payload).split(':').pop()));
    }
  });
  client.on('packetreceive', (p: Packet) => {
    if ((p.cmd === 'puback' && o.qos === 1) || (p.cmd === 'pubrec' && o.qos === 2)) {
      const rc = (p as { reasonCode?: number }).reasonCode ?? 0;
      const seq = seqOfId.get(p.messageId!);
      if (seq !== undefined && rc < 0x80 && !acked.has(seq)) {
        acked.add(seq);
        o.onAck?.(seq, acked.size);
      }
    } else if (p.cmd === 'disconnect') {
      disconnectReason = p.reasonCode ?? 0;
    } else if (p.cmd === 'pubcomp') {
      const seq = seqOfId.get(p.messageId!);
      if (seq !== undefined) completed.add(seq);
    }
  });
  client.once('close', () => {
    closed = true;
    finish();
  });
  const pump = (): void => {
    while (!closed && inflight < o.window && next < o.count) {
      const seq = next++;
      inflight++;
      client.publish(o.topic(seq), `${o.payload(seq)}:${seq}`, { qos: o.qos, retain: o.retain ?? false }, (err) => {
        inflight--;
        if (err) return;
        if (next >= o.count && inflight === 0) finish();
        else pump();
      });
    }
  };
  pump();
  return { acked, completed, sent: () => sent, done, disconnectReason: () => disconnectReason };
}

/**
 * Waits for a stream that is meant to end by the broker being killed from its onAck; fails (instead
 * of waiting forever) when it ended another way.
 */
export async function streamUntilKill(b: BrokerProcess, stream: Stream): Promise<void> {
  await stream.done;
  if (!b.killSent) {
    const rc = stream.disconnectReason();
    throw new Error(
      `the publish stream ended before the kill point: ${stream.acked.size} acknowledged of ${stream.sent()} sent` +
        (rc !== undefined ? `, broker sent DISCONNECT 0x${rc.toString(16)}` : ''),
    );
  }
  await b.exited();
}

/** Seq of a payload written by publishStream (`<anything>:<seq>`). */
export function seqOf(payload: Buffer | string): number {
  return Number(String(payload).split(':').pop());
}

/** Counts deliveries per seq, on any number of clients. */
export class Received {
  readonly counts = new Map<number, number>();
  total = 0;
  lastAt = 0;

  /** Counts every message `client` receives, under `key(payload)` (the seq by default). */
  listen(client: MqttClient, key: (payload: Buffer) => number = seqOf): void {
    client.on('message', (_topic, payload) => {
      const seq = key(payload);
      this.counts.set(seq, (this.counts.get(seq) ?? 0) + 1);
      this.total++;
      this.lastAt = Date.now();
    });
  }

  hasAll(seqs: Iterable<number>): boolean {
    for (const s of seqs) if (!this.counts.has(s)) return false;
    return true;
  }

  missing(seqs: Iterable<number>): number[] {
    const out: number[] = [];
    for (const s of seqs) if (!this.counts.has(s)) out.push(s);
    return out.sort((a, b) => a - b);
  }

  /** Seqs delivered more than once. */
  duplicates(): number[] {
    return [...this.counts].filter(([, n]) => n > 1).map(([s]) => s).sort((a, b) => a - b);
  }

  /**
   * Waits until every seq of `seqs` arrived; gives up early once nothing arrived for `quietMs`
   * (a broker that lost messages does not make the test wait for its full timeout).
   */
  async waitForAll(seqs: Iterable<number>, maxMs: number, quietMs = 2000): Promise<boolean> {
    const list = [...seqs];
    const start = Date.now();
    const deadline = start + maxMs;
    for (;;) {
      if (this.hasAll(list)) return true;
      const now = Date.now();
      if (now >= deadline || now - Math.max(this.lastAt, start) >= quietMs) return false;
      await sleep(20);
    }
  }

  /** Waits until nothing arrived for `quietMs` (at most `maxMs`). */
  async settle(quietMs: number, maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    const start = Date.now();
    while (Date.now() < deadline) {
      if (Date.now() - Math.max(this.lastAt, start) >= quietMs) return;
      await sleep(20);
    }
  }
}

/** A short list for messages: the first few items and how many there are. */
export function brief(xs: number[], n = 20): string {
  return xs.length <= n ? `[${xs.join(', ')}]` : `[${xs.slice(0, n).join(', ')}, ...] (${xs.length})`;
}
