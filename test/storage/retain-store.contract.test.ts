/**
 * RetainStore contract: one suite, run against every implementation (memory and LMDB). One retained
 * message per topic per tenant, deletes by empty payload, wildcard match, expiry, usage, isolation.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Message, type MessageProperties } from '../../src/routing/message';
import type { QoS } from '../../src/codec/packets';
import type { RetainStore } from '../../src/retain/retain-store';
import { retainStoreFactories, type Opened } from './store-factories';
import { bytes, plain, T0 } from './session-fixtures';

function retained(topic: string, payload: string | Buffer, opts: { qos?: QoS; expiresAt?: number; properties?: MessageProperties; origin?: string } = {}): Message {
  return new Message(
    topic,
    typeof payload === 'string' ? Buffer.from(payload) : payload,
    opts.qos ?? 1,
    true,
    opts.properties,
    opts.expiresAt ?? 0,
    opts.origin ?? 'pub',
  );
}

function topicsOf(msgs: Message[]): string[] {
  return msgs.map((m) => m.topic).sort();
}

/** Usage as the contract defines it: topics, and topic plus payload length of each message. */
function expectedUsage(entries: [string, string | Buffer][]): { topics: number; bytes: number } {
  let b = 0;
  for (const [t, p] of entries) b += t.length + (typeof p === 'string' ? Buffer.byteLength(p) : p.length);
  return { topics: entries.length, bytes: b };
}

