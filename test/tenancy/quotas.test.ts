/**
 * Per-tenant quotas (src/tenant/quotas.ts): each with the reason code a client can act on and a
 * `quota.exceeded` event, in one broker where every tenant has one quota and the bystander tenant B
 * (`tenantB`) has none. Then a throttler plugin (test/tenancy/fixtures/throttler.ts) that decides
 * instead of the built-in throttler, and a broken one that falls back to the failure policy.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { calls as throttlerCalls } from './fixtures/throttler';
import { BOB, Harness, T, atWindowStart, eventually, persistent, sleep, uid, userOf, type Client } from './util';

const TENANTS = {
  qConn: { maxConnections: 2 },
  qRate: { maxConnectsPerSecond: 3 },
  qPers: { maxPersistentSessions: 1 },
  qTSubs: { maxTransientSubscriptions: 2 },
  qPSubs: { maxPersistentSubscriptions: 2 },
  qShared: { maxSharedSubscriptions: 1 },
  qSubRate: { maxSubscribesPerSecond: 3 },
  qRetTopics: { maxRetainedTopics: 2 },
  qRetBytes: { maxRetainedBytes: 100 },
  qRetRate: { maxRetainedPublishesPerSecond: 2 },
  qRetMatch: { maxRetainedMatchesPerSecond: 3 },
  qMem: { maxSessionMemory: 1000 },
  qPBytes: { maxPersistentSessionBytes: 1000 },
  qIn: { maxInboundBytesPerSecond: 10_000 },
  qFan: { maxFanoutBytesPerSecond: 10_000 },
} as const;
type Limited = keyof typeof TENANTS;

const h = new Harness();
before(() => h.start({ tenants: TENANTS }));
afterEach(() => h.closeClients());
after(() => h.stop());

function as(tenant: Limited | undefined, opts: IClientOptions = {}): Promise<Client> {
  return h.client({ username: tenant ? userOf(tenant) : BOB, ...opts });
}

function open(tenant: Limited | undefined, opts: IClientOptions = {}): Client {
  return h.open({ username: tenant ? userOf(tenant) : BOB, ...opts });
}

/** Asserts a `quota.exceeded` event of the tenant for the quota, with the configured limit. */
function assertQuotaEvent(tenant: Limited, quota: string, limit: number): void {
  const events = h.log.quota(tenant, quota);
  assert.ok(events.length > 0, `no quota.exceeded event for ${tenant} ${quota} (events: ${h.log.of('quota.exceeded').map((e) => `${e.tenantId}:${e.quota}`).join(', ')})`);
  assert.equal(events[0]!.limit, limit, 'limit in the event');
}

/** Asserts that B got no quota event at all. */
function assertNoEventForB(): void {
  assert.deepEqual(h.log.of('quota.exceeded', (e) => e.tenantId === 'tenantB'), [], 'B hit a quota');
}

async function unsubscribe(c: Client, filter: string): Promise<void> {
  await new Promise<void>((resolve, reject) => c.mqtt.unsubscribe(filter, (err) => (err ? reject(err) : resolve())));
}

