/**
 * Helpers of the integration suite: a broker per test file, MQTT.js clients that record every packet
 * they receive from the first byte on (no race between CONNACK and the first queued PUBLISH), and raw
 * sockets (test/helpers/raw-client.ts, Ratatosk's own codec) for clients that must misbehave: never
 * acknowledge, resend with DUP, send a packet MQTT.js refuses to build.
 */
import assert from 'node:assert/strict';
import mqtt, {
  type IClientOptions,
  type IConnackPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type MqttClient,
  type Packet as MqttPacket,
} from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker';
import { RawClient } from '../helpers/raw-client';
import type { ConfigInput } from '../../src/config/schema';
import type {
  ConnackPacket,
  DisconnectPacket,
  Packet,
  Properties,
  PublishPacket,
  QoS,
  SubackPacket,
  Subscription,
  UnsubackPacket,
  Will,
} from '../../src/codec/packets';

/** The protocol versions a behaviour common to 3.1.1 and 5.0 is tested with. */
export const VERSIONS = [4, 5] as const;
export type Version = (typeof VERSIONS)[number];

/** Options of every test: a hung test fails instead of hanging the run. */
export const T = { timeout: 15_000 };

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

let seq = 0;
/** A unique client id or topic level (letters and digits only, [MQTT-3.1.3-5]). */
export function uid(prefix = 'c'): string {
  return `${prefix}${process.pid}x${++seq}`;
}

/** `0x8e` for messages. */
export function hx(n: number | undefined): string {
  return n === undefined ? 'none' : `0x${n.toString(16).padStart(2, '0')}`;
}

/** Waits until `cond()` holds, re-checking on every wake-up, or fails with `what()`. */
async function until(cond: () => boolean, what: () => string, ms: number, subscribe: (wake: () => void) => () => void): Promise<void> {
  if (cond()) return;
  await new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
    const unsubscribe = subscribe(() => {
      if (cond()) finish();
    });
  });
}

// ---- MQTT.js clients -----------------------------------------------------------------------

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/** An MQTT.js client that records what it receives and how it ends. */
export class Client {
  readonly messages: Received[] = [];
  /** Every packet received, in order (CONNACK, PUBLISH, PUBACK, ...). */
  readonly received: MqttPacket[] = [];
  /** Every packet sent, in order. */
  readonly sent: MqttPacket[] = [];
  readonly errors: Error[] = [];
  connack: IConnackPacket | undefined;
  /** DISCONNECT sent by the broker (MQTT 5). */
  disconnect: IDisconnectPacket | undefined;
  closed = false;
  private wakers = new Set<() => void>();