for (const factory of retainStoreFactories) {
  describe(`RetainStore contract: ${factory.name}`, () => {
    let opened: Opened<RetainStore>;
    let store: RetainStore;

    beforeEach(async () => {
      opened = await factory.open();
      store = opened.store;
    });

    afterEach(async () => {
      await factory.dispose(opened);
      assert.deepEqual(opened.errors, [], 'the store reported write errors');
    });

    async function set(tenantId: string, msg: Message): Promise<void> {
      await store.set(tenantId, msg);
    }

    async function reopen(): Promise<void> {
      opened = await factory.reopen(opened);
      store = opened.store;
    }

    test('set, get, replace and delete by empty payload', async () => {
      assert.equal(store.get('acme', 'a/b', T0), undefined);
      await set('acme', retained('a/b', 'one'));
      assert.equal(store.get('acme', 'a/b', T0)?.payload.toString(), 'one');
      assert.equal(store.get('acme', 'a/b', T0)?.retain, true);
      await set('acme', retained('a/b', 'two', { qos: 2 }));
      const m = store.get('acme', 'a/b', T0);
      assert.equal(m?.payload.toString(), 'two');
      assert.equal(m?.qos, 2);
      assert.deepEqual(store.usage('acme'), expectedUsage([['a/b', 'two']]));
      await set('acme', retained('a/b', Buffer.alloc(0)));
      assert.equal(store.get('acme', 'a/b', T0), undefined);
      assert.deepEqual(store.match('acme', '#', 100, T0), []);
      assert.deepEqual(store.usage('acme'), { topics: 0, bytes: 0 });
      // Deleting what is not there changes nothing.
      await set('acme', retained('never/set', Buffer.alloc(0)));
      assert.deepEqual(store.usage('acme'), { topics: 0, bytes: 0 });
      assert.equal(store.get('acme', 'never/set', T0), undefined);
    });

    test('a stored message keeps its payload bytes, QoS, properties, expiry and origin', async () => {
      const props: MessageProperties = {
        payloadFormatIndicator: 1,
        contentType: 'application/octet-stream',
        responseTopic: 'reply/here',
        correlationData: Buffer.from([0, 0xff, 1]),
        userProperties: [
          ['k', 'v'],
          ['k', 'v'],
        ],
      };
      const payload = bytes(70_000, 5);
      await set('acme', retained('bin/x', payload, { qos: 2, properties: props, expiresAt: T0 + 3_600_000, origin: 'origin-1' }));
      const check = (when: string): void => {
        const m = store.get('acme', 'bin/x', T0)!;
        assert.ok(m, `${when}: stored`);
        assert.ok(Buffer.isBuffer(m.payload), `${when}: payload is a Buffer`);
        assert.ok(m.payload.equals(payload), `${when}: payload bytes`);
        assert.equal(m.qos, 2);
        assert.equal(m.retain, true);
        assert.equal(m.expiresAt, T0 + 3_600_000);
        assert.equal(m.origin, 'origin-1');
        assert.deepEqual(plain(m.properties), plain(props), `${when}: properties`);
      };
      check('stored');
      if (factory.durable) {
        await reopen();
        check('after reopen');
      }
    });

    test('match with +, #, $-topics and a limit', async () => {
      const topics = ['a', 'a/b', 'a/b/c', 'a/c/c', 'a//c', 'b/b/c', '/lead', '$SYS/broker/uptime', '$SYS/x', '$internal/a/b', 'x/$y'];
      for (const t of topics) await set('acme', retained(t, `v:${t}`));
      const m = (filter: string, limit = 1000): string[] => topicsOf(store.match('acme', filter, limit, T0));
      assert.deepEqual(m('a/b'), ['a/b']);
      assert.deepEqual(m('a/b/c/d'), []);
      assert.deepEqual(m('a/+/c'), ['a//c', 'a/b/c', 'a/c/c']);
      assert.deepEqual(m('+/b/c'), ['a/b/c', 'b/b/c']);
      assert.deepEqual(m('a/#'), ['a', 'a//c', 'a/b', 'a/b/c', 'a/c/c']);
      assert.deepEqual(m('a/b/#'), ['a/b', 'a/b/c']);
      assert.deepEqual(m('+'), ['a']);
      assert.deepEqual(m('+/+'), ['/lead', 'a/b', 'x/$y']);
      assert.deepEqual(m('#'), ['/lead', 'a', 'a//c', 'a/b', 'a/b/c', 'a/c/c', 'b/b/c', 'x/$y']);
      // [MQTT-4.7.2-1] $-topics only for filters that start with the same level.
      assert.deepEqual(m('+/broker/#'), []);
      assert.deepEqual(m('$SYS/#'), ['$SYS/broker/uptime', '$SYS/x']);
      assert.deepEqual(m('$SYS/+'), ['$SYS/x']);
      assert.deepEqual(m('$internal/+/b'), ['$internal/a/b']);
      assert.deepEqual(m('+/$y'), ['x/$y']);
      // Limit.
      assert.equal(store.match('acme', '#', 3, T0).length, 3);
      assert.equal(store.match('acme', 'a/#', 1, T0).length, 1);
      assert.equal(store.match('acme', 'a/+/c', 2, T0).length, 2);
      const limited = topicsOf(store.match('acme', '#', 3, T0));
      for (const t of limited) assert.ok(m('#').includes(t), `limited result ${t} matches`);
      assert.equal(store.match('acme', 'a/b', 0, T0).length, 0);
      // Payloads belong to their topics.
      for (const msg of store.match('acme', '#', 1000, T0)) assert.equal(msg.payload.toString(), `v:${msg.topic}`);
    });

    test('expiry: an expired message is never returned; sweep removes it and usage drops', async () => {
      await set('acme', retained('keep', 'k'));
      await set('acme', retained('short', 'sss', { expiresAt: T0 + 1000 }));
      await set('acme', retained('long', 'llll', { expiresAt: T0 + 60_000 }));
      await set('other', retained('short', 'o', { expiresAt: T0 + 1000 }));
      assert.equal(store.get('acme', 'short', T0 + 999)?.payload.toString(), 'sss');
      assert.equal(store.get('acme', 'short', T0 + 1000), undefined);
      assert.deepEqual(topicsOf(store.match('acme', '#', 100, T0 + 999)), ['keep', 'long', 'short']);
      assert.deepEqual(topicsOf(store.match('acme', '#', 100, T0 + 1000)), ['keep', 'long']);
      assert.deepEqual(topicsOf(store.match('acme', 'short', 100, T0 + 5000)), []);
      assert.deepEqual(topicsOf(store.list('acme', 0, 100, T0 + 1000)), ['keep', 'long']);
      assert.deepEqual(store.usage('acme'), expectedUsage([['keep', 'k'], ['short', 'sss'], ['long', 'llll']]));

      assert.equal(store.sweep(T0 + 500), 0);
      assert.equal(store.sweep(T0 + 1000), 2); // acme/short and other/short
      assert.deepEqual(store.usage('acme'), expectedUsage([['keep', 'k'], ['long', 'llll']]));
      assert.deepEqual(store.usage('other'), { topics: 0, bytes: 0 });
      assert.equal(store.sweep(T0 + 1000), 0);
      if (factory.durable) {
        await reopen();
        // Swept messages stay deleted; the others come back with their expiry.
        assert.deepEqual(store.usage('acme'), expectedUsage([['keep', 'k'], ['long', 'llll']]));
        assert.deepEqual(store.usage('other'), { topics: 0, bytes: 0 });
        assert.equal(store.get('acme', 'short', T0), undefined);
        assert.equal(store.get('acme', 'long', T0 + 59_999)?.payload.toString(), 'llll');
        assert.equal(store.get('acme', 'long', T0 + 60_000), undefined);
      }
    });

    test('match with a limit: expired messages do not take places of the limit (they are removed, live ones fill it)', async () => {
      for (let i = 0; i < 3; i++) await set('acme', retained(`e/old${i}`, 'o', { expiresAt: T0 + 1000 }));
      for (let i = 0; i < 5; i++) await set('acme', retained(`e/new${i}`, 'n'));
      assert.equal(store.match('acme', 'e/#', 3, T0 + 2000).length, 3, 'three live messages');
      assert.ok(store.match('acme', 'e/#', 3, T0 + 2000).every((m) => m.topic.startsWith('e/new')));
      assert.deepEqual(store.usage('acme'), expectedUsage([0, 1, 2, 3, 4].map((i) => [`e/new${i}`, 'n'] as [string, string])), 'the expired ones are gone');
    });

    test('sweepTenant removes one tenant\'s expired messages, at most once a second per tenant', async () => {
      await set('acme', retained('short', 'sss', { expiresAt: T0 + 1000 }));
      await set('acme', retained('later', 'l', { expiresAt: T0 + 1500 }));
      await set('other', retained('short', 'o', { expiresAt: T0 + 1000 }));
      assert.equal(store.sweepTenant('acme', T0 + 1000), 1, 'acme/short only');
      assert.deepEqual(store.usage('other'), expectedUsage([['short', 'o']]), 'another tenant is left to the periodic sweep');
      assert.equal(store.sweepTenant('acme', T0 + 1600), 0, 'not again within a second');
      assert.equal(store.sweepTenant('acme', T0 + 2000), 1, 'acme/later a second later');
      assert.deepEqual(store.usage('acme'), { topics: 0, bytes: 0 });
      if (factory.durable) {
        await reopen();
        assert.deepEqual(store.usage('acme'), { topics: 0, bytes: 0 }, 'swept messages stay deleted');
      }
    });

    test('usage counts topics and bytes exactly through set, replace, delete and sweep', async () => {
      const live = new Map<string, string | Buffer>();
      const apply = async (topic: string, payload: string | Buffer, expiresAt = 0): Promise<void> => {
        await set('acme', retained(topic, payload, { expiresAt }));
        const empty = (typeof payload === 'string' ? payload.length : payload.length) === 0;
        if (empty) live.delete(topic);
        else live.set(topic, payload);
        assert.deepEqual(store.usage('acme'), expectedUsage([...live]), `after ${topic} <- ${String(payload).slice(0, 10)}`);
      };
      for (let i = 0; i < 30; i++) await apply(`u/${i}`, 'x'.repeat(i + 1));
      for (let i = 0; i < 30; i += 3) await apply(`u/${i}`, bytes(100 + i, i));
      for (let i = 1; i < 30; i += 3) await apply(`u/${i}`, '');
      await apply('u/1', '');
      await apply('u/new', 'n');
      assert.equal(store.usage('acme').topics, live.size);
      if (factory.durable) {
        await reopen();
        assert.deepEqual(store.usage('acme'), expectedUsage([...live]), 'after reopen');
      }
    });

    test('usage bytes count the UTF-8 bytes of a non-ASCII topic', async () => {
      await set('acme', retained('température/cuisine/✓', 'payload'));
      assert.deepEqual(store.usage('acme'), {
        topics: 1,
        bytes: Buffer.byteLength('température/cuisine/✓') + Buffer.byteLength('payload'),
      });
    });

    test('tenants are separate: same topics, own values, own usage, own deletes', async () => {
      await set('t1', retained('shared/topic', 'from t1'));
      await set('t2', retained('shared/topic', 'from t2!'));
      await set('t2', retained('only/t2', 'x'));
      await set('t', retained('shared/topic', 'from t'));
      assert.equal(store.get('t1', 'shared/topic', T0)?.payload.toString(), 'from t1');
      assert.equal(store.get('t2', 'shared/topic', T0)?.payload.toString(), 'from t2!');
      assert.equal(store.get('t1', 'only/t2', T0), undefined);
      assert.deepEqual(topicsOf(store.match('t1', '#', 100, T0)), ['shared/topic']);
      assert.deepEqual(topicsOf(store.match('t2', '#', 100, T0)), ['only/t2', 'shared/topic']);
      assert.deepEqual(store.match('nobody', '#', 100, T0), []);
      assert.deepEqual(store.usage('t1'), expectedUsage([['shared/topic', 'from t1']]));
      assert.deepEqual(store.usage('t2'), expectedUsage([['shared/topic', 'from t2!'], ['only/t2', 'x']]));
      await set('t1', retained('shared/topic', ''));
      assert.equal(store.get('t1', 'shared/topic', T0), undefined);
      assert.equal(store.get('t2', 'shared/topic', T0)?.payload.toString(), 'from t2!');
      assert.equal(store.get('t', 'shared/topic', T0)?.payload.toString(), 'from t');
      assert.deepEqual(store.usage('t1'), { topics: 0, bytes: 0 });
      if (factory.durable) {
        await reopen();
        assert.equal(store.get('t1', 'shared/topic', T0), undefined);
        assert.equal(store.get('t2', 'shared/topic', T0)?.payload.toString(), 'from t2!');
        assert.equal(store.get('t', 'shared/topic', T0)?.payload.toString(), 'from t');
        assert.deepEqual(topicsOf(store.match('t2', '#', 100, T0)), ['only/t2', 'shared/topic']);
      }
    });

    test('reopen keeps everything, and deletes stay deleted', async () => {
      const want = new Map<string, string>();
      for (let i = 0; i < 200; i++) {
        const tenant = `tenant-${i % 4}`;
        const topic = `dev/${i}/state`;
        for (let v = 1; v <= 3; v++) await set(tenant, retained(topic, `${i}:${v}`));
        want.set(`${tenant}|${topic}`, `${i}:3`);
      }
      for (let i = 0; i < 200; i += 7) {
        const tenant = `tenant-${i % 4}`;
        await set(tenant, retained(`dev/${i}/state`, ''));
        want.delete(`${tenant}|dev/${i}/state`);
      }
      const snapshot = (): Map<string, string> => {
        const got = new Map<string, string>();
        for (let t = 0; t < 4; t++) {
          for (const m of store.match(`tenant-${t}`, '#', 1000, T0)) got.set(`tenant-${t}|${m.topic}`, m.payload.toString());
        }
        return got;
      };
      assert.deepEqual(snapshot(), want);
      const usage = [0, 1, 2, 3].map((t) => store.usage(`tenant-${t}`));
      await reopen();
      assert.deepEqual(snapshot(), want, 'after reopen');
      assert.deepEqual([0, 1, 2, 3].map((t) => store.usage(`tenant-${t}`)), usage, 'usage after reopen');
      // Changes after a reopen survive the next one.
      await set('tenant-1', retained('dev/1/state', ''));
      await set('tenant-0', retained('dev/0/state', 'back'));
      want.delete('tenant-1|dev/1/state');
      want.set('tenant-0|dev/0/state', 'back');
      await reopen();
      assert.deepEqual(snapshot(), want, 'after a second reopen');
    });
  });
}
