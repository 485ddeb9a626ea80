/**
 * Per-tenant usage gauges (src/tenant/usage.ts) return EXACTLY to zero when everything of the tenant
 * is gone — whatever path the sessions took: takeovers, clean-start replacement, expiry, shared
 * members leaving with messages in flight, queues delivered, dropped or expired, DISCONNECT changing
 * the session expiry — and a seeded randomized run of all of it across two tenants.
 *
 * Each test uses tenants of its own, and a TenantWatch keeps every Tenant object the broker handed out
 * for them (an idle tenant is released and a later client gets a new object): all of them must end at zero.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Message } from '../../src/routing/message';
import type { IClientOptions } from 'mqtt';
import { GAUGES, Harness, T, TenantWatch, eventually, expectAllZero, gauges, persistent, sleep, uid, userOf, VERSIONS, type Client, type Raw, type RawConnect, type Version } from './util';

const h = new Harness();
before(() => h.start({ tenants: { uDrop: { inboxSize: 3 } } }));
afterEach(() => h.closeClients());
after(() => h.stop());

/** Watches of the running test, sampled after every connect (and every 2 ms). */
const watches = new Set<TenantWatch>();
afterEach(() => watches.clear());

/** A fresh tenant id and a watch on its Tenant objects. */
function freshTenant(prefix = 'u'): { id: string; watch: TenantWatch; stop: () => void } {
  const id = uid(prefix);
  const watch = new TenantWatch(h.broker, [id]);
  watches.add(watch);
  const stop = watch.watch();
  return { id, watch, stop };
}

function sampleAll(): void {
  for (const w of watches) w.sample();
}

async function as(tenant: string, opts: IClientOptions = {}): Promise<Client> {
  const c = await h.client({ username: userOf(tenant), ...opts });
  sampleAll();
  return c;
}

async function rawAs(tenant: string, o: RawConnect = {}): Promise<Raw> {
  const r = await h.rawConnected(5, { username: userOf(tenant), ...o });
  sampleAll();
  return r;
}

/** Ends whatever session `clientId` has in the tenant (a clean start without expiry, then DISCONNECT). */
async function endSession(tenant: string, clientId: string): Promise<void> {
  const c = await as(tenant, { clientId, protocolVersion: 5, clean: true });
  await c.end();
}

/** Waits for every gauge of every object of the tenant to be zero. */
async function expectGone(t: { id: string; watch: TenantWatch; stop: () => void }, what: string): Promise<void> {
  t.watch.sample();
  assert.ok(t.watch.seen.size > 0, 'the tenant was never seen');
  await expectAllZero(t.watch.seen, `${what}: `);
  t.stop();
}

/** Waits until the registry has let go of the tenant (TenantRegistry.release: idle tenants are dropped). */
async function expectReleased(id: string, what: string): Promise<void> {
  await eventually(() => h.broker.tenant(id) === undefined, () => `${what}: the registry still holds tenant ${id} (${JSON.stringify(gauges(h.broker.tenant(id)))})`, 1000);
}

describe('gauges count what is there', () => {
  for (const v of VERSIONS) {
    test(`v${v}: connections, sessions and each kind of subscription are counted while there and zero after`, T, async () => {
      const t = freshTenant();
      const a = await as(t.id, { protocolVersion: v });
      await a.subscribe(['x/1', 'x/+', '$share/g/x/#'], { qos: 1 });
      const p = await as(t.id, { clientId: uid('p'), ...persistent(v, false) });
      await p.subscribe(['x/1', '$share/g/x/#'], { qos: 1 });
      const u = gauges(h.broker.tenant(t.id));
      assert.deepEqual(
        { c: u.connections, s: u.sessions, ps: u.persistentSessions, sub: u.subscriptions, ts: u.transientSubscriptions, pss: u.persistentSubscriptions, sh: u.sharedSubscriptions },
        { c: 2, s: 2, ps: 1, sub: 5, ts: 3, pss: 2, sh: 2 },
      );
      await a.end();
      await p.end();
      await eventually(() => h.broker.tenant(t.id)?.usage.connections === 0, () => 'connections');
      assert.equal(h.broker.tenant(t.id)!.usage.persistentSessions, 1, 'the offline persistent session still counts');
      assert.equal(h.broker.tenant(t.id)!.usage.persistentSubscriptions, 2);
      await endSession(t.id, p.mqtt.options.clientId!);
      await expectGone(t, 'after everyone left');
    });
  }
});