  constructor(readonly mqtt: MqttClient) {
    mqtt.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, packet });
      this.wake();
    });
    mqtt.on('packetreceive', (p) => {
      this.received.push(p);
      this.wake();
    });
    mqtt.on('packetsend', (p) => this.sent.push(p));
    mqtt.on('connect', (p) => {
      this.connack = p;
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
      this.errors.push(e);
      this.wake();
    });
  }

  /** Resolves on CONNACK 0; rejects with the MQTT.js error (its `code` is the reason/return code). */
  async connected(ms = 5000): Promise<IConnackPacket> {
    await until(
      () => this.connack !== undefined || this.errors.length > 0 || this.closed,
      () => 'no CONNACK',
      ms,
      (w) => this.onWake(w),
    );
    if (this.connack) return this.connack;
    throw this.errors[0] ?? new Error('closed before CONNACK');
  }

  get payloads(): string[] {
    return this.messages.map((m) => m.payload.toString());
  }

  /** Messages received on `topic`. */
  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** Waits until `n` messages in total have arrived. */
  waitMessages(n: number, ms = 3000): Promise<void> {
    return this.waitUntil(() => this.messages.length >= n, () => `expected ${n} messages, got ${this.messages.length} ${JSON.stringify(this.payloads)}`, ms);
  }

  /** Waits for a message with this payload (on this topic when given). */
  async waitPayload(payload: string, topic?: string, ms = 3000): Promise<Received> {
    const find = (): Received | undefined => this.messages.find((m) => m.payload.toString() === payload && (topic === undefined || m.topic === topic));
    await this.waitUntil(() => find() !== undefined, () => `no message ${JSON.stringify(payload)}; got ${JSON.stringify(this.payloads)}`, ms);
    return find()!;
  }

  /** Waits until the connection is closed. */
  waitClosed(ms = 3000): Promise<void> {
    return this.waitUntil(() => this.closed, () => 'the connection is still open', ms);
  }

  /** Waits for a received packet of MQTT.js command `cmd` matching `pred`. */
  async waitPacket<P extends MqttPacket>(cmd: string, pred: (p: P) => boolean = () => true, ms = 3000): Promise<P> {
    const find = (): P | undefined => this.received.find((p) => p.cmd === cmd && pred(p as P)) as P | undefined;
    await this.waitUntil(() => find() !== undefined, () => `no ${cmd} received (got ${this.received.map((p) => p.cmd).join(',')})`, ms);
    return find()!;
  }

  waitUntil(cond: () => boolean, what: () => string, ms = 3000): Promise<void> {
    return until(cond, what, ms, (w) => this.onWake(w));
  }

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

  /** Publishes and waits for the end of the QoS flow (PUBACK / PUBCOMP, or PUBREC with an error). */
  publish(topic: string, payload: string | Buffer, opts: mqtt.IClientPublishOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.mqtt.publish(topic, payload, opts, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Ends the client: DISCONNECT 0x00 (graceful) and close, or just close when `force`. */
  end(force = false, opts: Partial<IDisconnectPacket> = {}): Promise<void> {
    if (this.closed && !this.mqtt.connected) {
      this.mqtt.end(true);
      return Promise.resolve();
    }
    return Promise.race([new Promise<void>((resolve) => this.mqtt.end(force, opts, () => resolve())), sleep(1000)]);
  }

  /** Breaks the connection without DISCONNECT (the network failed). */
  kill(): void {
    this.mqtt.stream.destroy();
  }

  private onWake(w: () => void): () => void {
    this.wakers.add(w);
    return () => this.wakers.delete(w);
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

  /** Packets received and not yet taken. */
  get pending(): readonly Packet[] {
    return this.client.packets;
  }

  send(packet: Packet): void {
    this.client.send(packet, this.version);
  }

  next(type?: number, ms = 3000): Promise<Packet | undefined> {
    return this.client.next(type, ms);
  }

  /** The next PUBLISH from the broker (fails on close or timeout). */
  async nextPublish(ms = 3000): Promise<PublishPacket> {
    const p = await this.client.next(3, ms);
    if (p?.type !== 3) assert.fail('the broker closed the connection instead of sending a PUBLISH');
    return p;
  }

  /** `n` PUBLISH packets, in order. */
  async publishes(n: number, ms = 3000): Promise<PublishPacket[]> {
    const out: PublishPacket[] = [];
    for (let i = 0; i < n; i++) out.push(await this.nextPublish(ms));
    return out;
  }

  /** Waits `ms` and asserts no PUBLISH arrived meanwhile. */
  async expectNoPublish(ms = 250, why = 'no PUBLISH expected'): Promise<void> {
    await sleep(ms);
    const got = this.client.packets.filter((p) => p.type === 3) as PublishPacket[];
    assert.deepEqual(
      got.map((p) => `${p.topic}:${p.payload.toString()}`),
      [],
      why,
    );
  }

  /** The next DISCONNECT (MQTT 5), then the close. */
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
    assert.equal(ack.packetId, packetId, '[MQTT-3.8.4-2] SUBACK packet id');
    return ack.reasonCodes;
  }

  async unsubscribe(filters: string[]): Promise<UnsubackPacket> {
    const packetId = this.id();
    this.send({ type: 10, packetId, filters });
    const ack = (await this.client.next(11)) as UnsubackPacket | undefined;
    if (!ack) assert.fail('closed instead of UNSUBACK');
    return ack;
  }

  /** Sends a PUBLISH; returns its packet id (0 for QoS 0). Does not wait for acknowledgements. */
  publish(topic: string, payload: string | Buffer, qos: QoS = 0, extra: Partial<PublishPacket> = {}): number {
    const packetId = qos > 0 ? this.id() : undefined;
    this.send({ type: 3, topic, payload: Buffer.from(payload), qos, retain: false, dup: false, packetId, ...extra });
    return packetId ?? 0;
  }

  puback(packetId: number): void {
    this.send({ type: 4, packetId });
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

  get tb(): TestBroker {
    if (!this.current) throw new Error('broker not started');
    return this.current;
  }

  get port(): number {
    return this.tb.port;
  }

  async start(overrides: Partial<ConfigInput> = {}): Promise<TestBroker> {
    return this.use(await startBroker(overrides));
  }

  /** Uses a broker started elsewhere (its owner stops it). */
  use(tb: TestBroker): TestBroker {
    this.current = tb;
    return tb;
  }

  /** An MQTT.js client (MQTT 5 unless told), after CONNACK 0x00. */
  async client(opts: IClientOptions = {}): Promise<Client> {
    const c = this.open(opts);
    await c.connected();
    return c;
  }

  /** An MQTT.js client that is connecting; call `connected()` to wait (refusals reject there). */
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
  async raw(version: Version, o: RawConnect = {}, port = this.port): Promise<Raw> {
    const r = new Raw(await RawClient.open(port, version), version);
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

  /** Closes the clients, then the broker (bounded: a hung stop fails the hook instead of the run). */
  async stop(): Promise<void> {
    await this.closeClients();
    const tb = this.current;
    this.current = undefined;
    if (!tb) return;
    await withTimeout(tb.stop(), 5000, 'broker.stop()');
  }
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

/** MQTT.js decodes repeated properties as an array, a single one as a value. */
export function asArray<X>(v: X | X[] | undefined): X[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * MQTT.js options of a persistent session: MQTT 5 asks for a Session Expiry Interval (Clean Start 1
 * unless resuming), 3.1.1 clears Clean Session (it cannot start afresh and persist at once).
 */
export function persistentSession(v: Version, resume: boolean, expiry = 30): IClientOptions {
  return v === 5 ? { protocolVersion: 5, clean: !resume, properties: { sessionExpiryInterval: expiry } } : { protocolVersion: 4, clean: false };
}

/** The same for a raw CONNECT. */
export function persistentRaw(v: Version, clientId: string, resume: boolean, expiry = 30): RawConnect {
  return v === 5 ? { clientId, cleanStart: !resume, properties: { sessionExpiryInterval: expiry } } : { clientId, cleanStart: false };
}

/** Polls `cond` every 10 ms until it holds (for conditions over several clients). */
export async function eventually(cond: () => boolean, what: () => string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what()}`);
    await sleep(10);
  }
}
