/**
 * Helpers for the byte-level protocol tests: hand-built packets, a raw socket that also records the
 * exact bytes the broker sent, expectations on how the broker refuses and closes, and the bystander
 * (a healthy MQTT.js client that must keep being served while another connection misbehaves).
 */
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import type { ConnackPacket, Packet, ProtocolVersion } from '../../src/codec/packets';
import { connect, end, type TestBroker } from '../helpers/broker';
import { RawClient } from '../helpers/raw-client';

// ---- Building bytes ------------------------------------------------------------------------

/** A UTF-8 string field: two-byte big-endian length, then the bytes. */
export function str(s: string): number[] {
  const b = Buffer.from(s, 'utf8');
  return [b.length >> 8, b.length & 0xff, ...b];
}

/** A variable byte integer (remaining length, property length). */
export function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/**
 * A packet whose framing is meant to be right: checks that the remaining length written by hand
 * matches the bytes that follow it, so that a test fails on its own typo rather than on the broker.
 */
export function frame(bytes: number[]): Buffer {
  let length = 0;
  let mul = 1;
  let i = 1;
  for (; i < 5; i++) {
    const b = bytes[i];
    if (b === undefined) throw new Error('frame: no remaining length');
    length += (b & 0x7f) * mul;
    mul *= 128;
    if (b < 0x80) break;
  }
  const body = bytes.length - i - 1;
  if (body !== length) throw new Error(`frame: remaining length says ${length}, body has ${body} bytes`);
  return Buffer.from(bytes);
}

/** Several packets (or partial packets) in one buffer, for a single write. */
export function concat(...parts: (Buffer | number[])[]): Buffer {
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
}

/** Builds a whole packet from its first byte and its body, computing the remaining length. */
export function packet(first: number, ...body: (number[] | Buffer)[]): Buffer {
  const b = concat(...body);
  return concat([first, ...varint(b.length)], b);
}

/**
 * MQTT 5 CONNECT: clean start, keepalive 60, no properties, empty client id (the broker assigns one,
 * so tests never collide on a client id).
 */
export const CONNECT_V5 = frame([
  0x10, 0x0d, //                      CONNECT, remaining length 13
  0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
  0x05, //                            protocol level 5
  0x02, //                            connect flags: clean start
  0x00, 0x3c, //                      keepalive 60 s
  0x00, //                            property length 0
  0x00, 0x00, //                      client id "" (assigned by the broker)
]);

/** MQTT 3.1.1 CONNECT: clean session, keepalive 60, empty client id (allowed with clean session). */
export const CONNECT_V4 = frame([
  0x10, 0x0c, //                      CONNECT, remaining length 12
  0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
  0x04, //                            protocol level 4
  0x02, //                            connect flags: clean session
  0x00, 0x3c, //                      keepalive 60 s
  0x00, 0x00, //                      client id ""
]);

export const PINGREQ = frame([0xc0, 0x00]); // PINGREQ, remaining length 0

/** The reason code of an MQTT 5 CONNACK, DISCONNECT or acknowledgement, as hex for messages. */
export function hx(n: number | undefined): string {
  return n === undefined ? 'none' : `0x${n.toString(16).padStart(2, '0')}`;
}

// ---- A raw socket that records bytes -------------------------------------------------------

const openProbes = new Set<Probe>();

/** RawClient plus a record of every byte the broker sent. */
export class Probe {
  private chunks: Buffer[] = [];
  /** The CONNACK that `connected()` received. */
  connack: ConnackPacket | undefined;

  private constructor(readonly raw: RawClient) {
    raw.socket.on('data', (chunk: Buffer) => this.chunks.push(Buffer.from(chunk)));
  }

  static async open(port: number, version: ProtocolVersion = 5): Promise<Probe> {
    const p = new Probe(await RawClient.open(port, version));
    openProbes.add(p);
    p.raw.socket.once('close', () => openProbes.delete(p));
    return p;
  }

  get closed(): boolean {
    return this.raw.closed;
  }

