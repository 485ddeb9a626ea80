/**
 * Hard isolation between tenants (ARCHITECTURE.md section 4), adversarially: tenants A and B use the
 * very same client ids, topics, filters and share-group names, over MQTT 5 and 3.1.1, and neither may
 * see, kick, take over or be charged for anything of the other.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ALICE, BOB, GAUGES, Harness, T, VERSIONS, eventually, gauges, persistent, sleep, uid, type Client, type Version } from './util';

const h = new Harness();
before(() => h.start());
afterEach(() => h.closeClients());
after(() => h.stop());

const A = 'tenantA';
const B = 'tenantB';

/** Ends the session of `clientId` in a tenant (clean start with no expiry, then DISCONNECT). */
async function dropSession(username: string, clientId: string): Promise<void> {
  const c = await h.client({ clientId, username, protocolVersion: 5, clean: true });
  await c.end();
}

/** Publishes `payload` from a fresh client of the tenant of `username`, then leaves. */
async function publishAs(username: string, v: Version, topic: string, payloads: string[], opts: { retain?: boolean } = {}): Promise<void> {
  const p = await h.client({ username, protocolVersion: v });
  for (const m of payloads) await p.publish(topic, m, { qos: 1, retain: opts.retain ?? false });
  await p.end();
}

/** Waits for `sentinel`, then asserts that exactly `expected` (in any order, sentinel aside) arrived. */
async function expectExactly(c: Client, sentinel: string, expected: string[], what: string): Promise<void> {
  await c.waitPayload(sentinel);
  const got = c.payloads.filter((p) => p !== sentinel).sort();
  assert.deepEqual(got, [...expected].sort(), what);
}

describe('the same client id in two tenants', () => {
  for (const v of VERSIONS) {
    test(`v${v}: is two sessions — neither takes the other over, both stay connected, each gets only its own tenant's messages`, T, async () => {
      const id = uid('same');
      const topic = `iso/${uid('t')}`;
      const a = await h.client({ clientId: id, username: ALICE, ...persistent(v, false) });
      const b = await h.client({ clientId: id, username: BOB, ...persistent(v, false) });
      await sleep(150);
      assert.equal(a.closed, false, "B's CONNECT with the same client id closed A's connection");
      assert.equal(a.disconnect, undefined, 'A got a DISCONNECT');
      assert.equal(b.closed, false);
      const sa = h.broker.tenant(A)?.sessions.get(id);
      const sb = h.broker.tenant(B)?.sessions.get(id);
      assert.ok(sa && sb, 'each tenant holds a session for the client id');
      assert.notEqual(sa, sb, 'one session shared by both tenants');
      assert.equal(sa.connected && sb.connected, true, 'both sessions connected');

      await a.subscribe(topic, { qos: 1 });
      await b.subscribe(topic, { qos: 1 });
      await publishAs(BOB, v, topic, ['B1', 'B2']);
      await publishAs(ALICE, v, topic, ['A1', 'A2']);
      await publishAs(ALICE, v, topic, ['A-end']);
      await publishAs(BOB, v, topic, ['B-end']);
      await expectExactly(a, 'A-end', ['A1', 'A2'], "A's subscriber got messages of B");
      await expectExactly(b, 'B-end', ['B1', 'B2'], "B's subscriber got messages of A");
      await dropSession(ALICE, id);
      await dropSession(BOB, id);
    });

    test(`v${v}: persistent sessions with the same client id each keep their own queued messages`, T, async () => {
      const id = uid('same');
      const topic = `iso/${uid('q')}`;
      for (const user of [ALICE, BOB]) {
        const c = await h.client({ clientId: id, username: user, ...persistent(v, false) });
        await c.subscribe(topic, { qos: 1 });
        await c.end();
      }
      await publishAs(ALICE, v, topic, ['qa1', 'qa2']);
      await publishAs(BOB, v, topic, ['qb1']);

      const a = await h.client({ clientId: id, username: ALICE, ...persistent(v, true) });
      assert.equal(a.connack!.sessionPresent, true, "A's session is gone");
      const b = await h.client({ clientId: id, username: BOB, ...persistent(v, true) });
      assert.equal(b.connack!.sessionPresent, true, "B's session is gone (A's reconnect took it?)");
      await a.waitMessages(2);
      await b.waitMessages(1);
      await sleep(150);
      assert.deepEqual(a.payloads, ['qa1', 'qa2'], "A's queue");
      assert.deepEqual(b.payloads, ['qb1'], "B's queue");
      assert.equal(a.closed || b.closed, false, 'a reconnect in one tenant closed the other');
      await a.end();
      await b.end();
      await dropSession(ALICE, id);
      await dropSession(BOB, id);
    });
  }
});

