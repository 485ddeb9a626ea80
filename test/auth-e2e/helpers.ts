/**
 * Helpers of the end-to-end authentication, authorization and plugin suite: a real broker started
 * from a real configuration (test/helpers/broker.ts), MQTT.js clients over real sockets that report
 * the reason codes they get, an in-process HTTP server that records requests, a captured logger and
 * an event recorder.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type IConnackPacket, type IDisconnectPacket, type IPublishPacket, type MqttClient, type Packet as MqttPacket } from 'mqtt';
import pino from 'pino';
import { clientFinal, METHOD } from '../../examples/plugins/scram-auth';
import type { AuthService } from '../../src/auth/auth-service';
import type { Broker, BrokerOptions } from '../../src/broker';
import type { AuthPacket, ConnackPacket, Packet, Properties } from '../../src/codec/packets';
import type { ConfigInput } from '../../src/config/schema';
import type { Logger } from '../../src/log';
import type { TimedEvent } from '../../src/plugins/event-bus';
import type { PluginGuard } from '../../src/plugins/guard';
import { startBroker, type TestBroker } from '../helpers/broker';
import { RawClient } from '../helpers/raw-client';

/** The repository root (this file runs from dist/test/auth-e2e). */
export const REPO = resolve(__dirname, '../../..');
/** The shared TLS test material, and this suite's own extra certificate. */
export const TLS = resolve(REPO, 'test/fixtures/tls');
export const TLS_EXTRA = resolve(REPO, 'test/auth-e2e/fixtures/tls');

/** Options of every test: a hung test fails instead of hanging the run. */
export const T = { timeout: 20_000 };

/** MQTT 5 reason codes used by the assertions (named as in the specification). */
export const RC = {
  Success: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  UnspecifiedError: 0x80,
  ProtocolError: 0x82,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  BadAuthenticationMethod: 0x8c,
  QuotaExceeded: 0x97,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  ConnectionRateExceeded: 0x9f,
} as const;

/** 3.1.1 CONNACK return codes. */
export const RC311 = { Accepted: 0, ServerUnavailable: 3, BadUserNameOrPassword: 4, NotAuthorized: 5 } as const;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `0x87` for messages. */
export function hx(n: number | undefined): string {
  return n === undefined ? 'none' : `0x${n.toString(16).padStart(2, '0')}`;
}

let seq = 0;
/** A unique client id (letters and digits only). */
export function uid(prefix = 'c'): string {
  return `${prefix}${process.pid}x${++seq}`;
}

/**
 * Starts a broker with `config` on loopback (every listener on a free port). The login guard is
 * made lenient unless the test configures it: suites refuse logins on purpose and must not slow
 * each other down. Plugin modules resolve from the repository root.
 */
export async function start(config: Partial<ConfigInput> = {}, options: Partial<BrokerOptions> = {}): Promise<TestBroker> {
  const auth = { loginGuard: { maxFailures: 100_000 }, ...(config.auth ?? {}) };
  return startBroker({ tlsPort: 0, wssPort: 0, ...config, auth }, { baseDir: REPO, ...options });
}

/** The broker's auth service (private: read for its failure counter). */
export function authServiceOf(broker: Broker): AuthService {
  return (broker as unknown as { auth: AuthService }).auth;
}

/** The guard of the non-auth plugins (private: read for its failure counter). */
export function pluginGuardOf(broker: Broker): PluginGuard {
  return (broker as unknown as { pluginGuard: PluginGuard }).pluginGuard;
}

// ---- Connecting ------------------------------------------------------------------------------

export interface Attempt {
  /** CONNACK reason code (MQTT 5) or return code (3.1.1); -1 when the connection closed without one. */
  code: number;
  connack: IConnackPacket | undefined;
  /** The connected client (code 0 only). */
  client: MqttClient | undefined;
  /** Milliseconds from the start of the attempt to its outcome. */
  ms: number;
}

