/**
 * Helpers of the multi-tenancy suite: a broker per test file, MQTT.js clients that record every packet
 * they receive (CONNACK properties, SUBACK codes, PUBACK codes, DISCONNECT), raw sockets speaking
 * Ratatosk's codec for clients that must break a rule MQTT.js will not break, an event log fed by
 * `broker.events.listen`, and readers of the per-tenant usage gauges.
 *
 * Tenants come from the dev auth provider: a username `tenantA/alice` puts the client in tenant
 * `tenantA` (src/auth/dev-auth.ts).
 */
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type IConnackPacket, type IDisconnectPacket, type IPublishPacket, type MqttClient, type Packet as MqttPacket } from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker';
import { RawClient } from '../helpers/raw-client';
import type { Broker, BrokerOptions } from '../../src/broker';
import type { ConfigInput } from '../../src/config/schema';
import type { ConnackPacket, DisconnectPacket, Packet, Properties, PublishPacket, QoS, SubackPacket, Subscription, Will } from '../../src/codec/packets';
import type { TimedEvent } from '../../src/plugins/event-bus';
import type { BrokerEvent } from '../../src/plugins/events';
import type { Tenant } from '../../src/tenant/tenant';

/** Options of every test: a hung test fails instead of hanging the run. */
export const T = { timeout: 20_000 };

/** The protocol versions a behaviour common to 3.1.1 and 5.0 is tested with. */
export const VERSIONS = [4, 5] as const;
export type Version = (typeof VERSIONS)[number];

/** Usernames of the two tenants of the adversarial tests. */
export const ALICE = 'tenantA/alice';
export const BOB = 'tenantB/bob';

/** `tenant/user` for the dev auth provider. */
export function userOf(tenant: string, user = 'u'): string {
  return `${tenant}/${user}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

let seq = 0;
/** A unique client id or topic level (letters and digits only). */
export function uid(prefix = 'c'): string {
  return `${prefix}${process.pid}x${++seq}`;
}

/** `0x8e` for messages. */
export function hx(n: number | undefined): string {
  return n === undefined ? 'none' : `0x${n.toString(16).padStart(2, '0')}`;
}

/** Polls `cond` every 5 ms until it holds, or fails with `what()`. */
export async function eventually(cond: () => boolean, what: () => string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what()}`);
    await sleep(5);
  }
}

/**
 * Waits until a fresh one-second rate window has just begun (the broker's rate windows are fixed
 * epoch seconds, src/tenant/rate-window.ts), so that a burst that follows lands in one window.
 */
export async function atWindowStart(): Promise<void> {
  const ms = Date.now() % 1000;
  await sleep(1000 - ms + 15);
}

/** Rejects when `p` takes longer than `ms`. */
export async function withTimeout<X>(p: Promise<X>, ms: number, what: string): Promise<X> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- Usage gauges --------------------------------------------------------------------------

/** Every gauge of TenantUsage: each must be back at zero when everything of the tenant is gone. */
export const GAUGES = [
  'connections',
  'sessions',
  'persistentSessions',
  'subscriptions',
  'transientSubscriptions',
  'persistentSubscriptions',
  'sharedSubscriptions',
  'sessionBytes',
  'persistentSessionBytes',
] as const;
export type Gauge = (typeof GAUGES)[number];

/** The gauges of a tenant (all zero for a tenant the broker does not hold). */
export function gauges(t: Tenant | undefined): Record<Gauge, number> {
  const out = {} as Record<Gauge, number>;
  for (const g of GAUGES) out[g] = t ? t.usage[g] : 0;
  return out;
}

export const ZERO: Record<Gauge, number> = Object.freeze(gauges(undefined));

/** Asserts that every gauge of every tenant object in `tenants` is zero, naming the ones that are not. */
export function assertAllZero(tenants: Iterable<Tenant>, context = ''): void {
  for (const t of tenants) {
    assert.deepEqual(gauges(t), ZERO, `${context}usage of tenant ${t.id} did not return to zero`);
  }
}