describe('connections', () => {
  test('maxConnections 2: a third connection gets CONNACK 0x97 (3.1.1: 3), a takeover still fits, a leaving client makes room; B is unaffected', T, async () => {
    const id1 = uid('conn');
    const c1 = await as('qConn', { clientId: id1 });
    await as('qConn');
    const third = open('qConn');
    assert.equal(await third.connackCode(), 0x97, 'v5 CONNACK');
    const third4 = open('qConn', { protocolVersion: 4 });
    assert.equal(await third4.connackCode(), 3, '3.1.1 CONNACK return code');
    assertQuotaEvent('qConn', 'connections', 2);
    // Taking over a session of the tenant replaces a connection; it does not add one.
    const again = await as('qConn', { clientId: id1 });
    await c1.waitClosed();
    assert.equal(h.broker.tenant('qConn')!.usage.connections, 2);
    await again.end();
    await eventually(() => h.broker.tenant('qConn')!.usage.connections === 1, () => 'the connection did not leave');
    await as('qConn');
    for (let i = 0; i < 3; i++) await as(undefined);
    assertNoEventForB();
  });

  test('maxConnectsPerSecond 3: a fourth CONNECT in the same second gets 0x9F (3.1.1: 3); the next second is fine; B is unaffected', T, async () => {
    await atWindowStart();
    for (let i = 0; i < 3; i++) await as('qRate');
    const fourth = open('qRate');
    assert.equal(await fourth.connackCode(), 0x9f, 'v5 CONNACK');
    const fifth = open('qRate', { protocolVersion: 4 });
    assert.equal(await fifth.connackCode(), 3, '3.1.1 CONNACK return code');
    for (let i = 0; i < 5; i++) await as(undefined);
    assertQuotaEvent('qRate', 'connectRate', 3);
    await atWindowStart();
    await as('qRate');
    assertNoEventForB();
  });

  test('maxPersistentSessions 1: a new persistent session gets 0x97 (3.1.1: 3), transient sessions and resuming are fine', T, async () => {
    const id = uid('pers');
    const p1 = await as('qPers', { clientId: id, ...persistent(5, false) });
    const p2 = open('qPers', persistent(5, false));
    assert.equal(await p2.connackCode(), 0x97, 'a second persistent session');
    const p3 = open('qPers', { clientId: uid('pers'), ...persistent(4, false) });
    assert.equal(await p3.connackCode(), 3, 'a second persistent session over 3.1.1');
    assertQuotaEvent('qPers', 'persistentSessions', 1);
    await as('qPers'); // transient
    await as('qPers', { protocolVersion: 4, clean: true });
    await p1.end();
    const back = await as('qPers', { clientId: id, ...persistent(5, true) });
    assert.equal(back.connack!.sessionPresent, true, 'resuming the persistent session');
    await back.end(false, { properties: { sessionExpiryInterval: 0 } });
    await eventually(() => h.broker.tenant('qPers')?.usage.persistentSessions !== 1, () => 'the session did not end');
    const p4 = await as('qPers', persistent(5, false));
    await p4.end(false, { properties: { sessionExpiryInterval: 0 } });
    for (let i = 0; i < 2; i++) await as(undefined, persistent(5, false)).then((c) => c.end(false, { properties: { sessionExpiryInterval: 0 } }));
    assertNoEventForB();
  });
});

describe('subscriptions', () => {
  test('maxTransientSubscriptions 2: the filter over quota gets SUBACK 0x97, the others are granted; persistent sessions are counted apart', T, async () => {
    const a = await as('qTSubs');
    assert.deepEqual(await a.subscribe(['ts/1', 'ts/2', 'ts/3'], { qos: 1 }), [1, 1, 0x97]);
    assertQuotaEvent('qTSubs', 'transientSubscriptions', 2);
    const other = await as('qTSubs');
    assert.deepEqual(await other.subscribe('ts/4', { qos: 1 }), [0x97], 'the quota is the tenant’s, not the session’s');
    assert.deepEqual(await a.subscribe('ts/1', { qos: 0 }), [0], 'replacing an existing subscription');
    const p = await as('qTSubs', persistent(5, false));
    assert.deepEqual(await p.subscribe('ts/5', { qos: 1 }), [1], 'a persistent session is not a transient one');
    await unsubscribe(a, 'ts/2');
    assert.deepEqual(await other.subscribe('ts/4', { qos: 1 }), [1], 'room after UNSUBSCRIBE');
    await p.end(false, { properties: { sessionExpiryInterval: 0 } });
    const b = await as(undefined);
    assert.deepEqual(await b.subscribe(['ts/1', 'ts/2', 'ts/3'], { qos: 1 }), [1, 1, 1]);
    assertNoEventForB();
  });

  test('maxPersistentSubscriptions 2: the filter over quota gets SUBACK 0x97; transient sessions are counted apart', T, async () => {
    const p = await as('qPSubs', persistent(5, false));
    assert.deepEqual(await p.subscribe(['ps/1', 'ps/2', 'ps/3'], { qos: 1 }), [1, 1, 0x97]);
    assertQuotaEvent('qPSubs', 'persistentSubscriptions', 2);
    const p4 = await as('qPSubs', { clientId: uid('p'), ...persistent(4, false) });
    assert.deepEqual(await p4.subscribe('ps/4', { qos: 1 }), [0x80], '3.1.1 SUBACK failure');
    const t = await as('qPSubs');
    assert.deepEqual(await t.subscribe(['ps/1', 'ps/2', 'ps/3'], { qos: 1 }), [1, 1, 1]);
    await p.end(false, { properties: { sessionExpiryInterval: 0 } });
    await p4.end();
    await as('qPSubs', { clientId: p4.mqtt.options.clientId, protocolVersion: 5, clean: true }).then((c) => c.end());
  });

  test('maxSharedSubscriptions 1: the second shared filter gets SUBACK 0x97, plain filters are granted', T, async () => {
    const a = await as('qShared');
    assert.deepEqual(await a.subscribe(['$share/g/sh/a', '$share/g/sh/b', 'sh/plain'], { qos: 1 }), [1, 0x97, 1]);
    assertQuotaEvent('qShared', 'sharedSubscriptions', 1);
    const b = await as(undefined);
    assert.deepEqual(await b.subscribe(['$share/g/sh/a', '$share/g/sh/b'], { qos: 1 }), [1, 1]);
    assertNoEventForB();
  });

  test('maxSubscribesPerSecond 3: filters beyond 3 in a second get SUBACK 0x97 and UNSUBACK 0x80 (MQTT 5 allows no 0x97 there); the next second is fine', T, async () => {
    const raw = await h.rawConnected(5, { username: userOf('qSubRate') });
    await atWindowStart();
    assert.deepEqual(await raw.subscribe(['sr/1', 'sr/2', 'sr/3', 'sr/4', 'sr/5']), [1, 1, 1, 0x97, 0x97]);
    assertQuotaEvent('qSubRate', 'subscribeRate', 3);
    await atWindowStart();
    assert.deepEqual(await raw.unsubscribe(['sr/1', 'sr/2', 'sr/3', 'sr/1']), [0, 0, 0, 0x80]);
    await atWindowStart();
    assert.deepEqual(await raw.subscribe(['sr/4']), [1]);
    const b = await as(undefined);
    assert.deepEqual(await b.subscribe(['sr/1', 'sr/2', 'sr/3', 'sr/4', 'sr/5'], { qos: 1 }), [1, 1, 1, 1, 1]);
    assertNoEventForB();
  });
});

