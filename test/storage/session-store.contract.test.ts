/**
 * SessionStore contract: one suite, run against every implementation (memory and LMDB). What a
 * store keeps of a persistent session and its inbox, and what load() gives back at start.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OutState } from '../../src/session/outbound';
import { messageOf, outboundRecord, sessionRecord } from '../../src/session/session-records';
import type { LoadedSession, SessionStore, StoredOutbound } from '../../src/session/session-store';
import type { Session } from '../../src/session/session';
import { sessionStoreFactories, type Opened } from './store-factories';
import { addSubscription, bytes, makeOutbound, makeSession, plain, RecordingLink, T0, type OutboundSpec } from './session-fixtures';

const NEVER = 0xffffffff;

function find(loaded: LoadedSession[], tenantId: string, clientId: string): LoadedSession | undefined {
  return loaded.find((l) => l.session.tenantId === tenantId && l.session.clientId === clientId);
}

function keysOf(loaded: LoadedSession[]): string[] {
  return loaded.map((l) => `${l.session.tenantId}|${l.session.clientId}`).sort();
}

/** A session with every field of its record set to something other than its default. */
function fullSession(store: SessionStore, tenantId = 'acme', clientId = 'device-1'): Session {
  const s = makeSession(tenantId, clientId, store, 3600);
  addSubscription(s, 'sensors/+/temp', { qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, subscriptionId: 268_435_455 });
  addSubscription(s, 'alerts/#', { qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 1, subscriptionId: undefined });
  addSubscription(s, '$share/workers/jobs/+', { qos: 1, subscriptionId: 7 });
  addSubscription(s, 'exact/topic', { qos: 1, retainHandling: 0, subscriptionId: 1 });
  s.will = {
    topic: 'status/device-1',
    payload: Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x6f, 0x66, 0x66]),
    qos: 2,
    retain: true,
    properties: {
      payloadFormatIndicator: 1,
      contentType: 'text/plain; charset=utf-8',
      responseTopic: 'replies/device-1',
      correlationData: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]),
      userProperties: [
        ['k', 'v1'],
        ['k', 'v2'],
        ['ünïcode', '✓'],
      ],
    },
    expiryInterval: 45,
    delay: 30,
  };
  s.incomingQoS2.add(7);
  s.incomingQoS2.add(65535);
  s.incomingQoS2.add(1);
  s.lastSeq = 123_456;
  s.disconnectedAt = T0 + 1234;
  return s;
}