/** Connects an MQTT.js client (MQTT 5 by default, no reconnect) and reports how the CONNECT ended. */
export function attempt(port: number, opts: IClientOptions = {}): Promise<Attempt> {
  const started = Date.now();
  const client = mqtt.connect({
    host: '127.0.0.1',
    port,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 8000,
    clientId: uid(),
    ...opts,
  });
  let connack: IConnackPacket | undefined;
  client.on('packetreceive', (p: MqttPacket) => {
    if (p.cmd === 'connack') connack = p as IConnackPacket;
  });
  return new Promise((resolveAttempt) => {
    let done = false;
    const finish = (a: Omit<Attempt, 'ms' | 'connack'>): void => {
      if (done) return;
      done = true;
      resolveAttempt({ ...a, connack, ms: Date.now() - started });
    };
    const codeOf = (): number => (connack ? ((opts.protocolVersion ?? 5) === 5 ? (connack.reasonCode ?? 0) : (connack.returnCode ?? 0)) : -1);
    client.once('connect', () => finish({ code: 0, client }));
    client.on('error', () => {
      client.end(true);
      finish({ code: codeOf(), client: undefined });
    });
    client.once('close', () => {
      client.end(true);
      finish({ code: codeOf(), client: undefined });
    });
  });
}

/** Connects and fails the test unless the CONNECT is accepted. */
export async function mustConnect(port: number, opts: IClientOptions = {}): Promise<MqttClient> {
  const a = await attempt(port, opts);
  assert.equal(a.code, 0, `expected CONNACK 0x00, got ${hx(a.code)} (${a.connack?.properties?.reasonString ?? 'no reason string'})`);
  return a.client!;
}

/** Ends a client (with DISCONNECT unless `force`) and waits until it is closed. */
export function end(client: MqttClient | undefined, force = false): Promise<void> {
  if (!client) return Promise.resolve();
  if (!client.connected) force = true;
  return new Promise((r) => client.end(force, {}, () => r()));
}

// ---- Publish and subscribe -------------------------------------------------------------------

/** Publishes and resolves with the PUBACK/PUBREC reason code (0 for QoS 0 once written). */
export function pubCode(client: MqttClient, topic: string, payload: string | Buffer, qos: 0 | 1 | 2 = 1, retain = false): Promise<number> {
  return new Promise((resolvePub, reject) => {
    const timer = setTimeout(() => reject(new Error(`no acknowledgement for a QoS ${qos} PUBLISH to ${topic}`)), 5000);
    client.publish(topic, payload, { qos, retain }, (err, packet) => {
      clearTimeout(timer);
      const code = (err as { code?: number } | undefined)?.code;
      if (err && typeof code !== 'number') {
        reject(err);
        return;
      }
      resolvePub(code ?? (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0);
    });
  });
}

/** Subscribes and resolves with the SUBACK codes, one per filter. */
export function subCodes(client: MqttClient, filters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  return new Promise((resolveSub, reject) => {
    const timer = setTimeout(() => reject(new Error(`no SUBACK for ${filters.join(', ')}`)), 5000);
    client.subscribe(
      filters.map((f) => f),
      { qos },
      (err, _granted, packet) => {
        clearTimeout(timer);
        const suback = packet as { granted?: number[] } | undefined;
        if (!suback?.granted) {
          reject(err ?? new Error('SUBACK without codes'));
          return;
        }
        resolveSub(suback.granted.map((g) => (typeof g === 'number' ? g : (g as { qos: number }).qos)));
      },
    );
  });
}

/** Unsubscribes and resolves with the UNSUBACK reason codes (MQTT 5; empty for 3.1.1). */
export function unsubCodes(client: MqttClient, filters: string[]): Promise<number[]> {
  return new Promise((resolveUnsub, reject) => {
    const timer = setTimeout(() => reject(new Error(`no UNSUBACK for ${filters.join(', ')}`)), 5000);
    client.unsubscribe(filters, {}, (err, packet) => {
      clearTimeout(timer);
      if (err) {
        reject(err);
        return;
      }
      // mqtt-packet puts the UNSUBACK reason codes of MQTT 5 in `granted`.
      resolveUnsub((packet as { granted?: number[] } | undefined)?.granted ?? []);
    });
  });
}

/** Messages a client receives. */
export class Inbox {
  readonly messages: { topic: string; payload: string; packet: IPublishPacket }[] = [];

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => this.messages.push({ topic, payload: payload.toString(), packet }));
  }

  topics(): string[] {
    return this.messages.map((m) => m.topic);
  }

  /** Waits until a message on `topic` has arrived (rejects after `ms`). */
  async waitTopic(topic: string, ms = 3000): Promise<void> {
    await until(() => this.messages.some((m) => m.topic === topic), () => `no message on ${topic}; got [${this.topics().join(', ')}]`, ms);
  }
}