describe('sessions that change hands', () => {
  for (const v of VERSIONS) {
    test(`v${v}: takeovers (resume, then clean start) of a live persistent session`, T, async () => {
      const t = freshTenant();
      const id = uid('to');
      const c1 = await as(t.id, { clientId: id, ...persistent(v, false) });
      await c1.subscribe(['to/a', 'to/b', '$share/g/to/c'], { qos: 1 });
      const c2 = await as(t.id, { clientId: id, ...persistent(v, true) });
      await c1.waitClosed();
      assert.equal(c2.connack!.sessionPresent, true);
      const u = gauges(h.broker.tenant(t.id));
      assert.equal(u.connections, 1, 'connections after a takeover');
      assert.equal(u.sessions, 1, 'sessions after a takeover');
      assert.equal(u.subscriptions, 3);
      const c3 = await as(t.id, { clientId: id, protocolVersion: v, clean: true });
      await c2.waitClosed();
      assert.equal(c3.connack!.sessionPresent, false);
      const u3 = gauges(h.broker.tenant(t.id));
      assert.deepEqual([u3.connections, u3.sessions, u3.persistentSessions, u3.subscriptions], [1, 1, 0, 0], 'after a clean-start takeover');
      await c3.end();
      await expectGone(t, 'after takeovers');
    });
  }

  test('v5: a clean start replaces an offline persistent session holding subscriptions and queued messages', T, async () => {
    const t = freshTenant();
    const id = uid('cs');
    const topic = `cs/${uid('t')}`;
    const s = await as(t.id, { clientId: id, ...persistent(5, false) });
    await s.subscribe([topic, `$share/g/${topic}`, 'cs/#'], { qos: 1 });
    await s.end();
    const p = await as(t.id);
    for (let i = 0; i < 5; i++) await p.publish(topic, `m${i}`, { qos: 1 });
    for (let i = 0; i < 3; i++) await p.publish(topic, `z${i}`, { qos: 0 });
    const before = gauges(h.broker.tenant(t.id));
    assert.ok(before.sessionBytes > 0 && before.persistentSessionBytes === before.sessionBytes, `queued bytes ${JSON.stringify(before)}`);
    const fresh = await as(t.id, { clientId: id, ...persistent(5, false) });
    assert.equal(fresh.connack!.sessionPresent, false);
    const u = gauges(h.broker.tenant(t.id));
    assert.deepEqual([u.sessionBytes, u.persistentSessionBytes, u.subscriptions, u.sessions, u.persistentSessions], [0, 0, 0, 2, 1]);
    await p.end();
    await fresh.end(false, { properties: { sessionExpiryInterval: 0 } });
    await expectGone(t, 'after a clean-start replacement');
  });

  test('v5: a persistent session resumed as transient (no expiry) moves its counts and ends with the connection', T, async () => {
    const t = freshTenant();
    const id = uid('rt');
    const topic = `rt/${uid('t')}`;
    const s = await as(t.id, { clientId: id, ...persistent(5, false) });
    await s.subscribe(topic, { qos: 1 });
    await s.end();
    const p = await as(t.id);
    for (let i = 0; i < 4; i++) await p.publish(topic, `m${i}`, { qos: 1 });
    const back = await as(t.id, { clientId: id, protocolVersion: 5, clean: false });
    assert.equal(back.connack!.sessionPresent, true);
    await back.waitMessages(4);
    const u = gauges(h.broker.tenant(t.id));
    assert.equal(u.persistentSessions, 0, 'resumed as transient');
    assert.equal(u.transientSubscriptions, 1);
    assert.equal(u.persistentSubscriptions, 0);
    await p.end();
    await back.end();
    await expectGone(t, 'after a transient resume');
  });
});

