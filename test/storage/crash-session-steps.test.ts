/**
 * What a client is told about its session is on disk before it is told: PUBCOMP after the release
 * of the packet id, CONNACK after a clean start discarded the stored session; a discarded session's
 * queued messages never reach a later session with the same client id; and a shutdown keeps the
 * wills of connected persistent sessions, as a crash does. Each on a real broker process (LMDB,
 * durability sync), killed with SIGKILL or stopped with SIGTERM, talked to with raw MQTT 5 packets.
 *
 * Commits are slowed down by big retained writes in flight, so that a reply sent before its write
 * is durable would be caught by the kill.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConnackPacket, ConnectPacket, Packet, PublishPacket, Will } from '../../src/codec/packets';
import { RawClient } from '../helpers/raw-client';
import { BrokerProcess, sleep } from './broker-process';

const clients: RawClient[] = [];

async function withBroker(fn: (b: BrokerProcess) => Promise<void>): Promise<void> {
  const b = await BrokerProcess.create();
  try {
    await b.start();
    await fn(b);
  } catch (err) {
    if (b.output) console.log(`broker output:\n${b.output}`);
    throw err;
  } finally {
    for (const c of clients.splice(0)) c.close();
    await b.dispose();
  }
}

function connectPacket(clientId: string, cleanStart: boolean, expiry: number, will?: Will): ConnectPacket {
  return { type: 1, protocolName: 'MQTT', protocolVersion: 5, cleanStart, keepAlive: 60, clientId, will, properties: { sessionExpiryInterval: expiry } };
}

async function open(port: number): Promise<RawClient> {
  const c = await RawClient.open(port, 5);
  clients.push(c);
  return c;
}

async function connect(port: number, packet: ConnectPacket): Promise<{ client: RawClient; connack: ConnackPacket }> {
  const client = await open(port);
  client.send(packet, 5);
  const connack = (await client.next(2, 10_000)) as ConnackPacket | undefined;
  assert.ok(connack, `${packet.clientId}: no CONNACK`);
  assert.equal(connack.reasonCode, 0, `${packet.clientId}: CONNACK ${connack.reasonCode}`);
  return { client, connack };
}

async function subscribe(c: RawClient, filter: string, qos: 1 | 2): Promise<void> {
  c.send({ type: 8, packetId: 1, subscriptions: [{ filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 5);
  assert.ok(await c.next(9, 10_000), 'no SUBACK');
}

/**
 * Big retained writes from another client (1 MB each, within the default maximum packet size): the
 * commits behind them take a while. Returns the client, to check that it was not refused.
 */
async function slowCommits(port: number, n: number): Promise<RawClient> {
  const { client } = await connect(port, connectPacket(`loader-${n}`, true, 0));
  for (let k = 0; k < n; k++) {
    client.send({ type: 3, topic: `big/${k}`, payload: Buffer.alloc(1_000_000, k), qos: 1, retain: true, dup: false, packetId: k + 1 }, 5);
  }
  return client;
}

async function publishes(c: RawClient, ms: number): Promise<string[]> {
  await sleep(ms);
  return c.packets.filter((p: Packet): p is PublishPacket => p.type === 3).map((p) => p.payload.toString());
}

/** A QoS 2 PUBLISH with packet id 9, through to PUBCOMP. */
async function publishQoS2(c: RawClient, payload: string): Promise<void> {
  c.send({ type: 3, topic: 't', payload: Buffer.from(payload), qos: 2, retain: false, dup: false, packetId: 9 }, 5);
  assert.ok(await c.next(5, 10_000), `no PUBREC for ${payload}`);
  c.send({ type: 6, packetId: 9 }, 5);
  assert.ok(await c.next(7, 10_000), `no PUBCOMP for ${payload}`);
}

