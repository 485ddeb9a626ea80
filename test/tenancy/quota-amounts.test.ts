/**
 * Quotas and limits at their edges: a byte quota is checked against what the message would add, not
 * only against what is already held; a retained will counts against the retained quotas like any
 * retained publish; starting one's own persistent session afresh is not a new session; and the
 * packet size limits of a tenant apply to everything after its CONNECT, also when authentication
 * answers later (an asynchronous provider here) and when the default block's limit is smaller.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import { encodePacket } from '../../src/codec/encoder';
import type { Packet } from '../../src/codec/packets';
import type { AuthProvider, AuthRequest } from '../../src/plugins/types';
import { RawClient } from '../helpers/raw-client';
import { Harness, T, eventually, hx, persistent, sleep, uid, userOf } from './util';

const BIG = 100_000;
const TENANTS = {
  default: { maxPacketSize: 500 },
  big: { maxPacketSize: BIG },
  small: { maxPacketSize: 200 },
  rBytes: { maxRetainedBytes: 100, maxPacketSize: BIG },
  rTopics: { maxRetainedTopics: 1 },
  rExpiry: { maxRetainedTopics: 1 },
  mem: { maxSessionMemory: 1000, maxPacketSize: BIG },
  pers: { maxPersistentSessions: 1 },
  slowSub: { outboundBandwidth: 11_000, inboxSize: 100 },
} as const;
type Name = keyof typeof TENANTS;

/** Tenants from `tenant/user` user names, decided a few milliseconds later (as a password hash or an HTTP call would). */
const asyncAuth: AuthProvider = {
  async authenticate(req: AuthRequest) {
    await sleep(5);
    const [tenantId, userId] = (req.username ?? '').split('/');
    return { ok: true, tenantId: tenantId || 'default', userId: userId || 'anonymous' };
  },
};

const h = new Harness();
before(() => h.start({ tenants: TENANTS }, { authProviders: [asyncAuth] }));
afterEach(() => h.closeClients());
after(() => h.stop());

function as(tenant: Name, opts: IClientOptions = {}) {
  return h.client({ username: userOf(tenant), ...opts });
}

function assertQuotaEvent(tenant: Name, quota: string): void {
  assert.ok(h.log.quota(tenant, quota).length > 0, `no quota.exceeded event for ${tenant} ${quota}`);
}

describe('byte quotas count the message being added', () => {
  test('maxRetainedBytes 100: a single retained message larger than the quota gets PUBACK 0x97 and is delivered but not retained', T, async () => {
    const prefix = `rb/${uid('t')}`;
    const live = await as('rBytes');
    await live.subscribe(`${prefix}/#`, { qos: 1 });
    const p = await as('rBytes');
    const large = 'L'.repeat(300);
    assert.equal(await p.publish(`${prefix}/large`, large, { qos: 1, retain: true }), 0x97, 'a 300-byte retained message under a 100-byte quota');
    await live.waitPayload(large);
    assert.equal(h.broker.retained.usage('rBytes').bytes, 0, 'nothing was retained');
    assertQuotaEvent('rBytes', 'retainedBytes');
    const small = 's'.repeat(40);
    assert.equal(await p.publish(`${prefix}/small`, small, { qos: 1, retain: true }), 0, 'a message that fits');
    assert.equal(await p.publish(`${prefix}/small`, `${small}xx`, { qos: 1, retain: true }), 0, 'replacing it with 2 bytes more still fits');
    assert.equal(await p.publish(`${prefix}/other`, small, { qos: 1, retain: true }), 0x97, 'a second one would pass 100 bytes');
    assert.ok(h.broker.retained.usage('rBytes').bytes <= 100, `retained ${h.broker.retained.usage('rBytes').bytes} bytes`);
    await p.publish(`${prefix}/small`, '', { qos: 1, retain: true });
    await eventually(() => h.broker.retained.usage('rBytes').bytes === 0, () => 'retained bytes left');
  });

  test('maxSessionMemory 1000: a single message larger than the quota is dropped for an offline session (reason quota); smaller ones are queued', T, async () => {
    const id = uid('mem');
    const topic = `mem/${uid('t')}`;
    const s = await as('mem', { clientId: id, ...persistent(5, false) });
    await s.subscribe(topic, { qos: 1 });
    await s.end();
    const p = await as('mem');
    const tenant = h.broker.tenant('mem')!;
    await p.publish(topic, `big:${'B'.repeat(5000)}`, { qos: 1 });
    assert.equal(tenant.usage.sessionBytes, 0, 'the large message is not held');
    for (let i = 0; i < 3; i++) await p.publish(topic, `small${i}`, { qos: 1 });
    assert.ok(tenant.usage.sessionBytes > 0 && tenant.usage.sessionBytes <= 1000, `held ${tenant.usage.sessionBytes} bytes`);
    const back = await as('mem', { clientId: id, ...persistent(5, true) });
    await back.waitMessages(3);
    await sleep(100);
    assert.deepEqual(back.payloads, ['small0', 'small1', 'small2']);
    const drops = h.log.of('message.dropped', (e) => e.clientId === id);
    assert.deepEqual(
      drops.map((e) => e.reason),
      ['quota'],
    );
    assertQuotaEvent('mem', 'sessionMemory');
    await back.end(false, { properties: { sessionExpiryInterval: 0 } });
    await eventually(() => tenant.usage.sessionBytes === 0, () => `${tenant.usage.sessionBytes} bytes still held`);
  });
});