describe('retained messages', () => {
  /** Retained messages a new subscriber of `filter` in the tenant gets. */
  async function retainedOf(tenant: Limited | undefined, filter: string, expected: number): Promise<string[]> {
    const s = await as(tenant);
    await s.subscribe(filter, { qos: 1 });
    if (expected > 0) await s.waitMessages(expected);
    await sleep(150);
    return s.payloads.sort();
  }

  async function clear(tenant: Limited | undefined, prefix: string, n: number): Promise<void> {
    const p = await as(tenant);
    for (let i = 1; i <= n; i++) await p.publish(`${prefix}/${i}`, '', { qos: 1, retain: true });
  }

  test('maxRetainedTopics 2: a third retained topic gets PUBACK 0x97 and is delivered but not retained; replacing and deleting are fine', T, async () => {
    const prefix = `rt/${uid('t')}`;
    const live = await as('qRetTopics');
    await live.subscribe(`${prefix}/#`, { qos: 1 });
    const p = await as('qRetTopics');
    assert.equal(await p.publish(`${prefix}/1`, 'r1', { qos: 1, retain: true }), 0);
    assert.equal(await p.publish(`${prefix}/2`, 'r2', { qos: 1, retain: true }), 0);
    assert.equal(await p.publish(`${prefix}/3`, 'r3', { qos: 1, retain: true }), 0x97, 'PUBACK of the retained publish over quota');
    await live.waitPayload('r3');
    assertQuotaEvent('qRetTopics', 'retainedTopics', 2);
    assert.deepEqual(await retainedOf('qRetTopics', `${prefix}/#`, 2), ['r1', 'r2'], 'the refused message was retained');
    assert.equal(await p.publish(`${prefix}/1`, 'r1b', { qos: 1, retain: true }), 0, 'replacing a retained message');
    assert.equal(await p.publish(`${prefix}/2`, '', { qos: 1, retain: true }), 0, 'deleting a retained message');
    assert.equal(await p.publish(`${prefix}/3`, 'r3b', { qos: 1, retain: true }), 0, 'room after a delete');
    assert.deepEqual(await retainedOf('qRetTopics', `${prefix}/#`, 2), ['r1b', 'r3b']);
    const pb = await as(undefined);
    for (let i = 1; i <= 3; i++) assert.ok((await pb.publish(`${prefix}/${i}`, `b${i}`, { qos: 1, retain: true })) < 0x80);
    assert.equal((await retainedOf(undefined, `${prefix}/#`, 3)).length, 3);
    await clear('qRetTopics', prefix, 3);
    await clear(undefined, prefix, 3);
    assertNoEventForB();
  });

  test('maxRetainedBytes 100: once 100 bytes are retained, a retained publish gets PUBACK 0x97 and is delivered but not retained', T, async () => {
    const prefix = `rb/${uid('t')}`;
    const live = await as('qRetBytes');
    await live.subscribe(`${prefix}/#`, { qos: 1 });
    const p = await as('qRetBytes');
    const payload = (tag: string): string => tag + '.'.repeat(58);
    assert.equal(await p.publish(`${prefix}/1`, payload('1'), { qos: 1, retain: true }), 0, 'the first 60 bytes fit');
    await p.publish(`${prefix}/2`, payload('2'), { qos: 1, retain: true });
    assert.equal(await p.publish(`${prefix}/3`, payload('3'), { qos: 1, retain: true }), 0x97, 'PUBACK with 100+ bytes retained');
    await live.waitPayload(payload('3'));
    assertQuotaEvent('qRetBytes', 'retainedBytes', 100);
    const kept = await retainedOf('qRetBytes', `${prefix}/#`, 1);
    assert.ok(!kept.includes(payload('3')), 'the refused message was retained');
    assert.ok(kept.includes(payload('1')));
    assert.ok(h.broker.retained.usage('qRetBytes').bytes < 100 + 70, `retained bytes ${h.broker.retained.usage('qRetBytes').bytes}`);
    await clear('qRetBytes', prefix, 3);
  });

  test('maxRetainedPublishesPerSecond 2: the third retained publish in a second gets PUBACK 0x97, delivered but not retained', T, async () => {
    const prefix = `rr/${uid('t')}`;
    const live = await as('qRetRate');
    await live.subscribe(`${prefix}/#`, { qos: 1 });
    const p = await as('qRetRate');
    await atWindowStart();
    assert.equal(await p.publish(`${prefix}/1`, 'r1', { qos: 1, retain: true }), 0);
    assert.equal(await p.publish(`${prefix}/2`, 'r2', { qos: 1, retain: true }), 0);
    assert.equal(await p.publish(`${prefix}/3`, 'r3', { qos: 1, retain: true }), 0x97);
    await live.waitPayload('r3');
    assertQuotaEvent('qRetRate', 'retainedPublishRate', 2);
    assert.deepEqual(await retainedOf('qRetRate', `${prefix}/#`, 2), ['r1', 'r2']);
    await atWindowStart();
    await clear('qRetRate', prefix, 2);
  });

  test('maxRetainedMatchesPerSecond 3: a subscribe in a second gets only 3 of 6 retained messages; B gets 6', T, async () => {
    const prefix = `rmr/${uid('t')}`;
    const p = await as('qRetMatch');
    for (let i = 1; i <= 6; i++) await p.publish(`${prefix}/${i}`, `r${i}`, { qos: 1, retain: true });
    const pb = await as(undefined);
    for (let i = 1; i <= 6; i++) await pb.publish(`${prefix}/${i}`, `b${i}`, { qos: 1, retain: true });
    await atWindowStart();
    assert.equal((await retainedOf('qRetMatch', `${prefix}/#`, 3)).length, 3, 'retained messages on subscribe');
    assert.equal((await retainedOf('qRetMatch', `${prefix}/#`, 0)).length, 0, 'a second subscribe in the same second');
    assertQuotaEvent('qRetMatch', 'retainedMatchRate', 3);
    assert.equal((await retainedOf(undefined, `${prefix}/#`, 6)).length, 6, "B's subscribe");
    await atWindowStart();
    await clear('qRetMatch', prefix, 6);
    await clear(undefined, prefix, 6);
    assertNoEventForB();
  });
});

