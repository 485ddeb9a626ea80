/**
 * A subscriber that stops reading must cost the broker a bounded amount of memory, lose QoS 0
 * messages (reported as 'message.dropped' with reason 'congested') instead of queueing them, and
 * never slow down the other subscribers of the same topic. Tried with a stalled WebSocket client and
 * a stalled TCP client while a publisher floods 1 KB QoS 0 messages for about two seconds.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import WebSocket from 'ws';
import type { ConnackPacket, PublishPacket, SubackPacket } from '../../src/codec/packets';
import { startBroker, type TestBroker } from '../helpers/broker';
import {
  EventLog,
  PacketReader,
  connectBytes,
  connectVia,
  connectionOf,
  endClient,
  portOf,
  publishBytes,
  sleep,
  subscribeBytes,
  uid,
  until,
} from './util';

/** Flood: this many 1 KB messages per second for FLOOD_MS, paced every 10 ms. */
const RATE = 8000;
const FLOOD_MS = 2000;
const PAYLOAD = 1024;
/** The most a stalled connection may hold in the broker (its high-water mark is 1 MiB). */
const BOUND = 2 * 1024 * 1024;

let tb: TestBroker;
let events: EventLog;
const cleanups: (() => void)[] = [];
const clients: MqttClient[] = [];

before(async () => {
  tb = await startBroker({
    listeners: [
      { name: 'tcp', type: 'tcp', host: '127.0.0.1', port: 0 },
      { name: 'ws', type: 'ws', host: '127.0.0.1', port: 0 },
    ],
  });
  events = new EventLog(tb);
});

after(async () => {
  for (const c of cleanups) c();
  await Promise.all(clients.map((c) => endClient(c, true)));
  events.stop();
  await tb.stop();
});

/** A raw subscriber whose reading can be stopped and restarted. */
interface Stalling {
  id: string;
  reader: PacketReader;
  stop(): void;
  start(): void;
  /** The socket (TCP subscribers only). */
  socket?: Socket;
}

async function rawTcpSubscriber(topic: string): Promise<Stalling> {
  const id = uid('slowtcp');
  const reader = new PacketReader(5);
  const s: Socket = await new Promise((resolve, reject) => {
    const sock = netConnect({ host: '127.0.0.1', port: portOf(tb, 'tcp') }, () => resolve(sock));
    sock.once('error', reject);
  });
  cleanups.push(() => s.destroy());
  s.on('data', (d: Buffer) => reader.push(d));
  s.on('close', () => reader.end());
  s.write(Buffer.concat([connectBytes(id), subscribeBytes(1, topic, 0)]));
  await handshake(reader);
  return { id, reader, stop: () => s.pause(), start: () => s.resume(), socket: s };
}

async function rawWsSubscriber(topic: string): Promise<Stalling> {
  const id = uid('slowws');
  const reader = new PacketReader(5);
  const ws = new WebSocket(`ws://127.0.0.1:${portOf(tb, 'ws')}/mqtt`, 'mqtt');
  cleanups.push(() => ws.terminate());
  ws.on('message', (d: Buffer) => reader.push(d));
  ws.on('close', () => reader.end());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(Buffer.concat([connectBytes(id), subscribeBytes(1, topic, 0)]));
  await handshake(reader);
  // ws.pause() pauses the underlying socket: the kernel buffers fill, then the broker's.
  return { id, reader, stop: () => ws.pause(), start: () => ws.resume() };
}

async function handshake(reader: PacketReader): Promise<void> {
  assert.equal(((await reader.expect(2)) as ConnackPacket).reasonCode, 0);
  assert.deepEqual(((await reader.expect(9)) as SubackPacket).reasonCodes, [0]);
}