describe('wildcards and shared subscriptions stay inside the tenant', () => {
  for (const v of VERSIONS) {
    test(`v${v}: '#', '+/#' and '$share/g/#' subscribers of A see only A's messages (and B's only B's)`, T, async () => {
      const filters = ['#', '+/#', '$share/g/#'];
      const subs: Record<string, Client[]> = { [ALICE]: [], [BOB]: [] };
      for (const user of [ALICE, BOB]) {
        for (const f of filters) {
          const c = await h.client({ username: user, protocolVersion: v });
          assert.deepEqual(await c.subscribe(f, { qos: 1 }), [1], `SUBACK of ${f}`);
          subs[user]!.push(c);
        }
      }
      const prefix = uid('w');
      const topics = [prefix, `${prefix}/y`, `${prefix}/b/c`];
      const pubA = await h.client({ username: ALICE, protocolVersion: v });
      const pubB = await h.client({ username: BOB, protocolVersion: v });
      for (const t of topics) {
        await pubB.publish(t, `B:${t}`, { qos: 1 });
        await pubA.publish(t, `A:${t}`, { qos: 1 });
      }
      await pubA.publish(`${prefix}/end`, 'A-end', { qos: 1 });
      await pubB.publish(`${prefix}/end`, 'B-end', { qos: 1 });
      for (const [user, tag] of [
        [ALICE, 'A'],
        [BOB, 'B'],
      ] as const) {
        const list = subs[user]!;
        for (let i = 0; i < list.length; i++) {
          await expectExactly(list[i]!, `${tag}-end`, topics.map((t) => `${tag}:${t}`), `${user} subscriber of ${filters[i]}`);
        }
      }
    });

    test(`v${v}: '$share/g/t' in A and in B are two groups — each tenant's group gets every message of its own tenant exactly once`, T, async () => {
      const topic = `share/${uid('t')}`;
      const filter = `$share/g/${topic}`;
      const members: Record<string, Client[]> = { [ALICE]: [], [BOB]: [] };
      for (const user of [ALICE, BOB]) {
        for (let i = 0; i < 2; i++) {
          const c = await h.client({ username: user, protocolVersion: v });
          await c.subscribe(filter, { qos: 1 });
          members[user]!.push(c);
        }
      }
      assert.equal(h.broker.tenant(A)!.subscriptions.groupSize('g', topic), 2, "A's group has A's two members");
      assert.equal(h.broker.tenant(B)!.subscriptions.groupSize('g', topic), 2, "B's group has B's two members");
      const pubA = await h.client({ username: ALICE, protocolVersion: v });
      const pubB = await h.client({ username: BOB, protocolVersion: v });
      const n = 20;
      const sentA: string[] = [];
      const sentB: string[] = [];
      for (let i = 0; i < n; i++) {
        sentA.push(`A${i}`);
        sentB.push(`B${i}`);
        await Promise.all([pubA.publish(topic, `A${i}`, { qos: 1 }), pubB.publish(topic, `B${i}`, { qos: 1 })]);
      }
      const total = (cs: Client[]): number => cs.reduce((s, c) => s + c.messages.length, 0);
      const wait = async (cs: Client[]): Promise<void> => {
        await cs[0]!.waitUntil(() => total(cs) >= n, () => `group got ${total(cs)} of ${n}`);
      };
      await Promise.all([wait(members[ALICE]!), wait(members[BOB]!)]);
      await sleep(150);
      const gotA = members[ALICE]!.flatMap((c) => c.payloads).sort();
      const gotB = members[BOB]!.flatMap((c) => c.payloads).sort();
      assert.deepEqual(gotA, sentA.sort(), "A's group: every message of A exactly once, none of B");
      assert.deepEqual(gotB, sentB.sort(), "B's group: every message of B exactly once, none of A");
    });
  }
});