test('PUBCOMP waits for the release of the packet id: after kill -9, a new QoS 2 message reusing the id is delivered', { timeout: 90_000 }, async () => {
  await withBroker(async (b) => {
    const sub = await connect(b.port, connectPacket('sub', true, 3600));
    await subscribe(sub.client, 't', 2);
    sub.client.send({ type: 14, reasonCode: 0 }, 5);
    // No other load: a commit and its flush take a millisecond or two, and a PUBCOMP sent before
    // them reaches this test, which kills the broker, about as fast. Four rounds, so that a PUBCOMP
    // sent too early is caught in at least one of them.
    const sent: string[] = [];
    for (let round = 0; round < 4; round++) {
      const pub = await connect(b.port, connectPacket('pub', round === 0, 3600));
      await publishQoS2(pub.client, `first-${round}`);
      await b.kill();
      await b.start();
      const again = await connect(b.port, connectPacket('pub', false, 3600));
      await publishQoS2(again.client, `second-${round}`);
      again.client.close();
      sent.push(`first-${round}`, `second-${round}`);
    }
    const back = await connect(b.port, connectPacket('sub', false, 3600));
    const got: string[] = [];
    for (;;) {
      const p = (await back.client.next(3, 3000).catch(() => undefined)) as PublishPacket | undefined;
      if (!p) break;
      got.push(p.payload.toString());
      back.client.send({ type: 5, packetId: p.packetId! }, 5);
      assert.ok(await back.client.next(6, 5000), 'no PUBREL');
      back.client.send({ type: 7, packetId: p.packetId! }, 5);
    }
    assert.deepEqual(got, sent, 'the subscriber gets every message, those sent after each restart too');
  });
});

test('a clean start over a stored session: CONNACK once the old session is gone from disk; kill -9 right after cannot bring it back', { timeout: 60_000 }, async () => {
  await withBroker(async (b) => {
    const old = await connect(b.port, connectPacket('c', true, 3600));
    await subscribe(old.client, 'old/topic', 1);
    old.client.send({ type: 14, reasonCode: 0 }, 5);
    await sleep(100);
    const loader = await slowCommits(b.port, 20);
    await sleep(5);
    const fresh = await connect(b.port, connectPacket('c', true, 0));
    assert.equal(fresh.connack.sessionPresent, false);
    assert.equal(loader.closed, false, 'the loader was refused, so commits were not slowed');
    await b.kill();
    await b.start();
    const back = await connect(b.port, connectPacket('c', false, 3600));
    assert.equal(back.connack.sessionPresent, false, 'the discarded session came back after the crash');
  });
});

test('a message queued for a session that a clean start discards never reaches the new session with the same client id', { timeout: 60_000 }, async () => {
  await withBroker(async (b) => {
    const old = await connect(b.port, connectPacket('c', true, 3600));
    await subscribe(old.client, 't', 1);
    old.client.send({ type: 14, reasonCode: 0 }, 5);
    const pub = await connect(b.port, connectPacket('pub', true, 0));
    const next = await open(b.port);
    const loader = await slowCommits(b.port, 10);
    await sleep(2);
    // The message is queued for the old session, and in the same moment a clean start discards it.
    pub.client.send({ type: 3, topic: 't', payload: Buffer.from('for-old-session'), qos: 1, retain: false, dup: false, packetId: 5 }, 5);
    next.send(connectPacket('c', true, 3600), 5);
    const connack = (await next.next(2, 20_000)) as ConnackPacket;
    assert.equal(connack.sessionPresent, false);
    assert.ok(await pub.client.next(4, 20_000), 'no PUBACK');
    assert.equal(loader.closed, false, 'the loader was refused, so commits were not slowed');
    assert.deepEqual(await publishes(next, 300), [], 'the new session got a message of the old one');
    next.send({ type: 14, reasonCode: 0 }, 5);
    await sleep(100);
    await b.stop();
    await b.start();
    const back = await connect(b.port, connectPacket('c', false, 3600));
    assert.equal(back.connack.sessionPresent, true);
    assert.deepEqual(await publishes(back.client, 500), [], 'after a restart, the new session got a message of the old one');
  });
});

test('a shutdown keeps the will of a connected persistent session: published after the restart once its delay has passed', { timeout: 60_000 }, async () => {
  await withBroker(async (b) => {
    const watcher = await connect(b.port, connectPacket('watcher', true, 3600));
    await subscribe(watcher.client, 'wills/#', 1);
    watcher.client.send({ type: 14, reasonCode: 0 }, 5);
    const will: Will = { topic: 'wills/c', payload: Buffer.from('c is gone'), qos: 1, retain: false, properties: { willDelayInterval: 2 } };
    await connect(b.port, connectPacket('c', true, 100, will));
    await sleep(100);
    const stopped = await b.stop();
    assert.equal(stopped.code, 0);
    await b.start();
    const back = await connect(b.port, connectPacket('watcher', false, 3600));
    const first = (await back.client.next(3, 8000).catch(() => undefined)) as PublishPacket | undefined;
    assert.ok(first, 'the will was not published after the restart');
    assert.equal(first.topic, 'wills/c');
    assert.equal(first.payload.toString(), 'c is gone');
  });
});