describe('expired retained messages', () => {
  test('maxRetainedTopics 1: a retained message past its expiry no longer counts against the quota', T, async () => {
    const prefix = `re/${uid('t')}`;
    const p = await as('rExpiry', { protocolVersion: 5 });
    assert.equal(await p.publish(`${prefix}/short`, 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } }), 0x10, 'retained (no subscribers)');
    assert.equal(await p.publish(`${prefix}/other`, 'other', { qos: 1, retain: true }), 0x97, 'the quota is reached while it lives');
    await sleep(1100);
    assert.equal(await p.publish(`${prefix}/other`, 'other', { qos: 1, retain: true }), 0x10, 'room once it has expired (retained, no subscribers)');
    assert.equal(h.broker.retained.usage('rExpiry').topics, 1);
    await p.publish(`${prefix}/other`, '', { qos: 1, retain: true });
  });
});

describe('retained wills', () => {
  test('maxRetainedTopics 1: a retained will over the quota is delivered but not retained; within the quota it is retained', T, async () => {
    const prefix = `rw/${uid('t')}`;
    const live = await as('rTopics');
    await live.subscribe(`${prefix}/#`, { qos: 1 });
    const p = await as('rTopics');
    assert.equal(await p.publish(`${prefix}/kept`, 'kept', { qos: 1, retain: true }), 0);
    const over = await as('rTopics', { will: { topic: `${prefix}/will1`, payload: Buffer.from('will1'), qos: 1, retain: true } });
    over.kill(); // no DISCONNECT: the will goes out
    await live.waitPayload('will1');
    assert.equal(h.broker.retained.usage('rTopics').topics, 1, 'the will was retained over the quota');
    assertQuotaEvent('rTopics', 'retainedTopics');
    assert.equal(await p.publish(`${prefix}/kept`, '', { qos: 1, retain: true }), 0, 'deleting makes room');
    const within = await as('rTopics', { will: { topic: `${prefix}/will2`, payload: Buffer.from('will2'), qos: 1, retain: true } });
    within.kill();
    await live.waitPayload('will2');
    await eventually(() => h.broker.retained.usage('rTopics').topics === 1, () => 'the will within the quota was not retained');
    const late = await as('rTopics');
    await late.subscribe(`${prefix}/#`, { qos: 1 });
    await late.waitMessages(1);
    await sleep(100);
    assert.deepEqual(late.payloads, ['will2']);
    await p.publish(`${prefix}/will2`, '', { qos: 1, retain: true });
  });
});