describe('retained messages, wills and $SYS', () => {
  for (const v of VERSIONS) {
    test(`v${v}: retained messages of A are not served to B's subscribe, and B cannot delete them`, T, async () => {
      const prefix = `ret/${uid('r')}`;
      await publishAs(ALICE, v, `${prefix}/x`, ['A-ret'], { retain: true });
      await publishAs(BOB, v, `${prefix}/y`, ['B-ret'], { retain: true });
      // B clears "its" copy of A's topic: must not touch A's.
      await publishAs(BOB, v, `${prefix}/x`, [''], { retain: true });

      const b = await h.client({ username: BOB, protocolVersion: v });
      await b.subscribe(`${prefix}/#`, { qos: 1 });
      await b.subscribe(`${prefix}/x`, { qos: 1 });
      await b.waitPayload('B-ret');
      const a = await h.client({ username: ALICE, protocolVersion: v });
      await a.subscribe(`${prefix}/#`, { qos: 1 });
      await a.waitPayload('A-ret');
      await sleep(200);
      assert.deepEqual(b.payloads, ['B-ret'], "B's subscribe was served A's retained message");
      assert.deepEqual(a.payloads, ['A-ret'], "A's subscribe was served B's retained message (or B deleted A's)");
      await publishAs(ALICE, v, `${prefix}/x`, [''], { retain: true });
      await publishAs(BOB, v, `${prefix}/y`, [''], { retain: true });
    });

    test(`v${v}: the will of A's client goes only to A's subscribers`, T, async () => {
      const id = uid('will');
      const topic = `will/${uid('t')}`;
      const subA = await h.client({ username: ALICE, protocolVersion: v });
      await subA.subscribe(topic, { qos: 1 });
      const subB = await h.client({ username: BOB, protocolVersion: v });
      await subB.subscribe(topic, { qos: 1 });
      await subB.subscribe('#', { qos: 1 });
      // B has a client with the same id and the same will topic that stays connected.
      const twinB = await h.client({ clientId: id, username: BOB, protocolVersion: v, will: { topic, payload: Buffer.from('B-will'), qos: 1, retain: false } });
      const a = await h.client({ clientId: id, username: ALICE, protocolVersion: v, will: { topic, payload: Buffer.from('A-will'), qos: 1, retain: false } });
      a.kill();
      await subA.waitPayload('A-will');
      await publishAs(BOB, v, topic, ['B-end']);
      await subB.waitPayload('B-end');
      await sleep(100);
      assert.deepEqual(
        subB.messages.filter((m) => m.topic === topic).map((m) => m.payload.toString()),
        ['B-end'],
        "B's subscriber got A's will",
      );
      assert.ok(!subB.payloads.includes('A-will'), "B's subscriber got A's will");
      assert.ok(!subB.payloads.includes('B-will'), "the death of A's client fired the will of B's client with the same id");
      assert.equal(twinB.closed, false);
      assert.deepEqual(subA.payloads, ['A-will']);
    });

    test(`v${v}: B can never kick A — connecting with A's client id in B does nothing to A`, T, async () => {
      const id = uid('kick');
      const topic = `kick/${uid('t')}`;
      const a = await h.client({ clientId: id, username: ALICE, ...persistent(v, false) });
      await a.subscribe(topic, { qos: 1 });
      const sessionA = h.broker.tenant(A)!.sessions.get(id);
      // Every way B might try: both versions, clean or not, persistent or not, repeatedly (B takes over its own).
      for (const opts of [{ protocolVersion: 5 as const, clean: true }, persistent(5, false), persistent(5, true), { protocolVersion: 4 as const, clean: true }, persistent(4, true)]) {
        const b = await h.client({ clientId: id, username: BOB, ...opts });
        await b.end(true);
      }
      await sleep(150);
      assert.equal(a.closed, false, "B's CONNECT closed A's connection");
      assert.equal(a.disconnect, undefined, `A got DISCONNECT ${a.disconnect?.reasonCode}`);
      assert.equal(h.broker.tenant(A)!.sessions.get(id), sessionA, "A's session was replaced");
      assert.deepEqual(
        h.log.of('client.disconnected', (e) => e.tenantId === A && e.clientId === id),
        [],
        'A is recorded as disconnected',
      );
      assert.deepEqual(
        h.log.of('session.ended', (e) => e.tenantId === A && e.clientId === id),
        [],
        "A's session is recorded as ended",
      );
      await publishAs(ALICE, v, topic, ['still-here']);
      await a.waitPayload('still-here');
      await a.end();
      await dropSession(ALICE, id);
      await dropSession(BOB, id);
    });

    test(`v${v}: a '$SYS/#' subscriber of B sees nothing of A, and A cannot publish into '$SYS'`, T, async () => {
      const idA = uid('sysA');
      const b = await h.client({ username: BOB, protocolVersion: v });
      await b.subscribe('$SYS/#', { qos: 0 }).catch(() => [0x80]);
      await b.subscribe('#', { qos: 0 });
      const a = await h.client({ clientId: idA, username: ALICE, protocolVersion: 5 });
      await a.subscribe(`sys/${uid('t')}`, { qos: 1 });
      await a.publish(`sys/${idA}`, `hello from ${idA}`, { qos: 1 });
      const code = await a.publish('$SYS/broker/clients', `forged by ${idA}`, { qos: 1 });
      assert.equal(code, 0x87, `PUBLISH to $SYS by a client: ${code}, expected 0x87 Not authorized`);
      await a.end();
      await sleep(300);
      const leaks = b.messages.filter((m) => m.topic.includes(idA) || m.payload.toString().includes(idA) || m.payload.toString().includes(A));
      assert.deepEqual(
        leaks.map((m) => `${m.topic}: ${m.payload.toString()}`),
        [],
        'B saw something of A',
      );
    });
  }
});