/** A raw TCP client, connected (CONNACK 0x00), and the reader of what the broker sends it. */
async function rawPublisher(prefix: string): Promise<{ s: Socket; reader: PacketReader }> {
  const s: Socket = await new Promise((resolve, reject) => {
    const sock = netConnect({ host: '127.0.0.1', port: portOf(tb, 'tcp') }, () => resolve(sock));
    sock.once('error', reject);
  });
  cleanups.push(() => s.destroy());
  const reader = new PacketReader(5);
  s.on('data', (d: Buffer) => reader.push(d));
  s.write(connectBytes(uid(prefix)));
  assert.equal(((await reader.expect(2)) as ConnackPacket).reasonCode, 0);
  return { s, reader };
}

/** A raw TCP publisher that writes paced batches of QoS 0 PUBLISHes with a sequence number. */
async function flood(topic: string): Promise<number> {
  const { s, reader } = await rawPublisher('flood');
  const perTick = Math.round(RATE / 100);
  const started = Date.now();
  let seq = 0;
  while (Date.now() - started < FLOOD_MS) {
    const batch: Buffer[] = [];
    for (let i = 0; i < perTick; i++) {
      const payload = Buffer.alloc(PAYLOAD, 0x61);
      payload.writeUInt32BE(seq++, 0);
      batch.push(publishBytes(topic, payload, 0, undefined));
    }
    if (!s.write(Buffer.concat(batch))) await new Promise((r) => s.once('drain', r));
    const due = started + (seq / perTick) * 10;
    await sleep(Math.max(0, due - Date.now()));
  }
  // A PINGREQ after the flood: its PINGRESP says the broker has read everything before it.
  s.write(Buffer.from([0xc0, 0x00]));
  await reader.expect(13, 10_000);
  s.end();
  return seq;
}

function seqOf(payload: Buffer): number {
  return payload.readUInt32BE(0);
}

async function scenario(kind: 'ws' | 'tcp', t: TestContext): Promise<void> {
  const topic = `flood/${uid(kind)}`;
  const slow = kind === 'ws' ? await rawWsSubscriber(topic) : await rawTcpSubscriber(topic);
  const normal = await connectVia('tcp', portOf(tb, 'tcp'), { clientId: uid('normal') });
  clients.push(normal);
  const normalId = normal.options.clientId!;
  const got: number[] = [];
  normal.on('message', (_t, payload) => got.push(seqOf(payload)));
  await normal.subscribeAsync(topic, { qos: 0 });

  const conn = connectionOf(tb, slow.id);
  assert.ok(conn, 'no broker connection for the slow subscriber');
  slow.stop();

  let maxPending = 0;
  const heapBefore = process.memoryUsage().heapUsed;
  let maxHeap = heapBefore;
  const sampler = setInterval(() => {
    maxPending = Math.max(maxPending, conn.transport.pendingBytes);
    maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
  }, 5);
  let sent: number;
  try {
    sent = await flood(topic);
  } finally {
    clearInterval(sampler);
  }

  await until(
    () => got.length >= sent,
    () => `the normal TCP subscriber got ${got.length} of ${sent} messages`,
    10_000,
  );
  await sleep(100);
  const dropped = events.of('message.dropped', (e) => e.clientId === slow.id);
  const droppedNormal = events.of('message.dropped', (e) => e.clientId === normalId);

  t.diagnostic(`${kind}: sent ${sent}, dropped for the stalled subscriber ${dropped.length}, its peak pending bytes ${maxPending}, heap +${((maxHeap - heapBefore) / 1048576).toFixed(1)} MiB`);

  // The normal subscriber: every message, once, in order.
  assert.equal(droppedNormal.length, 0, `the normal subscriber lost ${droppedNormal.length} messages (${droppedNormal[0]?.reason})`);
  assert.equal(got.length, sent, 'the normal subscriber got duplicates or extra messages');
  for (let i = 0; i < got.length; i++) if (got[i] !== i) assert.fail(`normal subscriber: message ${i} was ${got[i]}`);

  // The stalled one: bounded, and told as 'congested' drops.
  assert.ok(maxPending <= BOUND, `${kind}: ${maxPending} bytes pending for the stalled subscriber (bound ${BOUND})`);
  assert.ok(dropped.length > 0, `${kind}: no message.dropped event for the stalled subscriber (${sent} messages sent)`);
  assert.ok(dropped.every((e) => e.reason === 'congested' && e.qos === 0), `${kind}: drop reasons ${[...new Set(dropped.map((e) => e.reason))].join(', ')}`);
  assert.ok(maxHeap - heapBefore < 200 * 1024 * 1024, `${kind}: heap grew by ${((maxHeap - heapBefore) / 1048576).toFixed(0)} MiB`);

  // Reading again, the stalled subscriber recovers: what it got is in order, and new messages arrive.
  slow.start();
  await until(() => conn.transport.pendingBytes === 0, () => `${conn.transport.pendingBytes} bytes still pending after resume`, 10_000);
  const marker = Buffer.alloc(8, 0x7a);
  marker.writeUInt32BE(0xffffffff, 0);
  normal.publish(topic, marker, { qos: 0 });
  const seen: number[] = [];
  for (;;) {
    const p = (await slow.reader.next(3, 10_000)) as PublishPacket | undefined;
    if (!p) assert.fail(`${kind}: the stalled subscriber was disconnected`);
    const n = seqOf(p.payload);
    if (n === 0xffffffff) break;
    seen.push(n);
  }
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `${kind}: stalled subscriber got ${seen[i]} after ${seen[i - 1]}`);
  assert.equal(seen.length + dropped.length, sent, `${kind}: every message was either delivered or reported dropped`);
}