/** Waits until `cond()` holds (polled), or fails with `what()`. */
export async function until(cond: () => boolean, what: () => string, ms = 3000, every = 10): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await sleep(every);
  }
}

/** Resolves with the server's DISCONNECT (undefined when the connection closed without one) and when. */
export function serverClose(client: MqttClient, ms = 8000): Promise<{ disconnect: IDisconnectPacket | undefined; at: number }> {
  return new Promise((resolveClose, reject) => {
    let disconnect: IDisconnectPacket | undefined;
    const timer = setTimeout(() => reject(new Error('the server did not close the connection')), ms);
    client.on('disconnect', (p) => {
      disconnect = p;
    });
    client.once('close', () => {
      clearTimeout(timer);
      resolveClose({ disconnect, at: Date.now() });
    });
  });
}

// ---- Events and logs -------------------------------------------------------------------------

/** Every event the broker emits from now on. */
export function recordEvents(broker: Broker): TimedEvent[] {
  const out: TimedEvent[] = [];
  broker.events.listen((e) => out.push({ ...e }));
  return out;
}

export interface LogRecord {
  level: number;
  msg?: string;
  code?: string;
  plugin?: string;
  [key: string]: unknown;
}

/** A pino logger whose lines are kept (as parsed JSON) for assertions. */
export function captureLogger(): { logger: Logger; lines: LogRecord[] } {
  const lines: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb): void {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as LogRecord);
      }
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

// ---- A local HTTP server ---------------------------------------------------------------------

export interface Recorded {
  path: string;
  body: unknown;
}

export interface TestHttpServer {
  url: string;
  requests: Recorded[];
  /** Requests to one path. */
  count(path: string): number;
  close(): Promise<void>;
}

