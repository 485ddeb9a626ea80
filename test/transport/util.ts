/**
 * Helpers of the transport suite: the TLS fixtures, listeners found by name, a recorder of broker
 * events, hand-built MQTT bytes (Ratatosk's own encoder) and a tiny decoder for raw sockets and
 * raw WebSockets.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { PacketDecoder } from '../../src/codec/decoder';
import { encodePacket } from '../../src/codec/encoder';
import type { ConnectPacket, Packet, ProtocolVersion, QoS } from '../../src/codec/packets';
import type { Connection } from '../../src/connection/connection';
import type { TimedEvent } from '../../src/plugins/event-bus';
import type { BrokerEvent } from '../../src/plugins/events';
import type { TestBroker } from '../helpers/broker';

/** Options of every test: a hung test fails instead of hanging the run. */
export const T = { timeout: 20_000 };

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

let seq = 0;
/** A unique client id or topic level (letters and digits only). */
export function uid(prefix = 'c'): string {
  return `${prefix}${process.pid}x${++seq}`;
}

// ---- TLS fixtures --------------------------------------------------------------------------

/** test/fixtures/tls, found from the compiled file (dist/test/transport) or the source. */
export const TLS_DIR: string = (() => {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'test', 'fixtures', 'tls');
    if (existsSync(join(candidate, 'ca.pem'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`test/fixtures/tls not found above ${__dirname}`);
  }
})();

export function tlsPath(name: string): string {
  return join(TLS_DIR, name);
}

export function tlsFile(name: string): Buffer {
  return readFileSync(tlsPath(name));
}

/** Server side of a tls/wss listener: the localhost certificate, and the test CA for client certificates. */
export const SERVER_PEM = { cert: tlsPath('server.pem'), key: tlsPath('server.key'), ca: tlsPath('ca.pem') };

// ---- Listeners and connections -------------------------------------------------------------

/** The bound port of the listener called `name`. */
export function portOf(tb: TestBroker, name: string): number {
  const l = tb.broker.listeners.find((x) => x.name === name);
  if (!l) assert.fail(`no listener ${name} (have ${tb.broker.listeners.map((x) => x.name).join(', ')})`);
  return l.port;
}

export function listenerOf(tb: TestBroker, name: string): TestBroker['broker']['listeners'][number] {
  const l = tb.broker.listeners.find((x) => x.name === name);
  if (!l) assert.fail(`no listener ${name}`);
  return l;
}

/** The live connection of a client id, if any. */
export function connectionOf(tb: TestBroker, clientId: string): Connection | undefined {
  for (const c of tb.broker.connections.values()) if (c.clientId === clientId) return c;
  return undefined;
}