/**
 * A subscriber that reads slowly, one read (at most 64 KB) every 20 ms, so under 3.2 MB/s, while a
 * publisher sends 12 MB of QoS 0 at once (more than the kernel's socket buffers take): it is slow,
 * not stalled, so it gets every message, in order, and nothing is reported dropped. The broker's
 * 1 MB of backlog for it drains completely only after more than 250 ms, so a broker that judged
 * progress by complete drains alone would take it for a stalled one and drop messages.
 */
async function slowReader(): Promise<void> {
  const topic = `slow/${uid('t')}`;
  const slow = await rawTcpSubscriber(topic);
  const oneRead = (): void => slow.stop();
  slow.socket!.on('data', oneRead);
  const reads = setInterval(() => slow.start(), 20);
  cleanups.push(() => clearInterval(reads));
  const N = 12000;
  const { s } = await rawPublisher('slowpub');
  const batch: Buffer[] = [];
  for (let i = 0; i < N; i++) {
    const payload = Buffer.alloc(1000, 0x62);
    payload.writeUInt32BE(i, 0);
    batch.push(publishBytes(topic, payload, 0, undefined));
  }
  s.write(Buffer.concat(batch));
  const seen: number[] = [];
  while (seen.length < N) {
    const p = (await slow.reader.next(3, 10_000)) as PublishPacket | undefined;
    if (!p) break;
    seen.push(seqOf(p.payload));
  }
  clearInterval(reads);
  slow.socket!.off('data', oneRead);
  slow.start();
  const dropped = events.of('message.dropped', (e) => e.clientId === slow.id);
  assert.equal(dropped.length, 0, `the bursty reader had ${dropped.length} messages dropped (${dropped[0]?.reason})`);
  assert.equal(seen.length, N, `the bursty reader got ${seen.length} of ${N}`);
  for (let i = 0; i < N; i++) if (seen[i] !== i) assert.fail(`bursty reader: message ${i} was ${seen[i]}`);
  s.end();
}

describe('a subscriber that reads slowly', () => {
  test('gets every QoS 0 message of a 12 MB burst, in order, none dropped', { timeout: 30_000 }, () => slowReader());
});

describe('a subscriber that stops reading', () => {
  test('over WebSocket: bounded pending bytes, congested drops, the TCP subscriber gets everything', { timeout: 30_000 }, (t) => scenario('ws', t));
  test('over TCP: bounded pending bytes, congested drops, the TCP subscriber gets everything', { timeout: 30_000 }, (t) => scenario('tcp', t));
});