/** A local HTTP server; `handler` answers with [status, JSON body] for a path and a parsed body. */
export async function httpServer(handler: (path: string, body: unknown) => [number, unknown] | Promise<[number, unknown]>): Promise<TestHttpServer> {
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const path = req.url ?? '/';
      requests.push({ path, body });
      void Promise.resolve(handler(path, body)).then(([status, answer]) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (path) => requests.filter((r) => r.path === path).length,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * Proves which tenant a publisher landed in: a subscriber of that tenant receives its message, a
 * subscriber of another tenant (same filter) does not. Every client is ended afterwards.
 */
export async function proveTenant(
  port: number,
  publisher: IClientOptions,
  sameTenant: IClientOptions,
  otherTenant: IClientOptions,
  topic: string,
): Promise<void> {
  const same = await mustConnect(port, sameTenant);
  const other = await mustConnect(port, otherTenant);
  const pub = await mustConnect(port, publisher);
  try {
    const sameInbox = new Inbox(same);
    const otherInbox = new Inbox(other);
    assert.deepEqual(await subCodes(same, [topic], 1), [1], 'subscriber of the same tenant');
    assert.deepEqual(await subCodes(other, [topic], 1), [1], 'subscriber of the other tenant');
    const code = await pubCode(pub, topic, 'which-tenant', 1);
    assert.ok(code < 0x80, `PUBLISH refused with ${hx(code)}`);
    await sameInbox.waitTopic(topic);
    await sleep(250);
    assert.deepEqual(otherInbox.topics(), [], 'a subscriber of another tenant saw the message');
  } finally {
    await Promise.all([end(same), end(other), end(pub)]);
  }
}

// ---- MQTT 5 enhanced authentication with the SCRAM example, over a raw socket ----------------

/** The method of the example SCRAM plugin. */
export const SCRAM = METHOD;

export interface ScramOutcome {
  raw: RawClient;
  /** The first answer to the CONNECT: an AUTH 0x18 challenge, or a CONNACK refusal. */
  challenge: AuthPacket | undefined;
  connack: ConnackPacket | undefined;
  /** The signature the server must prove (when a challenge came). */
  expectedSignature: Buffer | undefined;
}

/**
 * Opens a raw MQTT 5 connection and runs the SCRAM exchange: CONNECT with the method and a client
 * nonce, the proof for the server's challenge (from `proofPassword`, default `password`), then the
 * CONNACK. The caller closes `raw`.
 */
export async function scramConnect(
  port: number,
  username: string,
  password: string,
  opts: { clientId?: string; method?: string; proofPassword?: string; properties?: Properties } = {},
): Promise<ScramOutcome> {
  const raw = await RawClient.open(port, 5);
  const nonce = randomBytes(24);
  const method = opts.method ?? SCRAM;
  raw.send(
    {
      type: 1,
      protocolName: 'MQTT',
      protocolVersion: 5,
      cleanStart: true,
      keepAlive: 60,
      clientId: opts.clientId ?? uid('scram'),
      username,
      properties: { authenticationMethod: method, authenticationData: nonce, ...(opts.properties ?? {}) },
    },
    5,
  );
  const first = await raw.next(undefined, 5000);
  if (first?.type === 2) return { raw, challenge: undefined, connack: first, expectedSignature: undefined };
  assert.ok(first?.type === 15, `expected AUTH or CONNACK, got ${first ? `packet type ${first.type}` : 'a close'}`);
  assert.equal(first.reasonCode, 0x18, 'AUTH 0x18 Continue authentication');
  assert.equal(first.properties?.authenticationMethod, method);
  const { proof, serverSignature } = clientFinal(username, opts.proofPassword ?? password, nonce, first.properties!.authenticationData!);
  raw.send({ type: 15, reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: proof } }, 5);
  const connack = (await raw.next(2, 5000)) as ConnackPacket | undefined;
  return { raw, challenge: first, connack, expectedSignature: serverSignature };
}

/**
 * Re-authenticates a connected raw client (AUTH 0x19 with a new nonce, the proof for the
 * challenge) and returns the packet that ends the exchange: AUTH 0x00, a DISCONNECT, or undefined
 * when the connection closed without one.
 */
export async function scramReauth(raw: RawClient, username: string, password: string): Promise<{ end: Packet | undefined; expectedSignature: Buffer | undefined }> {
  const nonce = randomBytes(24);
  raw.send({ type: 15, reasonCode: 0x19, properties: { authenticationMethod: SCRAM, authenticationData: nonce } }, 5);
  const challenge = await nextOf(raw, [14, 15]);
  if (challenge?.type !== 15) return { end: challenge, expectedSignature: undefined };
  assert.equal(challenge.reasonCode, 0x18, 'AUTH 0x18 Continue authentication');
  const { proof, serverSignature } = clientFinal(username, password, nonce, challenge.properties!.authenticationData!);
  raw.send({ type: 15, reasonCode: 0x18, properties: { authenticationMethod: SCRAM, authenticationData: proof } }, 5);
  return { end: await nextOf(raw, [14, 15]), expectedSignature: serverSignature };
}

/** The next packet of one of `types` (others are left queued), or undefined when the connection closed. */
export async function nextOf(raw: RawClient, types: number[], ms = 5000): Promise<Packet | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = raw.packets.findIndex((p) => types.includes(p.type));
    if (i >= 0) return raw.packets.splice(i, 1)[0];
    if (raw.closed) return undefined;
    if (Date.now() > deadline) throw new Error(`timed out waiting for packet types ${types.join(', ')}`);
    await sleep(5);
  }
}

let rawPacketId = 0;
/** Publishes QoS 1 from a raw client and returns the PUBACK reason code. */
export async function rawPublish(raw: RawClient, topic: string, payload = 'x', retain = false): Promise<number> {
  const packetId = (rawPacketId = (rawPacketId % 60_000) + 1);
  raw.send({ type: 3, topic, payload: Buffer.from(payload), qos: 1, retain, dup: false, packetId }, 5);
  const ack = await nextOf(raw, [4, 14]);
  assert.ok(ack?.type === 4, `expected PUBACK, got ${ack ? `packet type ${ack.type}` : 'a close'}`);
  assert.equal(ack.packetId, packetId);
  return ack.reasonCode ?? 0;
}