/** Waits (briefly) until every gauge of these tenant objects is zero, then asserts it. */
export async function expectAllZero(tenants: Iterable<Tenant>, context = '', ms = 2000): Promise<void> {
  const list = [...tenants];
  const isZero = (): boolean => list.every((t) => GAUGES.every((g) => t.usage[g] === 0));
  try {
    await eventually(isZero, () => 'gauges not zero', ms);
  } catch {
    // fall through to the assertion, which says which gauge is wrong
  }
  assertAllZero(list, context);
}

/** Remembers every Tenant object the broker ever handed out for some ids (a released tenant is re-created later). */
export class TenantWatch {
  readonly seen = new Set<Tenant>();

  constructor(
    private readonly broker: Broker,
    readonly ids: string[],
  ) {}

  /** Records the current objects; returns this. */
  sample(): this {
    for (const id of this.ids) {
      const t = this.broker.tenant(id);
      if (t) this.seen.add(t);
    }
    return this;
  }

  /** Samples on a timer until the returned function is called. */
  watch(everyMs = 2): () => void {
    const timer = setInterval(() => this.sample(), everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}

// ---- Events --------------------------------------------------------------------------------

type EventOf<K extends BrokerEvent['type']> = Extract<BrokerEvent, { type: K }> & { time: number };

/** Every broker event, from `broker.events.listen`. */
export class EventLog {
  readonly all: TimedEvent[] = [];
  private readonly unlisten: () => void;

  constructor(broker: Broker) {
    this.unlisten = broker.events.listen((e) => this.all.push(e));
  }

  of<K extends BrokerEvent['type']>(type: K, pred: (e: EventOf<K>) => boolean = () => true): EventOf<K>[] {
    return this.all.filter((e) => e.type === type).filter((e) => pred(e as EventOf<K>)) as EventOf<K>[];
  }

  /** `quota.exceeded` events of a tenant for a quota. */
  quota(tenantId: string, quota: string): EventOf<'quota.exceeded'>[] {
    return this.of('quota.exceeded', (e) => e.tenantId === tenantId && e.quota === quota);
  }

  async waitFor<K extends BrokerEvent['type']>(type: K, pred: (e: EventOf<K>) => boolean = () => true, ms = 3000): Promise<EventOf<K>> {
    await eventually(() => this.of(type, pred).length > 0, () => `no ${type} event (got ${this.all.map((e) => e.type).join(',')})`, ms);
    return this.of(type, pred)[0]!;
  }

  clear(): void {
    this.all.length = 0;
  }

  stop(): void {
    this.unlisten();
  }
}

// ---- MQTT.js clients -----------------------------------------------------------------------

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
  /** performance.now() at reception. */
  at: number;
  /** Date.now() at reception (the broker's rate windows are epoch seconds). */
  wall: number;
}

/** An MQTT.js client that records what it receives and how it ends. */
export class Client {
  readonly messages: Received[] = [];
  /** Every packet received, in order (CONNACK, PUBLISH, PUBACK, ...). */
  readonly received: MqttPacket[] = [];
  readonly errors: (Error & { code?: number })[] = [];
  connack: IConnackPacket | undefined;
  /** DISCONNECT sent by the broker (MQTT 5). */
  disconnect: IDisconnectPacket | undefined;
  closed = false;
  private wakers = new Set<() => void>();