describe('session memory', () => {
  for (const [tenant, quota] of [
    ['qMem', 'sessionMemory'],
    ['qPBytes', 'persistentSessionBytes'],
  ] as const) {
    test(`${quota} 1000: messages for an offline session beyond it are dropped ('message.dropped' reason 'quota'); B keeps all`, T, async () => {
      const n = 20;
      const got: Record<string, number> = {};
      for (const t of [tenant, undefined] as const) {
        const id = uid('mem');
        const topic = `mem/${uid('t')}`;
        const s = await as(t, { clientId: id, ...persistent(5, false) });
        await s.subscribe(topic, { qos: 1 });
        await s.end();
        const p = await as(t);
        for (let i = 0; i < n; i++) await p.publish(topic, `${i}:${'m'.repeat(100)}`, { qos: 1 });
        const tenantObj = h.broker.tenant(t ?? 'tenantB')!;
        if (t) assert.ok(tenantObj.usage.sessionBytes <= 1000 + 200, `held ${tenantObj.usage.sessionBytes} bytes`);
        const back = await as(t, { clientId: id, ...persistent(5, true) });
        await sleep(300);
        got[t ?? 'B'] = back.messages.length;
        const drops = h.log.of('message.dropped', (e) => e.clientId === id);
        if (t) {
          assert.ok(back.messages.length > 0 && back.messages.length < n, `delivered ${back.messages.length} of ${n}`);
          assert.equal(drops.length, n - back.messages.length, 'one drop event per message not delivered');
          assert.ok(drops.every((e) => e.reason === 'quota'), `drop reasons ${drops.map((e) => e.reason).join(',')}`);
          assertQuotaEvent(tenant, quota, 1000);
        } else {
          assert.equal(back.messages.length, n);
          assert.equal(drops.length, 0);
        }
        await back.end(false, { properties: { sessionExpiryInterval: 0 } });
        await eventually(() => tenantObj.usage.sessionBytes === 0, () => `${tenantObj.id} still holds ${tenantObj.usage.sessionBytes} bytes`);
      }
      console.log(`# ${quota}: ${got[tenant]} of ${n} kept for the limited tenant, ${got['B']} for B`);
    });
  }

  test('maxPersistentSessionBytes does not limit transient sessions', T, async () => {
    const topic = `mem/${uid('t')}`;
    const s = await as('qPBytes');
    await s.subscribe(topic, { qos: 1 });
    const p = await as('qPBytes');
    for (let i = 0; i < 30; i++) p.mqtt.publish(topic, `${i}:${'m'.repeat(100)}`, { qos: 1 });
    await s.waitMessages(30);
  });
});