describe('persistent sessions', () => {
  test('maxPersistentSessions 1: the owner may start its persistent session afresh (Clean Start 1), connected or not; another one is refused', T, async () => {
    const id = uid('pers');
    const tenant = h.broker.tenant.bind(h.broker);
    const first = await as('pers', { clientId: id, ...persistent(5, false) });
    const takeover = h.open({ username: userOf('pers'), clientId: id, ...persistent(5, false) });
    assert.equal(await takeover.connackCode(), 0, 'Clean Start 1 over the connected session');
    await first.waitClosed();
    assert.equal(tenant('pers')!.usage.persistentSessions, 1);
    await takeover.end();
    const offline = h.open({ username: userOf('pers'), clientId: id, ...persistent(5, false) });
    assert.equal(await offline.connackCode(), 0, 'Clean Start 1 over the offline session');
    assert.equal(tenant('pers')!.usage.persistentSessions, 1);
    const other = h.open({ username: userOf('pers'), clientId: uid('pers'), ...persistent(5, false) });
    assert.equal(await other.connackCode(), 0x97, 'a second persistent session');
    await offline.end(false, { properties: { sessionExpiryInterval: 0 } });
    await eventually(() => (tenant('pers')?.usage.persistentSessions ?? 0) === 0, () => 'the session did not end');
  });
});

describe('backpressure with a small inbox', () => {
  test('inboxSize 100, a subscriber slowed to 11 KB/s: its publisher is paused, and every acknowledged QoS 1 message arrives (nothing dropped)', { timeout: 30_000 }, async () => {
    const n = 300;
    const sub = await as('slowSub');
    await sub.subscribe('slow/t', { qos: 1 });
    const pub = await as('slowSub');
    const acks = await Promise.all(Array.from({ length: n }, (_, i) => pub.publish('slow/t', `${i}:${'p'.repeat(100)}`, { qos: 1 })));
    assert.deepEqual(
      acks.filter((c) => c !== 0),
      [],
      'PUBACK codes other than 0',
    );
    await sub.waitMessages(n, 20_000);
    assert.deepEqual(
      h.log.of('message.dropped', (e) => e.tenantId === 'slowSub').map((e) => e.reason),
      [],
      'messages dropped',
    );
  });
});

describe('packet size limits from CONNECT on', () => {
  /** CONNECT and a QoS 1 PUBLISH in one write, before the CONNACK; returns the answers (type and reason code). */
  async function pipelined(tenant: Name, payloadBytes: number): Promise<string[]> {
    const raw = await RawClient.open(h.port, 5);
    const connect: Packet = { type: 1, protocolName: 'MQTT', protocolVersion: 5, cleanStart: true, keepAlive: 30, clientId: uid('pipe'), username: userOf(tenant) };
    const publish: Packet = { type: 3, topic: `pipe/${tenant}`, payload: Buffer.alloc(payloadBytes, 0x61), qos: 1, retain: false, dup: false, packetId: 1 };
    raw.write(Buffer.concat([encodePacket(connect, 5), encodePacket(publish, 5)]));
    const got: Packet[] = [];
    for (;;) {
      const p = await raw.next(undefined, 2000);
      if (!p) break;
      got.push(p);
      if (p.type === 14 || p.type === 4) break;
    }
    raw.close();
    return got.map((p) => `${p.type === 2 ? 'CONNACK' : `type ${p.type}`} ${hx('reasonCode' in p ? p.reasonCode : undefined)}`);
  }

  test('a PUBLISH sent right behind CONNECT is decoded under its tenant’s maxPacketSize, though authentication answers later', T, async () => {
    const watch = await as('small');
    await watch.subscribe('pipe/#', { qos: 1 });
    assert.deepEqual(await pipelined('small', 1000), ['CONNACK 0x00', 'type 14 0x95'], 'CONNACK, then DISCONNECT 0x95 for the PUBLISH over 200 bytes');
    assert.deepEqual(await pipelined('big', 1000), ['CONNACK 0x00', 'type 4 0x10'], 'under 100,000 bytes: CONNACK, then PUBACK (no matching subscribers)');
    await sleep(100);
    assert.deepEqual(watch.payloads, [], 'the PUBLISH over the limit was delivered');
  });

  test('a CONNECT is decoded under the largest maxPacketSize of any tenant, not the default block’s', T, async () => {
    const will = { topic: 'w/big', payload: Buffer.alloc(2000, 0x62), qos: 1 as const, retain: false };
    for (const protocolVersion of [5, 4] as const) {
      const c = h.open({ username: userOf('big'), protocolVersion, will });
      assert.equal(await c.connackCode(), 0, `a 2 KB CONNECT of tenant big over MQTT ${protocolVersion} (default block: 500 bytes)`);
      await c.end();
    }
  });
});