/** Waits until `cond()` holds (polling), or fails with `what()`. */
export async function until(cond: () => boolean, what: () => string, ms = 3000, every = 5): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms: ${what()}`);
    await sleep(every);
  }
}

// ---- Broker events -------------------------------------------------------------------------

type EventOf<K extends BrokerEvent['type']> = Extract<BrokerEvent, { type: K }> & { time: number };

/** Records every broker event from the moment it is created; `stop()` detaches it. */
export class EventLog {
  readonly events: TimedEvent[] = [];
  readonly stop: () => void;

  constructor(tb: TestBroker) {
    this.stop = tb.broker.events.listen((e) => this.events.push(e));
  }

  of<K extends BrokerEvent['type']>(type: K, pred: (e: EventOf<K>) => boolean = () => true): EventOf<K>[] {
    return this.events.filter((e): e is EventOf<K> => e.type === type && pred(e as EventOf<K>));
  }

  /** Waits for the first event of `type` matching `pred`. */
  async waitFor<K extends BrokerEvent['type']>(type: K, pred: (e: EventOf<K>) => boolean = () => true, ms = 3000): Promise<EventOf<K>> {
    await until(
      () => this.of(type, pred).length > 0,
      () => `no ${type} event matching; saw ${JSON.stringify(this.events.map((e) => e.type))}`,
      ms,
    );
    return this.of(type, pred)[0]!;
  }

  /** The address the broker reported for the client id when it connected. */
  async connectedAddress(clientId: string, ms = 3000): Promise<string> {
    return (await this.waitFor('client.connected', (e) => e.clientId === clientId, ms)).address;
  }
}

// ---- Hand-built packets --------------------------------------------------------------------

export function connectBytes(clientId: string, version: ProtocolVersion = 5, keepAlive = 60): Buffer {
  const p: ConnectPacket = {
    type: 1,
    protocolName: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    cleanStart: true,
    keepAlive,
    clientId,
  };
  return encodePacket(p, version);
}

export function subscribeBytes(packetId: number, filter: string, qos: QoS, version: ProtocolVersion = 5): Buffer {
  return encodePacket(
    { type: 8, packetId, subscriptions: [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }] },
    version,
  );
}

export function publishBytes(topic: string, payload: Buffer, qos: QoS, packetId: number | undefined, version: ProtocolVersion = 5): Buffer {
  const p: Packet = { type: 3, topic, payload, qos, retain: false, dup: false };
  if (qos > 0) p.packetId = packetId;
  return encodePacket(p, version);
}

export function disconnectBytes(version: ProtocolVersion = 5): Buffer {
  return encodePacket({ type: 14 }, version);
}

/** Decodes what the broker sends, whatever the chunking; `next()` waits for a packet. */
export class PacketReader {
  readonly packets: Packet[] = [];
  private readonly decoder: PacketDecoder;
  private waiters: (() => void)[] = [];
  ended = false;

  constructor(version: ProtocolVersion = 5) {
    this.decoder = new PacketDecoder({ onPacket: (p) => this.onPacket(p) }, { protocolVersion: version });
  }

  push(chunk: Buffer): void {
    this.decoder.push(chunk);
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  /** The next packet of `type` (or any), undefined if the stream ended first. */
  async next(type?: number, ms = 3000): Promise<Packet | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.packets.findIndex((p) => type === undefined || p.type === type);
      if (i >= 0) return this.packets.splice(i, 1)[0];
      if (this.ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`timed out waiting for packet type ${type ?? 'any'}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Like next() but fails when the stream ended. */
  async expect(type: number, ms = 3000): Promise<Packet> {
    const p = await this.next(type, ms);
    if (!p) assert.fail(`connection closed while waiting for packet type ${type}`);
    return p;
  }

  private onPacket(p: Packet): void {
    this.packets.push(p);
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** IPv6 text in one canonical form (eight groups, no leading zeros), to compare addresses. */
export function expandIPv6(a: string): string {
  let s = a.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    s = s.slice(0, v4.index) + `${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
}

// ---- MQTT.js over every transport ----------------------------------------------------------

export type TransportKind = 'tcp' | 'tls' | 'ws' | 'wss';
export const TRANSPORTS: readonly TransportKind[] = ['tcp', 'tls', 'ws', 'wss'];

/** The URL of a listener for MQTT.js: mqtt://, mqtts://, ws://…/mqtt, wss://…/mqtt. */
export function urlOf(kind: TransportKind, port: number, path = '/mqtt'): string {
  switch (kind) {
    case 'tcp':
      return `mqtt://127.0.0.1:${port}`;
    case 'tls':
      return `mqtts://127.0.0.1:${port}`;
    case 'ws':
      return `ws://127.0.0.1:${port}${path}`;
    case 'wss':
      return `wss://127.0.0.1:${port}${path}`;
  }
}

/**
 * Connects MQTT.js over `kind` and waits for CONNACK. Secure transports trust the test CA and check
 * the server certificate (it names 127.0.0.1). Defaults: MQTT 5, no reconnect.
 */
export function connectVia(kind: TransportKind, port: number, opts: IClientOptions = {}): Promise<MqttClient> {
  const secure = kind === 'tls' || kind === 'wss' ? { ca: tlsFile('ca.pem'), rejectUnauthorized: true } : {};
  const client = mqtt.connect(urlOf(kind, port), {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clientId: uid(kind),
    ...secure,
    ...opts,
  });
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => {
      client.end(true);
      reject(err);
    };
    client.once('connect', () => {
      client.off('error', fail);
      client.off('close', onClose);
      resolve(client);
    });
    const onClose = (): void => fail(new Error(`${kind}: closed before CONNACK`));
    client.once('error', fail);
    client.once('close', onClose);
  });
}

/** Ends a client and waits until it is closed. */
export function endClient(client: MqttClient, force = false): Promise<void> {
  return new Promise((resolve) => client.end(force, {}, () => resolve()));
}

/** `p`, or a failure naming `what` after `ms` (the timer never outlives the race). */
export async function within<V>(p: Promise<V>, ms: number, what: string): Promise<V> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