describe('byte rates', () => {
  /** Bytes received per epoch second (the broker's rate windows), as the subscriber saw them. */
  function perSecond(c: Client): number[] {
    const buckets = new Map<number, number>();
    for (const m of c.messages) {
      const s = Math.floor(m.wall / 1000);
      buckets.set(s, (buckets.get(s) ?? 0) + m.payload.length + m.topic.length + 10);
    }
    return [...buckets.values()];
  }

  test('maxInboundBytesPerSecond 10000: two publishers of the tenant are paused to ~10 KB/s together, with zero loss at QoS 1', T, async () => {
    const topic = `in/${uid('t')}`;
    const s = await as('qIn');
    await s.subscribe(topic, { qos: 1 });
    const pubs = [await as('qIn'), await as('qIn')];
    const per = 40;
    const body = 'i'.repeat(280);
    const start = performance.now();
    await Promise.all(
      pubs.map(async (p, k) => {
        for (let i = 0; i < per; i++) await p.publish(topic, `${k}-${String(i).padStart(3, '0')}:${body}`, { qos: 1 });
      }),
    );
    const took = performance.now() - start;
    await s.waitMessages(2 * per, 5000);
    await sleep(100);
    assert.equal(new Set(s.payloads).size, 2 * per, 'every message exactly once');
    assert.equal(s.messages.length, 2 * per, 'duplicates');
    const buckets = perSecond(s);
    console.log(`# maxInboundBytesPerSecond: ${2 * per} x ~300 B in ${took.toFixed(0)} ms; bytes per second window ${buckets.join(', ')}`);
    assert.ok(took >= 900, `the publishers were not paused: ${took.toFixed(0)} ms for ~24 KB`);
    assert.ok(Math.max(...buckets) <= 10_000 + 4 * 310, `a one-second window carried ${Math.max(...buckets)} bytes`);
    assertQuotaEvent('qIn', 'inboundBytesRate', 10_000);
    // B in the same broker is not paused.
    const sb = await as(undefined);
    await sb.subscribe(topic, { qos: 1 });
    const pb = await as(undefined);
    const startB = performance.now();
    for (let i = 0; i < 2 * per; i++) await pb.publish(topic, `b${i}:${body}`, { qos: 1 });
    const tookB = performance.now() - startB;
    assert.ok(tookB < 800, `B was slowed: ${tookB.toFixed(0)} ms`);
    await sb.waitMessages(2 * per);
  });

  test('maxFanoutBytesPerSecond 10000: a publisher whose messages fan out to 3 subscribers is slowed, with zero loss', T, async () => {
    const results: Record<string, number> = {};
    const n = 26;
    const body = 'f'.repeat(300);
    for (const t of ['qFan', undefined] as const) {
      const topic = `fan/${uid('t')}`;
      const subs = [await as(t), await as(t), await as(t)];
      for (const s of subs) await s.subscribe(topic, { qos: 1 });
      const p = await as(t);
      const start = performance.now();
      for (let i = 0; i < n; i++) await p.publish(topic, `${String(i).padStart(3, '0')}:${body}`, { qos: 1 });
      results[t ?? 'B'] = performance.now() - start;
      for (const s of subs) {
        await s.waitMessages(n, 5000);
        assert.equal(new Set(s.payloads).size, n, 'every message once');
      }
      assert.equal(p.closed, false);
    }
    console.log(`# maxFanoutBytesPerSecond: ${n} x 3 x ~310 B fanned out in ${results['qFan']!.toFixed(0)} ms (B: ${results['B']!.toFixed(0)} ms)`);
    assert.ok(results['qFan']! >= 900, `the publisher was not slowed: ${results['qFan']!.toFixed(0)} ms`);
    assert.ok(results['B']! < 800, `B was slowed: ${results['B']!.toFixed(0)} ms`);
    assertQuotaEvent('qFan', 'fanoutBytesRate', 10_000);
  });
});

