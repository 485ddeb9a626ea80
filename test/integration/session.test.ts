/**
 * Sessions end to end: Session Expiry Interval, Clean Start / Clean Session, the bounded offline queue
 * with its drop policies, and message expiry of queued messages (MQTT 5 sections 3.1.2.4, 3.1.2.11.2,
 * 3.3.2.3.3, 4.1; 3.1.1 section 3.1.2.4).
 *
 * Statement ids in test names are MQTT 5.0's (they name the rule for both versions where 3.1.1 has
 * it too); "(3.1.1)" marks an id of the 3.1.1 specification.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPubackPacket } from 'mqtt-packet';
import { Harness, T, VERSIONS, persistentSession, sleep, uid } from './util';

const h = new Harness();
before(() =>
  h.start({
    tenants: {
      told: { inboxSize: 3, inboxDropPolicy: 'oldest' },
      tnew: { inboxSize: 3, inboxDropPolicy: 'newest' },
    },
  }),
);
afterEach(() => h.closeClients());
after(() => h.stop());

describe('Session Expiry Interval (v5)', () => {
  test('[MQTT-3.1.2-23] [MQTT-4.1.0-2] v5: a session keeps its subscriptions while offline until it expires, then it is gone', T, async () => {
    const clientId = uid();
    const topic = `se/${uid()}`;
    const s1 = await h.client({ clientId, protocolVersion: 5, properties: { sessionExpiryInterval: 1 } });
    await s1.subscribe(topic, { qos: 1 });
    await s1.end();

    const pub = await h.client({ protocolVersion: 5 });
    await pub.publish(topic, 'while offline', { qos: 1 });
    const ack1 = pub.received.filter((p) => p.cmd === 'puback').at(-1) as IPubackPacket;
    assert.equal(ack1.reasonCode ?? 0, 0, 'the offline session still matches');

    const s2 = await h.client({ clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 1 } });
    assert.equal(s2.connack!.sessionPresent, true);
    await s2.waitPayload('while offline');
    await pub.publish(topic, 'live', { qos: 1 });
    await s2.waitPayload('live');
    await s2.end();

    await sleep(1300);
    await pub.publish(topic, 'after expiry', { qos: 1 });
    const ack2 = pub.received.filter((p) => p.cmd === 'puback').at(-1) as IPubackPacket;
    assert.equal(ack2.reasonCode, 0x10, 'the expired session still has its subscription');

    const s3 = await h.client({ clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 1 } });
    assert.equal(s3.connack!.sessionPresent, false, 'the session outlived its expiry');
    await s3.subscribe(`${topic}/sentinel`, { qos: 1 });
    await pub.publish(topic, 'old subscription', { qos: 1 });
    await pub.publish(`${topic}/sentinel`, 'sentinel', { qos: 1 });
    await s3.waitPayload('sentinel');
    assert.deepEqual(s3.payloads, ['sentinel']);
  });

  test('[MQTT-3.1.2-23] v5: without a Session Expiry Interval the session ends with the connection', T, async () => {
    const clientId = uid();
    const s1 = await h.client({ clientId, protocolVersion: 5 });
    await s1.subscribe(`se/${uid()}`, { qos: 1 });
    await s1.end();
    const s2 = await h.client({ clientId, protocolVersion: 5, clean: false });
    assert.equal(s2.connack!.sessionPresent, false);
  });

  test('v5: a Session Expiry Interval of 0 on DISCONNECT ends the session', T, async () => {
    const clientId = uid();
    const s1 = await h.client({ clientId, protocolVersion: 5, properties: { sessionExpiryInterval: 30 } });
    await s1.subscribe(`se/${uid()}`, { qos: 1 });
    await s1.end(false, { properties: { sessionExpiryInterval: 0 } });
    const s2 = await h.client({ clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 30 } });
    assert.equal(s2.connack!.sessionPresent, false);
  });
});

describe('Clean Start / Clean Session', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-3.1.2-4]${v === 4 ? ' (3.1.1 [MQTT-3.1.2-6])' : ''} v${v}: a clean start discards the stored session and its subscriptions`, T, async () => {
      const clientId = uid();
      const topic = `cs/${uid()}`;
      const s1 = await h.client({ clientId, ...persistentSession(v, false) });
      await s1.subscribe(topic, { qos: 1 });
      await s1.end();

      // Clean: no session, and the old subscription no longer delivers to this client id.
      const s2 = await h.client({ clientId, protocolVersion: v, clean: true });
      assert.equal(s2.connack!.sessionPresent, false);
      await s2.subscribe(`${topic}/sentinel`, { qos: 1 });
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(topic, 'old subscription', { qos: 1 });
      await pub.publish(`${topic}/sentinel`, 'sentinel', { qos: 1 });
      await s2.waitPayload('sentinel');
      assert.deepEqual(s2.payloads, ['sentinel']);
      await s2.end();

      // The clean session lasted as long as its connection.
      const s3 = await h.client({ clientId, ...persistentSession(v, true) });
      assert.equal(s3.connack!.sessionPresent, false, 'a clean session outlived its connection');
    });
  }
});

describe('offline queue bounds', () => {
  for (const v of VERSIONS) {
    for (const [tenant, policy, expected] of [
      ['told', 'oldest', ['m3', 'm4', 'm5']],
      ['tnew', 'newest', ['m0', 'm1', 'm2']],
    ] as const) {
      test(`v${v}: a full offline queue (inboxSize 3) drops the ${policy} message`, T, async () => {
        const clientId = uid();
        const topic = `q/${uid()}`;
        const username = `${tenant}/u`;
        const s1 = await h.client({ clientId, username, ...persistentSession(v, false) });
        await s1.subscribe(topic, { qos: 1 });
        await s1.end();
        const pub = await h.client({ protocolVersion: v, username });
        for (let i = 0; i < 6; i++) await pub.publish(topic, `m${i}`, { qos: 1 });
        const s2 = await h.client({ clientId, username, ...persistentSession(v, true) });
        assert.equal(s2.connack!.sessionPresent, true);
        await s2.waitMessages(3);
        await sleep(200);
        assert.deepEqual(s2.payloads, [...expected]);
      });
    }
  }
});

describe('message expiry of queued messages (v5)', () => {
  test('[MQTT-3.3.2-5] [MQTT-3.3.2-6] v5: expired queued messages are dropped, others carry the remaining expiry', T, async () => {
    const clientId = uid();
    const topic = `mx/${uid()}`;
    const s1 = await h.client({ clientId, ...persistentSession(5, false) });
    await s1.subscribe(topic, { qos: 1 });
    await s1.end();
    const pub = await h.client({ protocolVersion: 5 });
    await pub.publish(topic, 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publish(topic, 'long', { qos: 1, properties: { messageExpiryInterval: 10 } });
    await pub.publish(topic, 'forever', { qos: 1 });
    await sleep(1200);
    const s2 = await h.client({ clientId, ...persistentSession(5, true) });
    await s2.waitMessages(2);
    await sleep(100);
    assert.deepEqual(s2.payloads, ['long', 'forever'], 'an expired message was delivered');
    const left = s2.messages[0]!.packet.properties?.messageExpiryInterval;
    assert.ok(left !== undefined && left >= 1 && left < 10, `remaining expiry ${left}, expected less than 10`);
    assert.equal(s2.messages[1]!.packet.properties?.messageExpiryInterval, undefined);
  });
});