  write(bytes: Buffer | number[]): void {
    this.raw.write(bytes);
  }

  next(type?: number, ms?: number): Promise<Packet | undefined> {
    return this.raw.next(type, ms);
  }

  waitClosed(ms?: number): Promise<void> {
    return this.raw.waitClosed(ms);
  }

  /** The raw bytes received since the last call (decoded packets are kept for next()). */
  takeBytes(): Buffer {
    const b = Buffer.concat(this.chunks);
    this.chunks = [];
    return b;
  }

  /** Packets decoded and not yet taken with next(). */
  get pending(): readonly Packet[] {
    return this.raw.packets;
  }

  close(): void {
    this.raw.close();
  }
}

/** Destroys every probe still open (for an `after` hook). */
export function closeProbes(): void {
  for (const p of openProbes) p.close();
  openProbes.clear();
}

/** Opens a raw connection and completes CONNECT (CONNACK 0x00). Recorded bytes start empty. */
export async function connected(port: number, version: 4 | 5 = 5): Promise<Probe> {
  const p = await Probe.open(port, version);
  p.write(version === 5 ? CONNECT_V5 : CONNECT_V4);
  const ack = await p.next();
  if (ack?.type !== 2) assert.fail(`expected CONNACK, got ${ack ? `packet type ${ack.type}` : 'a close'}`);
  assert.equal(ack.reasonCode, 0, `CONNECT refused with ${hx(ack.reasonCode)}`);
  p.connack = ack;
  p.takeBytes();
  return p;
}