describe('a throttler plugin decides instead of the built-in one', () => {
  const module = join(__dirname, 'fixtures', 'throttler.js');

  for (const onFailure of ['deny', 'allow'] as const) {
    test(`plugin refusals give 0x97 and events; a throwing or broken plugin falls back to '${onFailure}' without crashing the broker`, T, async () => {
      const hp = new Harness();
      await hp.start({
        tenants: { pAllow: { maxConnections: 1 } },
        plugins: {
          onFailure,
          throttler: {
            module,
            config: { deny: ['pDeny:connections', 'pSubs:transientSubscriptions'], throw: ['pThrow:connections'], promise: ['pPromise:connections'] },
          },
        },
      });
      try {
        throttlerCalls.length = 0;
        // The built-in limit (maxConnections 1) is not consulted: the plugin allows.
        for (let i = 0; i < 3; i++) await hp.client({ username: 'pAllow/u' });
        assert.ok(throttlerCalls.includes('pAllow:connections'), 'the plugin was asked');

        const denied = hp.open({ username: 'pDeny/u' });
        assert.equal(await denied.connackCode(), 0x97, 'refused by the plugin');
        const denied4 = hp.open({ username: 'pDeny/u', protocolVersion: 4 });
        assert.equal(await denied4.connackCode(), 3, 'refused by the plugin (3.1.1)');
        assert.ok(hp.log.quota('pDeny', 'connections').length > 0, 'quota.exceeded event');

        const subs = await hp.client({ username: 'pSubs/u' });
        assert.deepEqual(await subs.subscribe(['x/1', 'x/2'], { qos: 1 }), [0x97, 0x97]);
        assert.ok(hp.log.quota('pSubs', 'transientSubscriptions').length > 0, 'quota.exceeded event');

        for (const tenant of ['pThrow', 'pPromise']) {
          const c = hp.open({ username: `${tenant}/u` });
          const code = await c.connackCode();
          if (onFailure === 'deny') assert.equal(code, 0x97, `${tenant}: a broken throttler fails closed`);
          else assert.equal(code, 0, `${tenant}: a broken throttler fails open`);
        }
        assert.ok(throttlerCalls.includes('pThrow:connections'), 'the throwing plugin was called');
        // The broker still serves everyone else.
        const s = await hp.client({ username: 'pAllow/v' });
        await s.subscribe('alive', { qos: 1 });
        await s.publish('alive', 'yes', { qos: 1 });
        await s.waitPayload('yes');
      } finally {
        await hp.stop();
      }
    });
  }
});