for (const factory of sessionStoreFactories) {
  describe(`SessionStore contract: ${factory.name}`, () => {
    let opened: Opened<SessionStore>;
    let store: SessionStore;

    beforeEach(async () => {
      opened = await factory.open();
      store = opened.store;
    });

    afterEach(async () => {
      await factory.dispose(opened);
      assert.deepEqual(opened.errors, [], 'the store reported write errors');
    });

    /** What a restarted broker would load. */
    async function restartAndLoad(): Promise<LoadedSession[]> {
      await store.flush();
      opened = await factory.reopen(opened);
      store = opened.store;
      return store.load();
    }

    test('an empty store loads nothing', async () => {
      assert.deepEqual(store.load(), []);
    });

    test('session record round trip: expiry, subscriptions with all options, will with properties and delay, incomingQoS2, lastSeq, disconnectedAt', async () => {
      const s = fullSession(store);
      const expected = sessionRecord(s);
      await store.sessionChanged(s);
      await store.flush();
      const loaded = store.load();
      assert.equal(loaded.length, 1);
      const l = loaded[0]!;
      assert.deepEqual(plain(l.session), plain(expected));
      // Spot checks that do not go through the normaliser.
      assert.equal(l.session.expiryInterval, 3600);
      assert.equal(l.session.disconnectedAt, T0 + 1234);
      assert.equal(l.session.lastSeq, 123_456);
      assert.deepEqual([...l.session.incomingQoS2].sort((a, b) => a - b), [1, 7, 65535]);
      assert.ok(Buffer.isBuffer(l.session.will?.payload), 'will payload comes back as a Buffer');
      assert.ok(Buffer.isBuffer(l.session.will?.properties?.correlationData), 'correlation data comes back as a Buffer');
      assert.equal(l.session.will?.delay, 30);
      const subs = new Map(l.session.subscriptions.map((x) => [x.key, x]));
      assert.equal(subs.size, 4);
      assert.deepEqual(plain(subs.get('sensors/+/temp')), {
        key: 'sensors/+/temp',
        qos: 2,
        noLocal: true,
        retainAsPublished: true,
        retainHandling: 2,
        subscriptionId: 268_435_455,
      });
      assert.equal(subs.get('alerts/#')?.subscriptionId, undefined);
      assert.equal(subs.get('$share/workers/jobs/+')?.qos, 1);
      assert.deepEqual(l.inbox, []);

      // A later change replaces the record.
      s.subscriptions.delete('alerts/#');
      s.will = undefined;
      s.incomingQoS2.clear();
      s.disconnectedAt = 0;
      s.expiryInterval = NEVER;
      s.lastSeq = 123_457;
      await store.sessionChanged(s);
      await store.flush();
      const again = store.load();
      assert.equal(again.length, 1);
      assert.deepEqual(plain(again[0]!.session), plain(sessionRecord(s)));
      assert.equal(again[0]!.session.will, undefined);
      assert.equal(again[0]!.session.expiryInterval, NEVER);
      assert.deepEqual(again[0]!.session.incomingQoS2, []);
    });

    test('inbox add, change (packet id, state) and remove; loaded in seq order with payload bytes intact', async () => {
      const s = makeSession('acme', 'dev', store);
      await store.sessionChanged(s);
      const big = bytes(100_000, 42);
      const window = Buffer.alloc(64, 0xaa);
      bytes(10, 9).copy(window, 20);
      const specs: OutboundSpec[] = [
        { seq: 70_000, payload: big, msgQoS: 2, qos: 2, subIds: [1, 268_435_455] },
        { seq: 1, payload: Buffer.from([0x00, 0x00, 0xff, 0x00]), msgRetain: true, retain: true },
        { seq: 10, payload: Buffer.alloc(0), msgQoS: 0, qos: 0 },
        { seq: 9, payload: window.subarray(20, 30), expiresAt: T0 + 60_000, origin: '' },
        {
          seq: 1000,
          topic: 'ü/ñ/✓',
          properties: {
            payloadFormatIndicator: 1,
            contentType: 'application/json',
            responseTopic: 'r/1',
            correlationData: Buffer.from([0, 1, 2]),
            userProperties: [['a', 'b']],
          },
        },
        { seq: 2, msgQoS: 2, qos: 1 },
        { seq: 100 },
        { seq: 65_536, payload: Buffer.from('removed later') },
        { seq: 256, payload: bytes(3000, 7) },
      ];
      const outs = new Map(specs.map((sp) => [sp.seq, makeOutbound(sp)]));
      for (const out of outs.values()) await store.outboundAdded(s, out);

      // Changes: a packet id and a state.
      const o2 = outs.get(2)!;
      o2.packetId = 17;
      o2.state = OutState.Published;
      store.outboundChanged(s, o2);
      const o9 = outs.get(9)!;
      o9.packetId = 65535;
      o9.state = OutState.Published;
      store.outboundChanged(s, o9);
      o9.state = OutState.Released;
      store.outboundChanged(s, o9);
      // Removals.
      store.outboundRemoved(s, outs.get(10)!);
      store.outboundRemoved(s, outs.get(65_536)!);
      outs.delete(10);
      outs.delete(65_536);
      // Removing an entry that is not there is harmless.
      store.outboundRemoved(s, makeOutbound({ seq: 4242 }));
      await store.flush();

      const check = (loaded: LoadedSession[], when: string): void => {
        const l = find(loaded, 'acme', 'dev');
        assert.ok(l, `${when}: session loaded`);
        const seqs = l.inbox.map((r) => r.seq);
        assert.deepEqual(seqs, [1, 2, 9, 100, 256, 1000, 70_000], `${when}: inbox in seq order`);
        for (const r of l.inbox) {
          const out = outs.get(r.seq)!;
          assert.deepEqual(plain(r), plain(outboundRecord(out)), `${when}: record of seq ${r.seq}`);
          assert.ok(Buffer.isBuffer(r.payload), `${when}: payload of seq ${r.seq} is a Buffer`);
          assert.ok(r.payload.equals(out.msg.payload), `${when}: payload bytes of seq ${r.seq}`);
        }
        const r2 = l.inbox.find((r) => r.seq === 2)!;
        assert.equal(r2.packetId, 17);
        assert.equal(r2.state, OutState.Published);
        const r9 = l.inbox.find((r) => r.seq === 9)!;
        assert.equal(r9.packetId, 65535);
        assert.equal(r9.state, OutState.Released);
        assert.equal(r9.payload.length, 10, `${when}: a payload that viewed a larger buffer keeps only its own bytes`);
        assert.equal(l.inbox.find((r) => r.seq === 1)!.state, OutState.Queued);
        assert.equal(l.inbox.find((r) => r.seq === 70_000)!.payload.length, 100_000);
        // The message rebuilt from a record is the message that was stored.
        const m = messageOf(l.inbox.find((r) => r.seq === 1000)!);
        assert.equal(m.topic, 'ü/ñ/✓');
        assert.deepEqual(plain(m.properties), plain(outs.get(1000)!.msg.properties));
        const m9 = messageOf(r9);
        assert.equal(m9.expiresAt, T0 + 60_000);
        assert.equal(m9.origin, '');
      };
      check(store.load(), 'loaded');
      if (factory.durable) check(await restartAndLoad(), 'after reopen');
    });

    test('a promise returned by outboundAdded / sessionChanged means the change is loadable (durable)', async () => {
      const s = makeSession('t', 'c', store);
      await store.sessionChanged(s);
      const out = makeOutbound({ seq: 1, payload: Buffer.from('acked') });
      await store.outboundAdded(s, out);
      // No flush(): the broker acknowledges on these promises alone.
      const loaded = store.load();
      assert.deepEqual(
        find(loaded, 't', 'c')?.inbox.map((r) => r.payload.toString()),
        ['acked'],
      );
    });

    test('sessionEnded removes the session and its whole inbox, and nothing else', async () => {
      const a = fullSession(store, 'acme', 'a');
      const b = fullSession(store, 'acme', 'b');
      await store.sessionChanged(a);
      await store.sessionChanged(b);
      for (let seq = 1; seq <= 50; seq++) {
        await store.outboundAdded(a, makeOutbound({ seq }));
        if (seq <= 5) await store.outboundAdded(b, makeOutbound({ seq }));
      }
      store.sessionEnded(a);
      await store.flush();
      let loaded = store.load();
      assert.deepEqual(keysOf(loaded), ['acme|b']);
      assert.deepEqual(find(loaded, 'acme', 'b')!.inbox.map((r) => r.seq), [1, 2, 3, 4, 5]);

      // A new session under the same client id starts empty: no entry of the old inbox comes back.
      const a2 = makeSession('acme', 'a', store, 60);
      await store.sessionChanged(a2);
      await store.outboundAdded(a2, makeOutbound({ seq: 1, payload: Buffer.from('new') }));
      await store.flush();
      loaded = store.load();
      assert.deepEqual(keysOf(loaded), ['acme|a', 'acme|b']);
      assert.deepEqual(find(loaded, 'acme', 'a')!.inbox.map((r) => r.payload.toString()), ['new']);
      assert.equal(find(loaded, 'acme', 'a')!.session.expiryInterval, 60);
      if (factory.durable) {
        loaded = await restartAndLoad();
        assert.deepEqual(keysOf(loaded), ['acme|a', 'acme|b']);
        assert.deepEqual(find(loaded, 'acme', 'a')!.inbox.map((r) => r.payload.toString()), ['new']);
        assert.equal(find(loaded, 'acme', 'b')!.inbox.length, 5);
      }
    });

    test('inbox entries of a session without a record are not loaded', async () => {
      const ghost = makeSession('acme', 'ghost', store);
      await store.outboundAdded(ghost, makeOutbound({ seq: 1 }));
      const real = makeSession('acme', 'real', store);
      await store.sessionChanged(real);
      await store.flush();
      assert.deepEqual(keysOf(store.load()), ['acme|real']);
      assert.deepEqual(find(store.load(), 'acme', 'real')!.inbox, []);
    });

    test('many sessions in several tenants with the same client ids stay separate', async () => {
      // Tenant and client ids that are prefixes of one another, as a key layout that concatenates
      // strings would confuse them.
      const tenants = ['t', 't1', 'acme', 't/x'];
      const clients = ['c', 'c1', 'c 2', 'C', 'c/1'];
      const sessions = new Map<string, Session>();
      let expiry = 10;
      for (const t of tenants) {
        for (const c of clients) {
          const s = makeSession(t, c, store, expiry++);
          addSubscription(s, `${t}/${c}/#`, { qos: 1 });
          sessions.set(`${t}|${c}`, s);
          await store.sessionChanged(s);
          for (let seq = 1; seq <= 3; seq++) {
            await store.outboundAdded(s, makeOutbound({ seq, payload: Buffer.from(`${t}|${c}|${seq}`) }));
          }
        }
      }
      await store.flush();
      const check = (loaded: LoadedSession[], ended: string[], when: string): void => {
        const want = [...sessions.keys()].filter((k) => !ended.includes(k)).sort();
        assert.deepEqual(keysOf(loaded), want, `${when}: the sessions`);
        for (const l of loaded) {
          const k = `${l.session.tenantId}|${l.session.clientId}`;
          const s = sessions.get(k)!;
          assert.equal(l.session.expiryInterval, s.expiryInterval, `${when}: expiry of ${k}`);
          assert.deepEqual(l.session.subscriptions.map((x) => x.key), [`${k.replace('|', '/')}/#`], `${when}: subscriptions of ${k}`);
          assert.deepEqual(
            l.inbox.map((r: StoredOutbound) => r.payload.toString()),
            [1, 2, 3].map((seq) => `${k}|${seq}`),
            `${when}: inbox of ${k}`,
          );
        }
      };
      check(store.load(), [], 'loaded');
      store.sessionEnded(sessions.get('t|c')!);
      store.outboundRemoved(sessions.get('t1|c')!, makeOutbound({ seq: 2 }));
      await store.flush();
      const loaded = store.load();
      assert.equal(find(loaded, 't', 'c'), undefined);
      assert.deepEqual(find(loaded, 't1', 'c')!.inbox.map((r) => r.seq), [1, 3]);
      assert.deepEqual(find(loaded, 't', 'c1')!.inbox.map((r) => r.seq), [1, 2, 3]);
      assert.deepEqual(find(loaded, 't1', 'c1')!.inbox.map((r) => r.seq), [1, 2, 3]);
      if (factory.durable) {
        const after = await restartAndLoad();
        assert.equal(after.length, tenants.length * clients.length - 1);
        assert.equal(find(after, 't', 'c'), undefined);
        assert.deepEqual(find(after, 't1', 'c')!.inbox.map((r) => r.seq), [1, 3]);
      }
    });

    test('a real Session drives the store: queued offline, sent, acknowledged, released', async () => {
      const s = makeSession('acme', 'live', store);
      await store.sessionChanged(s);
      const waits: Promise<void>[] = [];
      for (let i = 1; i <= 6; i++) {
        const out = makeOutbound({ seq: 0, topic: `m/${i}`, msgQoS: i <= 3 ? 1 : 2 });
        const p = s.deliver(out.msg, i <= 3 ? 1 : 2, false, undefined, undefined);
        if (factory.durable) assert.ok(p, `deliver ${i} to a persistent session returns a durability promise`);
        if (p) waits.push(p);
      }
      await Promise.all(waits);
      assert.equal(s.lastSeq, 6);
      // Offline: six queued messages, in order.
      let l = find(store.load(), 'acme', 'live')!;
      assert.deepEqual(l.inbox.map((r) => [r.seq, r.topic, r.state, r.packetId]), [1, 2, 3, 4, 5, 6].map((i) => [i, `m/${i}`, OutState.Queued, 0]));

      // Online with a window of 5: five go out with packet ids.
      const link = new RecordingLink(5);
      s.attach(link);
      // A QoS 2 PUBLISH leaves only once its packet id is durable (exactly once across a crash).
      await store.flush();
      await new Promise((r) => setImmediate(r));
      assert.equal(link.published.length, 5);
      const idOf = (topic: string): number => link.published.find((p) => p.topic === topic)!.packetId;
      assert.ok(s.acknowledge(idOf('m/1'))); // QoS 1 done: removed, m/6 goes out
      assert.ok(s.received(idOf('m/4'), false)); // QoS 2 PUBREC: released
      assert.ok(s.received(idOf('m/5'), false));
      assert.ok(s.completed(idOf('m/5'))); // QoS 2 PUBCOMP: removed
      await store.sessionChanged(s);
      await store.flush();
      l = find(store.load(), 'acme', 'live')!;
      const rows = l.inbox.map((r) => [r.topic, r.state, r.packetId]);
      assert.deepEqual(rows, [
        ['m/2', OutState.Published, idOf('m/2')],
        ['m/3', OutState.Published, idOf('m/3')],
        ['m/4', OutState.Released, idOf('m/4')],
        ['m/6', OutState.Published, idOf('m/6')],
      ]);
      assert.equal(l.session.lastSeq, 6);
      if (factory.durable) {
        const after = await restartAndLoad();
        assert.deepEqual(find(after, 'acme', 'live')!.inbox.map((r) => [r.topic, r.state, r.packetId]), rows);
      }
    });

    test('reopen keeps everything, and removals stay removed', async () => {
      const sessions: Session[] = [];
      for (let i = 0; i < 20; i++) {
        const s = fullSession(store, i % 2 === 0 ? 'even' : 'odd', `client-${i}`);
        sessions.push(s);
        await store.sessionChanged(s);
        for (let seq = 1; seq <= 10; seq++) {
          await store.outboundAdded(s, makeOutbound({ seq, payload: bytes(50 + seq, i * 100 + seq), packetId: seq <= 2 ? seq : 0, state: seq <= 2 ? OutState.Published : OutState.Queued }));
        }
      }
      store.sessionEnded(sessions[3]!);
      store.outboundRemoved(sessions[4]!, makeOutbound({ seq: 1 }));
      await store.flush();
      const before = plain(store.load().sort((a, b) => (a.session.clientId < b.session.clientId ? -1 : 1)));
      const after1 = await restartAndLoad();
      assert.deepEqual(plain(after1.sort((a, b) => (a.session.clientId < b.session.clientId ? -1 : 1))), before);
      assert.equal(after1.length, 19);
      // More changes after the restart, then another restart.
      store.sessionEnded(sessions[5]!);
      store.outboundRemoved(sessions[6]!, makeOutbound({ seq: 10 }));
      const after2 = await restartAndLoad();
      assert.equal(after2.length, 18);
      assert.equal(find(after2, 'even', 'client-3'), undefined);
      assert.equal(find(after2, 'odd', 'client-5'), undefined);
      assert.deepEqual(find(after2, 'even', 'client-4')!.inbox.map((r) => r.seq), [2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.deepEqual(find(after2, 'even', 'client-6')!.inbox.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.equal(find(after2, 'odd', 'client-7')!.inbox.length, 10);
    });
  });
}