/** Bytes written one per write, with setImmediate between writes (and no Nagle). */
export async function writeByteByByte(p: Probe, bytes: Buffer): Promise<void> {
  p.raw.socket.setNoDelay(true);
  for (const b of bytes) {
    p.write([b]);
    await new Promise<void>((r) => setImmediate(r));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `promise`, or a rejection naming `what` after `ms`: a broken broker fails a test, never hangs it. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---- Expectations --------------------------------------------------------------------------

/**
 * MQTT 5, a connected client broke a rule: the next packet is DISCONNECT with one of `codes`, then
 * the broker closes the connection and sends nothing more.
 */
export async function expectDisconnect(p: Probe, codes: number | readonly number[]): Promise<void> {
  const allowed = typeof codes === 'number' ? [codes] : codes;
  const got = await p.next();
  if (got === undefined) assert.fail(`the broker closed without DISCONNECT (expected ${allowed.map(hx).join(' or ')})`);
  if (got.type !== 14) assert.fail(`expected DISCONNECT ${allowed.map(hx).join(' or ')}, got packet type ${got.type}`);
  const rc = got.reasonCode ?? 0;
  assert.ok(allowed.includes(rc), `DISCONNECT reason ${hx(rc)}, expected ${allowed.map(hx).join(' or ')}`);
  await p.waitClosed();
  assert.deepEqual(p.pending, [], 'nothing may follow DISCONNECT');
}

/** MQTT 5, a CONNECT was refused: CONNACK with `code`, then the broker closes. */
export async function expectConnackRefusal(p: Probe, code: number): Promise<void> {
  const got = await p.next();
  if (got === undefined) assert.fail(`the broker closed without CONNACK (expected ${hx(code)})`);
  if (got.type !== 2) assert.fail(`expected CONNACK ${hx(code)}, got packet type ${got.type}`);
  assert.equal(got.reasonCode, code, `CONNACK reason ${hx(got.reasonCode)}, expected ${hx(code)}`);
  assert.equal(got.sessionPresent, false, '[MQTT-3.2.2-6] session present must be 0 on a refusal');
  await p.waitClosed();
  assert.deepEqual(p.pending, [], 'nothing may follow a refusing CONNACK');
}

/** The broker closes and sends exactly `bytes` before (for 3.1.1 CONNACK return codes). */
export async function expectExactlyThenClose(p: Probe, bytes: number[]): Promise<void> {
  await p.waitClosed();
  assert.deepEqual([...p.takeBytes()], bytes);
}

/** The broker closes without sending a single byte (3.1.1 has no way to say why). */
export async function expectSilentClose(p: Probe, ms?: number): Promise<void> {
  await p.waitClosed(ms);
  assert.equal(p.takeBytes().toString('hex'), '', 'the broker may only close, without sending anything');
}

/**
 * Before a CONNECT was understood the broker cannot know the client's version: it closes, and at
 * most sends a CONNACK that refuses (byte 3 is the return/reason code in both 3.1.1 and 5 form).
 */
export async function expectClosedWithoutSession(p: Probe, ms?: number): Promise<void> {
  await p.waitClosed(ms);
  const b = p.takeBytes();
  if (b.length === 0) return;
  assert.equal(b[0], 0x20, `only a CONNACK may be sent, got ${b.toString('hex')}`);
  assert.ok((b[3] ?? 0) !== 0, `a CONNACK that accepts was sent: ${b.toString('hex')}`);
}

/** The connection still works: PINGREQ is answered by PINGRESP. */
export async function expectAlive(p: Probe): Promise<void> {
  p.write(PINGREQ);
  const got = await p.next(13);
  assert.ok(got, 'the connection was closed');
  assert.equal(p.closed, false);
}

// ---- The bystander -------------------------------------------------------------------------

let seq = 0;

/**
 * A healthy MQTT.js client, subscribed to `<prefix>/#` before the bad input. `assertServed` then
 * proves that the broker still accepts connections and routes messages to everyone else.
 */
export class Bystander {
  readonly messages: { topic: string; payload: string }[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly tb: TestBroker,
    readonly client: MqttClient,
    readonly prefix: string,
  ) {
    client.on('message', (topic, payload) => {
      this.messages.push({ topic, payload: payload.toString() });
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
  }

  static async start(tb: TestBroker): Promise<Bystander> {
    const client = await within(connect(tb, { protocolVersion: 5 }), 3000, 'bystander CONNECT');
    const prefix = `bystander/${process.pid}-${++seq}`;
    try {
      const grants = await within(client.subscribeAsync(`${prefix}/#`, { qos: 1 }), 3000, 'bystander SUBSCRIBE');
      assert.equal(grants[0]?.qos, 1, 'the bystander could not subscribe');
    } catch (err) {
      client.end(true);
      throw err;
    }
    return new Bystander(tb, client, prefix);
  }

  /** Waits for a message on `topic` (optionally with `payload`); returns its payload. */
  async waitFor(topic: string, payload?: string, ms = 3000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this.messages.find((x) => x.topic === topic && (payload === undefined || x.payload === payload));
      if (m) return m.payload;
      const left = deadline - Date.now();
      if (left <= 0) {
        assert.fail(`bystander: no message on ${topic}${payload === undefined ? '' : ` with ${payload}`} (got ${JSON.stringify(this.messages)})`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** A new client connects and publishes; the bystander, connected all along, receives it. */
  async assertServed(): Promise<void> {
    assert.equal(this.client.connected, true, 'the bystander was disconnected');
    const publisher = await within(connect(this.tb, { protocolVersion: 5 }), 3000, 'publisher CONNECT after the bad input');
    try {
      const payload = `alive-${++seq}`;
      await within(publisher.publishAsync(`${this.prefix}/health`, payload, { qos: 1 }), 3000, 'publisher PUBLISH');
      await this.waitFor(`${this.prefix}/health`, payload);
    } finally {
      await within(end(publisher, true), 2000, 'publisher end').catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await within(end(this.client, true), 2000, 'bystander end').catch(() => undefined);
  }
}

/**
 * Runs `fn` (the bad input) with a bystander subscribed before it, then checks that the bystander
 * is still served: the broker closed only the offending connection.
 */
export async function guarded(tb: TestBroker, fn: (bystander: Bystander) => Promise<void>): Promise<void> {
  const bystander = await Bystander.start(tb);
  try {
    await within(fn(bystander), 8000, 'test');
    await bystander.assertServed();
  } finally {
    await bystander.close();
  }
}