describe('sessions that end on their own', () => {
  for (const v of VERSIONS) {
    test(`v${v}: session expiry with subscriptions, queued messages and a delayed will`, T, async () => {
      const t = freshTenant();
      const id = uid('se');
      const topic = `se/${uid('t')}`;
      const will = { topic: `${topic}/will`, payload: Buffer.from('gone'), qos: 1 as const, retain: false, properties: v === 5 ? { willDelayInterval: 30 } : undefined };
      const opts: IClientOptions =
        v === 5 ? { clientId: id, protocolVersion: 5, clean: true, properties: { sessionExpiryInterval: 1 }, will } : { clientId: id, protocolVersion: 4, clean: false, will };
      const s = await as(t.id, opts);
      await s.subscribe([topic, `$share/g/${topic}`], { qos: 1 });
      if (v === 5) {
        s.kill();
      } else {
        await s.end();
      }
      const p = await as(t.id);
      for (let i = 0; i < 5; i++) await p.publish(topic, `m${i}`, { qos: 1 });
      await p.end();
      if (v === 5) {
        await sleep(1300);
        await expectGone(t, 'after session expiry');
      } else {
        // A 3.1.1 persistent session never expires on its own: a clean session ends it.
        assert.ok(gauges(h.broker.tenant(t.id)).sessionBytes > 0);
        await as(t.id, { clientId: id, protocolVersion: 4, clean: true }).then((c) => c.end());
        await expectGone(t, 'after a 3.1.1 clean session');
      }
    });
  }

  test('v5: DISCONNECT with a Session Expiry of 0 ends a persistent session that has messages in flight', T, async () => {
    const t = freshTenant();
    const topic = `dx/${uid('t')}`;
    const raw = await rawAs(t.id, { clientId: uid('dx'), properties: { sessionExpiryInterval: 60 } });
    await raw.subscribe([topic, `$share/g/${topic}`], 1);
    const p = await as(t.id);
    for (let i = 0; i < 4; i++) await p.publish(topic, `m${i}`, { qos: 1 });
    await eventually(() => (h.broker.tenant(t.id)?.usage.persistentSessionBytes ?? 0) > 0, () => 'nothing in flight');
    raw.send({ type: 14, reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await raw.client.waitClosed();
    await p.end();
    await expectGone(t, 'after DISCONNECT with expiry 0');
  });

  test('v5: DISCONNECT lowering the Session Expiry to 1 s ends the session a second later', T, async () => {
    const t = freshTenant();
    const topic = `dl/${uid('t')}`;
    const s = await as(t.id, { clientId: uid('dl'), ...persistent(5, false, 3600) });
    await s.subscribe(topic, { qos: 1 });
    await s.end(false, { properties: { sessionExpiryInterval: 1 } });
    const p = await as(t.id);
    await p.publish(topic, 'queued', { qos: 1 });
    await p.end();
    assert.ok(gauges(h.broker.tenant(t.id)).persistentSessionBytes > 0);
    await sleep(1300);
    await expectGone(t, 'after the lowered expiry');
  });

  test('v5: DISCONNECT raising a Session Expiry of 0 is a protocol error; the transient session still ends cleanly', T, async () => {
    const t = freshTenant();
    const raw = await rawAs(t.id);
    await raw.subscribe(['pe/a', 'pe/#'], 1);
    raw.send({ type: 14, reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    await raw.client.waitClosed();
    await expectGone(t, 'after the protocol error');
  });
});

describe('messages queued, delivered, dropped and expired', () => {
  test('v5: queued QoS 0/1 messages delivered on reconnect free their bytes while connected', T, async () => {
    const t = freshTenant();
    const id = uid('qd');
    const topic = `qd/${uid('t')}`;
    const s = await as(t.id, { clientId: id, ...persistent(5, false) });
    await s.subscribe(topic, { qos: 1 });
    await s.end();
    const p = await as(t.id);
    for (let i = 0; i < 10; i++) await p.publish(topic, `m${i}`, { qos: (i % 2) as 0 | 1 });
    await p.publish(topic, 'last', { qos: 1 });
    assert.ok(gauges(h.broker.tenant(t.id)).sessionBytes > 0);
    const back = await as(t.id, { clientId: id, ...persistent(5, true) });
    await back.waitPayload('last');
    await eventually(() => h.broker.tenant(t.id)!.usage.sessionBytes === 0, () => `still held: ${h.broker.tenant(t.id)!.usage.sessionBytes}`);
    assert.equal(h.broker.tenant(t.id)!.usage.persistentSessionBytes, 0);
    await p.end();
    await back.end(false, { properties: { sessionExpiryInterval: 0 } });
    await expectGone(t, 'after delivery');
  });

  test('queue overflow (inboxSize 3) and message expiry drop messages without leaking bytes', T, async () => {
    // uDrop is configured with inboxSize 3; it is shared by this test only.
    const watch = new TenantWatch(h.broker, ['uDrop']);
    const stop = watch.watch();
    const id = uid('qo');
    const topic = `qo/${uid('t')}`;
    const s = await as('uDrop', { clientId: id, ...persistent(5, false) });
    await s.subscribe(topic, { qos: 1 });
    await s.end();
    const p = await as('uDrop');
    for (let i = 0; i < 10; i++) await p.publish(topic, `m${i}`, { qos: 1, properties: { messageExpiryInterval: i < 8 ? 1 : 60 } });
    const held = gauges(h.broker.tenant('uDrop')).sessionBytes;
    assert.ok(held > 0, 'nothing held');
    await sleep(1200); // m7 expires in the queue; m8, m9 remain
    const back = await as('uDrop', { clientId: id, ...persistent(5, true) });
    await back.waitMessages(2);
    await sleep(100);
    assert.deepEqual(back.payloads, ['m8', 'm9']);
    await eventually(() => h.broker.tenant('uDrop')!.usage.sessionBytes === 0, () => `still held: ${h.broker.tenant('uDrop')!.usage.sessionBytes}`);
    await p.end();
    await back.end(false, { properties: { sessionExpiryInterval: 0 } });
    watch.sample();
    await expectAllZero(watch.seen, 'after drops: ');
    stop();
  });

  test('v5: shared members leaving with messages in flight and queued: redispatched, then all zero', T, async () => {
    const t = freshTenant();
    const topic = `sm/${uid('t')}`;
    const filter = `$share/g/${topic}`;
    const offlineId = uid('sm');
    const offline = await as(t.id, { clientId: offlineId, ...persistent(5, false) });
    await offline.subscribe(filter, { qos: 1 });
    await offline.end();
    const m1 = await as(t.id);
    await m1.subscribe(filter, { qos: 1 });
    // A member that never acknowledges: what it is sent stays in flight.
    const stuck = await rawAs(t.id);
    await stuck.subscribe([filter], 1);
    const p = await as(t.id);
    for (let i = 0; i < 12; i++) await p.publish(topic, `m${i}`, { qos: 1 });
    await eventually(() => (h.broker.tenant(t.id)?.usage.sessionBytes ?? 0) > 0, () => 'nothing in flight at the stuck member');
    stuck.close(); // its in-flight messages go to the other members
    await m1.waitMessages(12, 3000);
    assert.deepEqual([...new Set(m1.payloads)].sort(), Array.from({ length: 12 }, (_, i) => `m${i}`).sort(), 'every message reached the group');
    await m1.end();
    for (let i = 0; i < 3; i++) await p.publish(topic, `late${i}`, { qos: 1 });
    const back = await as(t.id, { clientId: offlineId, ...persistent(5, true) });
    await back.waitMessages(3);
    await p.end();
    await back.end(false, { properties: { sessionExpiryInterval: 0 } });
    await expectGone(t, 'after shared members left');
  });
});

describe('one tenant, one object', () => {
  for (const v of VERSIONS) {
    test(`v${v}: a takeover of the only connection of a tenant keeps the tenant one (messages still flow between its clients)`, T, async () => {
      const t = freshTenant();
      const id = uid('only');
      const first = await as(t.id, { clientId: id, protocolVersion: v });
      const second = await as(t.id, { clientId: id, protocolVersion: v });
      await first.waitClosed();
      const other = await as(t.id);
      await other.subscribe('one/t', { qos: 1 });
      assert.equal(h.broker.tenant(t.id)?.sessions.has(id), true, `the session of ${id} is not in the tenant the registry holds (the tenant was released during the takeover)`);
      await second.publish('one/t', 'same tenant', { qos: 1 });
      await other.waitPayload('same tenant', 1000);
      await second.end();
      await other.end();
      await expectGone(t, 'after a takeover of the only connection');
    });
  }

  test('an idle tenant is released once its last client leaves', T, async () => {
    const t = freshTenant();
    const c = await as(t.id);
    await c.subscribe('rel/x', { qos: 1 });
    await c.end();
    await expectGone(t, 'after the client left');
    await expectReleased(t.id, 'after the client left');
  });

  test('a message the broker publishes (broker.publish) to a tenant with nothing in memory leaves no tenant behind; one with clients keeps it', T, async () => {
    const ghost = uid('ghost');
    await h.broker.publish(ghost, new Message('pub/x', Buffer.from('x'), 0, false, undefined, 0, ''));
    assert.equal(h.broker.tenant(ghost), undefined, `the registry holds tenant ${ghost}`);
    const t = freshTenant();
    const c = await as(t.id);
    await c.subscribe('pub/x', { qos: 1 });
    await h.broker.publish(t.id, new Message('pub/x', Buffer.from('to a live tenant'), 1, false, undefined, 0, ''));
    await c.waitPayload('to a live tenant');
    assert.ok(h.broker.tenant(t.id), 'the tenant with a client was released');
    await c.end();
    await expectReleased(t.id, 'after the client left');
  });

  test('an idle tenant is released once its last session expires', T, async () => {
    const t = freshTenant();
    const c = await as(t.id, { clientId: uid('rel'), ...persistent(5, false, 1) });
    await c.subscribe('rel/x', { qos: 1 });
    await c.end();
    await sleep(1300);
    await expectGone(t, 'after the session expired');
    await expectReleased(t.id, 'after the session expired');
  });
});

// ---- Randomized ------------------------------------------------------------------------------

const IDS = ['c0', 'c1', 'c2'];
const FILTERS = ['t/1', 't/+', '#', '$share/g/t/1', '$share/g/#', 't/2'];
const TOPICS = ['t/1', 't/2', 'x'];

type Action =
  | { k: 'connect'; tenant: number; id: number; v: Version; clean: boolean; expiry: number }
  | { k: 'subscribe'; tenant: number; id: number; filter: number; qos: 0 | 1 }
  | { k: 'unsubscribe'; tenant: number; id: number; filter: number }
  | { k: 'publish'; tenant: number; id: number; topic: number; qos: 0 | 1; n: number }
  | { k: 'disconnect'; tenant: number; id: number; how: 'normal' | 'kill' | 'expiry0' | 'expiry1' }
  | { k: 'wait'; ms: number };

const who = { tenant: fc.integer({ min: 0, max: 1 }), id: fc.integer({ min: 0, max: IDS.length - 1 }) };
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('connect' as const), ...who, v: fc.constantFrom(4 as const, 5 as const), clean: fc.boolean(), expiry: fc.constantFrom(0, 1, 30) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('subscribe' as const), ...who, filter: fc.integer({ min: 0, max: FILTERS.length - 1 }), qos: fc.constantFrom(0 as const, 1 as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('unsubscribe' as const), ...who, filter: fc.integer({ min: 0, max: FILTERS.length - 1 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('publish' as const),
      ...who,
      topic: fc.integer({ min: 0, max: TOPICS.length - 1 }),
      qos: fc.constantFrom(0 as const, 1 as const),
      n: fc.integer({ min: 1, max: 5 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('disconnect' as const), ...who, how: fc.constantFrom('normal' as const, 'kill' as const, 'expiry0' as const, 'expiry1' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 40 }) }) },
);

let run = 0;

/** Plays the actions against the broker, ends everyone, and checks that every gauge is back at zero. */
async function play(actions: Action[]): Promise<void> {
  const tenants = [uid(`fz${++run}a`), uid(`fz${run}b`)];
  const watch = new TenantWatch(h.broker, tenants);
  const stop = watch.watch(1);
  const live = new Map<string, Client>();
  const all: Client[] = [];
  const key = (a: { tenant: number; id: number }): string => `${a.tenant}:${a.id}`;
  const bounded = <X>(p: Promise<X>): Promise<unknown> => Promise.race([p.catch(() => undefined), sleep(500)]);
  try {
    for (const a of actions) {
      if (a.k === 'wait') {
        await sleep(a.ms);
        continue;
      }
      const username = userOf(tenants[a.tenant]!);
      const c = live.get(key(a));
      const usable = c !== undefined && !c.closed;
      switch (a.k) {
        case 'connect': {
          const opts: IClientOptions =
            a.v === 5
              ? { clientId: IDS[a.id], username, protocolVersion: 5, clean: a.clean, properties: a.expiry ? { sessionExpiryInterval: a.expiry } : undefined }
              : { clientId: IDS[a.id], username, protocolVersion: 4, clean: a.clean };
          const n = h.open(opts);
          all.push(n);
          await n.connected();
          live.set(key(a), n);
          if (c && !c.closed) await c.waitClosed(); // taken over
          break;
        }
        case 'subscribe':
          if (usable) await bounded(c.subscribe(FILTERS[a.filter]!, { qos: a.qos }));
          break;
        case 'unsubscribe':
          if (usable) await bounded(new Promise<void>((resolve) => c.mqtt.unsubscribe(FILTERS[a.filter]!, () => resolve())));
          break;
        case 'publish':
          if (usable) {
            const sends: Promise<void>[] = [];
            for (let i = 0; i < a.n; i++) sends.push(c.fire(TOPICS[a.topic]!, `p${i}`, { qos: a.qos }));
            await bounded(Promise.all(sends));
          }
          break;
        case 'disconnect':
          if (usable) {
            if (a.how === 'kill') c.kill();
            else if (a.how === 'normal') await c.end();
            else await c.end(false, { properties: { sessionExpiryInterval: a.how === 'expiry0' ? 0 : 1 } });
            await c.waitClosed().catch(() => undefined);
            live.delete(key(a));
          }
          break;
      }
      watch.sample();
      for (const t of watch.seen) {
        for (const g of GAUGES) assert.ok(t.usage[g] >= 0, `gauge ${g} of ${t.id} went negative (${t.usage[g]}) after ${JSON.stringify(a)}`);
      }
    }
  } finally {
    // Everyone leaves: close every connection, then end every session that may be left.
    await Promise.all(all.map((c) => c.end(true)));
    for (const t of tenants) {
      for (const id of IDS) await endSession(t, id).catch(() => undefined);
    }
    stop();
  }
  watch.sample();
  await expectAllZero(watch.seen, `run ${run}: `);
}

describe('randomized', () => {
  test('connect/subscribe/publish/disconnect/takeover across two tenants always ends with every gauge at zero (fast-check, seeded)', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb, { minLength: 4, maxLength: 20 }), async (actions) => {
        await play(actions);
      }),
      { seed: 20240611, numRuns: 20, endOnFailure: true, includeErrorInReport: true },
    );
  });
});