  constructor(readonly mqtt: MqttClient) {
    mqtt.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, packet, at: performance.now(), wall: Date.now() });
      this.wake();
    });
    mqtt.on('packetreceive', (p) => {
      this.received.push(p);
      if (p.cmd === 'connack' && this.connack === undefined) this.connack = p as IConnackPacket;
      this.wake();
    });
    mqtt.on('disconnect', (p) => {
      this.disconnect = p;
      this.wake();
    });
    mqtt.on('close', () => {
      this.closed = true;
      this.wake();
    });
    mqtt.on('error', (e) => {
      this.errors.push(e as Error & { code?: number });
      this.wake();
    });
  }

  /** The CONNACK reason code (MQTT 5) or return code (3.1.1); waits for it. */
  async connackCode(ms = 5000): Promise<number> {
    await this.waitUntil(() => this.connack !== undefined || this.closed, () => 'no CONNACK', ms);
    if (!this.connack) assert.fail(`closed without CONNACK (errors: ${this.errors.map((e) => e.message).join('; ')})`);
    return this.connack.reasonCode ?? this.connack.returnCode ?? 0;
  }

  /** Resolves on an accepting CONNACK; fails with its code otherwise. */
  async connected(ms = 5000): Promise<IConnackPacket> {
    const code = await this.connackCode(ms);
    assert.equal(code, 0, `CONNECT refused with ${hx(code)}`);
    return this.connack!;
  }

  get payloads(): string[] {
    return this.messages.map((m) => m.payload.toString());
  }

  /** Waits until `n` messages in total have arrived. */
  waitMessages(n: number, ms = 3000): Promise<void> {
    return this.waitUntil(() => this.messages.length >= n, () => `expected ${n} messages, got ${this.messages.length}`, ms);
  }

  /** Waits for a message with this payload. */
  async waitPayload(payload: string, ms = 3000): Promise<Received> {
    const find = (): Received | undefined => this.messages.find((m) => m.payload.toString() === payload);
    await this.waitUntil(() => find() !== undefined, () => `no message ${JSON.stringify(payload)}; got ${JSON.stringify(this.payloads.slice(-20))}`, ms);
    return find()!;
  }

  waitClosed(ms = 3000): Promise<void> {
    return this.waitUntil(() => this.closed, () => 'the connection is still open', ms);
  }

  /** Waits for the broker's DISCONNECT and the close; returns its reason code. */
  async disconnectCode(ms = 3000): Promise<number> {
    await this.waitUntil(() => this.disconnect !== undefined || this.closed, () => 'no DISCONNECT', ms);
    await this.waitUntil(() => this.disconnect !== undefined, () => 'closed without DISCONNECT', 200).catch(() => undefined);
    if (!this.disconnect) assert.fail('the broker closed the connection without DISCONNECT');
    return this.disconnect.reasonCode ?? 0;
  }

  waitUntil(cond: () => boolean, what: () => string, ms = 3000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waker = (): void => {
        if (!cond()) return;
        clearTimeout(timer);
        this.wakers.delete(waker);
        resolve();
      };
      const timer = setTimeout(() => {
        this.wakers.delete(waker);
        reject(new Error(`timed out after ${ms} ms: ${what()}`));
      }, ms);
      this.wakers.add(waker);
    });
  }

  /** SUBSCRIBE; resolves with the SUBACK codes (granted QoS or failure codes). */
  subscribe(filter: string | string[], opts: mqtt.IClientSubscribeOptions = { qos: 1 }): Promise<number[]> {
    return new Promise((resolve, reject) => {
      this.mqtt.subscribe(filter, opts, (err, granted, packet) => {
        const codes = (packet as { granted?: number[] } | undefined)?.granted;
        if (codes) resolve(codes);
        else if (err) reject(err);
        else resolve((granted ?? []).map((g) => g.qos));
      });
    });
  }

  /**
   * Publishes and waits for the end of the QoS flow; resolves with the reason code of the last
   * PUBACK/PUBREC received (0 for QoS 0 and for 3.1.1). Meant for one publish at a time.
   */
  publish(topic: string, payload: string | Buffer, opts: mqtt.IClientPublishOptions = {}): Promise<number> {
    return new Promise((resolve, reject) => {
      this.mqtt.publish(topic, payload, opts, (err) => {
        const code = (err as { code?: number } | undefined)?.code;
        if (err && typeof code !== 'number') {
          reject(err);
          return;
        }
        if ((opts.qos ?? 0) === 0) {
          resolve(0);
          return;
        }
        resolve(this.lastAckCode() ?? code ?? 0);
      });
    });
  }

  /** Reason code of the last PUBACK/PUBREC received. */
  lastAckCode(): number | undefined {
    for (let i = this.received.length - 1; i >= 0; i--) {
      const p = this.received[i]!;
      if (p.cmd === 'puback' || p.cmd === 'pubrec') return (p as { reasonCode?: number }).reasonCode ?? 0;
    }
    return undefined;
  }

  /** Publishes without waiting (many in flight at once). */
  fire(topic: string, payload: string | Buffer, opts: mqtt.IClientPublishOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.mqtt.publish(topic, payload, opts, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Ends the client: DISCONNECT (graceful) and close, or just close when `force`. */
  end(force = false, opts: Partial<IDisconnectPacket> = {}): Promise<void> {
    if (this.closed) {
      this.mqtt.end(true);
      return Promise.resolve();
    }
    return Promise.race([new Promise<void>((resolve) => this.mqtt.end(force, opts, () => resolve())), sleep(1000)]);
  }

  /** Breaks the connection without DISCONNECT (the network failed). */
  kill(): void {
    this.mqtt.stream.destroy();
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }
}

// ---- Raw clients ---------------------------------------------------------------------------

export interface RawConnect {
  clientId?: string;
  cleanStart?: boolean;
  keepAlive?: number;
  username?: string;
  properties?: Properties;
  will?: Will;
}

/** A raw socket speaking MQTT through Ratatosk's codec: acknowledges nothing unless told to. */
export class Raw {
  connack: ConnackPacket | undefined;
  private nextId = 1;

  constructor(
    readonly client: RawClient,
    readonly version: Version,
  ) {}

  get closed(): boolean {
    return this.client.closed;
  }

  send(packet: Packet): void {
    this.client.send(packet, this.version);
  }

  next(type?: number, ms = 3000): Promise<Packet | undefined> {
    return this.client.next(type, ms);
  }

  /** The next DISCONNECT (MQTT 5); asserts its reason code and the close that follows. */
  async expectDisconnect(code: number, ms = 3000): Promise<DisconnectPacket> {
    const p = await this.client.next(14, ms);
    if (p === undefined) assert.fail(`the broker closed without DISCONNECT ${hx(code)}`);
    assert.equal(p.type, 14);
    assert.equal(p.reasonCode ?? 0, code, `DISCONNECT reason ${hx(p.reasonCode ?? 0)}, expected ${hx(code)}`);
    await this.client.waitClosed(ms);
    return p as DisconnectPacket;
  }

  async subscribe(subs: (string | (Partial<Subscription> & { filter: string }))[], qos: QoS = 1, properties?: Properties): Promise<number[]> {
    const packetId = this.id();
    this.send({
      type: 8,
      packetId,
      properties,
      subscriptions: subs.map((s) =>
        typeof s === 'string'
          ? { filter: s, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }
          : { qos, noLocal: false, retainAsPublished: false, retainHandling: 0, ...s },
      ),
    });
    const ack = (await this.client.next(9)) as SubackPacket | undefined;
    if (!ack) assert.fail('closed instead of SUBACK');
    return ack.reasonCodes;
  }

  async unsubscribe(filters: string[]): Promise<number[]> {
    const packetId = this.id();
    this.send({ type: 10, packetId, filters });
    const ack = await this.client.next(11);
    if (ack?.type !== 11) assert.fail('closed instead of UNSUBACK');
    return ack.reasonCodes;
  }

  /** Sends a PUBLISH; returns its packet id (0 for QoS 0). Does not wait for acknowledgements. */
  publish(topic: string, payload: string | Buffer, qos: QoS = 0, extra: Partial<PublishPacket> = {}): number {
    const packetId = qos > 0 ? this.id() : undefined;
    this.send({ type: 3, topic, payload: Buffer.from(payload), qos, retain: false, dup: false, packetId, ...extra });
    return packetId ?? 0;
  }

  /** The PUBACK of `packetId`; returns its reason code. */
  async puback(packetId: number, ms = 3000): Promise<number> {
    const p = await this.client.next(4, ms);
    if (p?.type !== 4) assert.fail('closed instead of PUBACK');
    assert.equal(p.packetId, packetId);
    return p.reasonCode ?? 0;
  }

  close(): void {
    this.client.close();
  }

  private id(): number {
    const id = this.nextId;
    this.nextId = id === 65535 ? 1 : id + 1;
    return id;
  }
}

// ---- The harness ---------------------------------------------------------------------------

/** One broker per test file and every client a test opened, closed after each test. */
export class Harness {
  private current: TestBroker | undefined;
  private readonly clients = new Set<Client>();
  private readonly raws = new Set<Raw>();
  events: EventLog | undefined;

  get tb(): TestBroker {
    if (!this.current) throw new Error('broker not started');
    return this.current;
  }

  get broker(): Broker {
    return this.tb.broker;
  }

  get port(): number {
    return this.tb.port;
  }

  /** Starts a broker (in-memory storage, loopback, silent) and an event log on it. */
  async start(overrides: Partial<ConfigInput> = {}, options: Partial<BrokerOptions> = {}): Promise<TestBroker> {
    this.current = await startBroker(overrides, options);
    this.events = new EventLog(this.current.broker);
    return this.current;
  }

  /** The events of the broker. */
  get log(): EventLog {
    if (!this.events) throw new Error('broker not started');
    return this.events;
  }

  /** An MQTT.js client (MQTT 5 unless told) after an accepting CONNACK. */
  async client(opts: IClientOptions = {}): Promise<Client> {
    const c = this.open(opts);
    await c.connected();
    return c;
  }

  /** An MQTT.js client that is connecting: `connackCode()` tells how it went. */
  open(opts: IClientOptions = {}): Client {
    const m = mqtt.connect({
      host: '127.0.0.1',
      port: this.port,
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clientId: uid(),
      ...opts,
    });
    const c = new Client(m);
    this.clients.add(c);
    return c;
  }

  /** A raw socket after a CONNECT, with the CONNACK (accepted or not) in `connack`. */
  async raw(version: Version, o: RawConnect = {}): Promise<Raw> {
    const r = new Raw(await RawClient.open(this.port, version), version);
    this.raws.add(r);
    r.send({
      type: 1,
      protocolName: 'MQTT',
      protocolVersion: version,
      cleanStart: o.cleanStart ?? true,
      keepAlive: o.keepAlive ?? 60,
      clientId: o.clientId ?? uid('r'),
      username: o.username,
      properties: version === 5 ? o.properties : undefined,
      will: o.will,
    });
    const ack = await r.next(2);
    if (ack?.type === 2) r.connack = ack;
    return r;
  }

  /** A raw socket whose CONNECT was accepted. */
  async rawConnected(version: Version, o: RawConnect = {}): Promise<Raw> {
    const r = await this.raw(version, o);
    assert.ok(r.connack, 'no CONNACK');
    assert.equal(r.connack.reasonCode, 0, `CONNECT refused with ${hx(r.connack.reasonCode)}`);
    return r;
  }

  /** Closes every client of the test. */
  async closeClients(): Promise<void> {
    for (const r of this.raws) r.close();
    this.raws.clear();
    const cs = [...this.clients];
    this.clients.clear();
    await Promise.all(cs.map((c) => c.end(true)));
  }

  /** Closes the clients, then the broker (bounded). */
  async stop(): Promise<void> {
    await this.closeClients();
    this.events?.stop();
    const tb = this.current;
    this.current = undefined;
    if (!tb) return;
    await withTimeout(tb.stop(), 5000, 'broker.stop()');
  }
}

/**
 * MQTT.js options of a persistent session: MQTT 5 asks for a Session Expiry Interval (Clean Start 1
 * unless resuming), 3.1.1 clears Clean Session.
 */
export function persistent(v: Version, resume: boolean, expiry = 60): IClientOptions {
  return v === 5 ? { protocolVersion: 5, clean: !resume, properties: { sessionExpiryInterval: expiry } } : { protocolVersion: 4, clean: false };
}

/** Percentile of a sorted array (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