describe('usage is charged to the right tenant', () => {
  test("B's clients, sessions, subscriptions and messages do not count in A's usage", T, async () => {
    const a = await h.client({ clientId: 'shared-id-0', username: ALICE, protocolVersion: 5 });
    await a.subscribe('usage/#', { qos: 1 });
    const tenantA = h.broker.tenant(A)!;
    await eventually(() => tenantA.usage.connections === 1, () => `A still has ${tenantA.usage.connections} connections from earlier tests`);
    const before = tenantA.usage.snapshot();

    // B does a bit of everything, with A's client ids and topics.
    const ids = ['shared-id-0', 'shared-id-1', 'shared-id-2'];
    const bs: Client[] = [];
    for (const [i, id] of ids.entries()) {
      const b = await h.client({ clientId: id, username: BOB, ...persistent(i === 0 ? 5 : 4, false) });
      await b.subscribe(['usage/#', `$share/g/usage/${i}`], { qos: 1 });
      bs.push(b);
    }
    await bs[2]!.end();
    for (let i = 0; i < 5; i++) await bs[0]!.publish('usage/x', `m${i}`, { qos: 1 });
    await bs[1]!.waitMessages(5);
    await eventually(() => h.broker.tenant(B)?.usage.connections === 2, () => `B has ${h.broker.tenant(B)?.usage.connections} connections`);
    await sleep(100);

    const after = tenantA.usage.snapshot();
    assert.deepEqual(after, before, "A's usage moved with B's activity");
    const ub = gauges(h.broker.tenant(B));
    assert.equal(ub.connections, 2, "B's connections");
    assert.ok(ub.persistentSessions >= 3, `B's persistent sessions: ${ub.persistentSessions}`);
    assert.ok(ub.subscriptions >= 6 && ub.sharedSubscriptions >= 3, `B's subscriptions: ${JSON.stringify(ub)}`);
    assert.ok(ub.sessionBytes > 0, "B's offline session holds its queued messages");
    for (const g of GAUGES) assert.ok(ub[g] >= 0, `B's ${g} is negative`);

    await a.end();
    for (const b of bs) await b.end();
    for (const id of ids) await dropSession(BOB, id);
  });
});
