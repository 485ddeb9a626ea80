/**
 * Connecting with real clients over TCP: CONNACK, client identifiers, Clean Start and Session Present,
 * keepalive and Server Keep Alive, session takeover and tenant isolation of client identifiers
 * (MQTT 5 sections 3.1, 3.2 and 4.1; 3.1.1 sections 3.1 and 3.2).
 *
 * Statement ids in test names are MQTT 5.0's (they name the rule for both versions where 3.1.1 has
 * it too); "(3.1.1)" marks an id of the 3.1.1 specification.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Connection } from '../../src/connection/connection';
import { Harness, T, VERSIONS, hx, persistentSession, sleep, uid } from './util';

const h = new Harness();
before(() => h.start({ tenants: { ka: { maxKeepAlive: 1 }, kamin: { minKeepAlive: 2 } } }));
afterEach(() => h.closeClients());
after(() => h.stop());

describe('CONNACK', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-3.1.4-5] v${v}: a valid CONNECT is accepted with CONNACK 0x00 and Session Present 0`, T, async () => {
      const c = await h.client({ protocolVersion: v });
      const ack = c.connack!;
      assert.equal(v === 5 ? ack.reasonCode : ack.returnCode, 0);
      assert.equal(ack.sessionPresent, false, '[MQTT-3.2.2-2] a clean start has no session');
      assert.equal(c.received[0]?.cmd, 'connack', '[MQTT-3.2.0-1] CONNACK comes first');
    });
  }

  test('v5: CONNACK announces the broker limits (Maximum Packet Size, Topic Alias Maximum)', T, async () => {
    const c = await h.client({ protocolVersion: 5 });
    const props = c.connack!.properties ?? {};
    assert.equal(props.maximumPacketSize, 1_048_576);
    assert.equal(props.topicAliasMaximum, 64);
    assert.equal(props.receiveMaximum, 64);
  });
});

describe('client identifier', () => {
  test('[MQTT-3.1.3-6] [MQTT-3.2.2-16] v5: an empty client id gets a unique Assigned Client Identifier', T, async () => {
    const a = await h.rawConnected(5, { clientId: '' });
    const b = await h.rawConnected(5, { clientId: '' });
    const idA = a.connack!.properties?.assignedClientIdentifier;
    const idB = b.connack!.properties?.assignedClientIdentifier;
    assert.ok(idA && idA.length > 0, 'CONNACK has no Assigned Client Identifier');
    assert.ok(idB && idB.length > 0, 'CONNACK has no Assigned Client Identifier');
    assert.notEqual(idA, idB, 'assigned identifiers must be unique');
    // [MQTT-3.1.3-7] the connection is processed as if the client had sent that id: it works.
    assert.deepEqual(await a.subscribe(['cid/a']), [1]);
  });

  test('v5: a client that sent a client id gets no Assigned Client Identifier', T, async () => {
    const a = await h.rawConnected(5, { clientId: uid() });
    assert.equal(a.connack!.properties?.assignedClientIdentifier, undefined);
  });

  test('[MQTT-3.1.3-6] (3.1.1) v4: an empty client id with Clean Session 1 is accepted', T, async () => {
    const a = await h.rawConnected(4, { clientId: '', cleanStart: true });
    assert.equal(a.connack!.sessionPresent, false);
    assert.deepEqual(await a.subscribe(['cid/b']), [1]);
  });

  test('[MQTT-3.1.3-8] (3.1.1) v4: an empty client id with Clean Session 0 is refused with return code 0x02 and closed', T, async () => {
    const a = await h.raw(4, { clientId: '', cleanStart: false });
    assert.ok(a.connack, 'no CONNACK');
    assert.equal(a.connack.reasonCode, 2, `return code ${hx(a.connack.reasonCode)}, expected 0x02 identifier rejected`);
    assert.equal(a.connack.sessionPresent, false);
    await a.client.waitClosed();
  });
});

describe('Clean Start and Session Present', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-3.2.2-3] v${v}: Session Present is 0 for a new session, 1 when it is resumed`, T, async () => {
      const clientId = uid();
      const first = await h.client({ clientId, ...persistentSession(v, true) });
      assert.equal(first.connack!.sessionPresent, false, '[MQTT-3.1.2-6] no session existed');
      await first.end();
      const second = await h.client({ clientId, ...persistentSession(v, true) });
      assert.equal(second.connack!.sessionPresent, true, '[MQTT-3.1.2-5] the session must be resumed');
    });

    test(`[MQTT-3.1.2-4] [MQTT-3.2.2-2] v${v}: Clean Start 1 discards the stored session (Session Present 0)`, T, async () => {
      const clientId = uid();
      const first = await h.client({ clientId, ...persistentSession(v, true) });
      await first.end();
      const clean = await h.client({ clientId, ...persistentSession(v, false), clean: true });
      assert.equal(clean.connack!.sessionPresent, false);
    });
  }
});

describe('keepalive', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-3.1.2-22] v${v}: a client silent for 1.5 x keepalive (1 s) is disconnected`, T, async () => {
      const r = await h.rawConnected(v, { keepAlive: 1 });
      const started = Date.now();
      await r.client.waitClosed(4000);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1300, `closed after ${elapsed} ms, before 1.5 x keepalive`);
      assert.ok(elapsed <= 2600, `closed after ${elapsed} ms, long after 1.5 x keepalive`);
      if (v === 5) {
        const d = r.pending.find((p) => p.type === 14);
        assert.ok(d && d.type === 14, 'v5: no DISCONNECT before the close');
        assert.equal(d.reasonCode, 0x8d, `DISCONNECT ${hx(d.reasonCode)}, expected 0x8d keep alive timeout`);
      }
    });

    test(`[MQTT-3.12.4-1] v${v}: a client that sends PINGREQ within the keepalive stays connected`, T, async () => {
      const r = await h.rawConnected(v, { keepAlive: 1 });
      // 2 s of activity: beyond 1.5 x keepalive, so a broker that ignored PINGREQ would have closed.
      for (let i = 0; i < 4; i++) {
        await sleep(500);
        r.send({ type: 12 });
        const pong = await r.next(13, 1000);
        assert.equal(pong?.type, 13, 'no PINGRESP');
      }
      assert.equal(r.closed, false, 'disconnected although it pinged');
    });
  }

  test('a client the broker itself stops reading (its input held 3 s) is not timed out meanwhile; keepalive applies again once it reads', T, async () => {
    const clientId = uid('held');
    const r = await h.rawConnected(4, { keepAlive: 1, clientId });
    let conn: Connection | undefined;
    for (const c of h.tb.broker.connections.values()) if (c.clientId === clientId) conn = c;
    assert.ok(conn, 'no broker-side connection');
    // Held as fair scheduling, backpressure or a rate limit would: the broker reads nothing for 3 s.
    conn.throttle(3000);
    const started = Date.now();
    await sleep(2500);
    assert.equal(r.closed, false, 'timed out while the broker was not reading it (1.5 x keepalive is 1.5 s)');
    await r.client.waitClosed(4000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 3000, `closed after ${elapsed} ms, while its input was still held`);
    assert.ok(elapsed <= 5600, `closed after ${elapsed} ms: keepalive no longer enforced after the hold`);
  });

  test('[MQTT-3.2.2-21] v5: Server Keep Alive is announced when the tenant maximum is below the request, and enforced', T, async () => {
    const r = await h.rawConnected(5, { keepAlive: 60, username: 'ka/u' });
    assert.equal(r.connack!.properties?.serverKeepAlive, 1);
    const started = Date.now();
    await r.client.waitClosed(4000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 1300 && elapsed <= 2600, `closed after ${elapsed} ms; expected about 1.5 s (Server Keep Alive 1)`);
  });

  test('[MQTT-3.2.2-21] v5: a keepalive of 0 is raised to the tenant minimum and announced', T, async () => {
    const r = await h.rawConnected(5, { keepAlive: 0, username: 'kamin/u' });
    assert.equal(r.connack!.properties?.serverKeepAlive, 2);
  });

  test('[MQTT-3.2.2-22] v5: no Server Keep Alive when the requested keepalive is within bounds', T, async () => {
    const r = await h.rawConnected(5, { keepAlive: 30 });
    assert.equal(r.connack!.properties?.serverKeepAlive, undefined);
  });
});

describe('session takeover', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-3.1.4-3] v${v}: a second connection with the same client id closes the first${v === 5 ? ' with DISCONNECT 0x8E' : ''}`, T, async () => {
      const clientId = uid();
      const first = await h.client({ clientId, protocolVersion: v });
      const second = await h.client({ clientId, protocolVersion: v });
      await first.waitClosed();
      if (v === 5) {
        assert.ok(first.disconnect, 'the first client got no DISCONNECT');
        assert.equal(first.disconnect.reasonCode, 0x8e, `DISCONNECT ${hx(first.disconnect.reasonCode)}, expected 0x8e session taken over`);
      }
      // The second connection works.
      const topic = `takeover/${uid()}`;
      await second.subscribe(topic, { qos: 1 });
      await second.publish(topic, 'after takeover', { qos: 1 });
      await second.waitPayload('after takeover');
      assert.equal(second.closed, false);
    });

    test(`[MQTT-3.1.2-5] v${v}: a takeover with Clean Start 0 resumes the session of the first connection`, T, async () => {
      const clientId = uid();
      const topic = `takeover/${uid()}`;
      const first = await h.client({ clientId, ...persistentSession(v, true) });
      await first.subscribe(topic, { qos: 1 });
      const second = await h.client({ clientId, ...persistentSession(v, true) });
      assert.equal(second.connack!.sessionPresent, true);
      await first.waitClosed();
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(topic, 'kept', { qos: 1 });
      await second.waitPayload('kept', topic);
    });
  }
});

describe('tenant isolation', () => {
  test('the same client id in two tenants: neither takes the other over, and messages do not cross', T, async () => {
    const clientId = uid();
    const a = await h.client({ clientId, username: 'tenantA/u' });
    const b = await h.client({ clientId, username: 'tenantB/u' });
    await a.subscribe('#', { qos: 1 });
    await b.subscribe('iso/t', { qos: 1 });
    await b.publish('iso/t', 'from B', { qos: 1 });
    await b.waitPayload('from B');
    await sleep(150);
    assert.equal(a.closed, false, 'tenant B took over the client of tenant A');
    assert.equal(b.closed, false);
    assert.equal(a.disconnect, undefined);
    assert.deepEqual(a.payloads, [], 'tenant A received a message of tenant B');
  });

  test('a client of the default tenant is not taken over by the same client id in another tenant', T, async () => {
    const clientId = uid();
    const d = await h.client({ clientId, protocolVersion: 4 });
    const t = await h.client({ clientId, protocolVersion: 4, username: 'tenantC/u' });
    await sleep(150);
    assert.equal(d.closed, false);
    assert.equal(t.closed, false);
  });
});
