/**
 * Retained messages end to end: store, replace, delete, delivery on subscribe (RETAIN 1), wildcard
 * lookup, QoS on delivery, message expiry, and a tenant without retain (MQTT 5 section 3.3.1.3;
 * 3.1.1 section 3.3.1.3).
 *
 * Statement ids in test names are MQTT 5.0's (they name the rule for both versions where 3.1.1 has
 * it too); "(3.1.1)" marks an id of the 3.1.1 specification.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Message } from '../../src/routing/message';
import { Harness, T, VERSIONS, hx, sleep, uid } from './util';

const h = new Harness();
before(() => h.start({ tenants: { noret: { retainEnabled: false } } }));
afterEach(() => h.closeClients());
after(() => h.stop());

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test(`[MQTT-3.3.1-5] v${v}: a retained message is stored and sent to a later subscriber with RETAIN 1`, T, async () => {
      const topic = `r/${uid()}`;
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(topic, 'one', { qos: 1, retain: true });
      await pub.end();
      const sub = await h.client({ protocolVersion: v });
      await sub.subscribe(topic, { qos: 1 });
      const m = await sub.waitPayload('one', topic);
      assert.equal(m.packet.retain, true, 'a message sent because of a new subscription has RETAIN 1');
      assert.equal(m.packet.qos, 1);
    });

    test(`[MQTT-3.3.1-5] v${v}: a new retained message replaces the stored one`, T, async () => {
      const topic = `r/${uid()}`;
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(topic, 'old', { qos: 1, retain: true });
      await pub.publish(topic, 'new', { qos: 1, retain: true });
      const sub = await h.client({ protocolVersion: v });
      await sub.subscribe(topic, { qos: 1 });
      await sub.waitPayload('new');
      await sleep(100);
      assert.deepEqual(sub.payloads, ['new']);
    });

    test(`[MQTT-3.3.1-6] [MQTT-3.3.1-7] v${v}: an empty retained message reaches current subscribers and deletes the stored one`, T, async () => {
      const topic = `r/${uid()}`;
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(topic, 'doomed', { qos: 1, retain: true });
      const current = await h.client({ protocolVersion: v });
      await current.subscribe(topic, { qos: 1 });
      await current.waitPayload('doomed');
      await pub.publish(topic, '', { qos: 1, retain: true });
      await current.waitMessages(2);
      assert.equal(current.messages[1]!.payload.length, 0, 'the empty message is processed normally');
      const later = await h.client({ protocolVersion: v });
      await later.subscribe([topic, `${topic}/sentinel`], { qos: 1 });
      await pub.publish(`${topic}/sentinel`, 'sentinel', { qos: 1 });
      await later.waitPayload('sentinel');
      assert.deepEqual(later.payloads, ['sentinel'], 'the deleted retained message was sent');
    });

    test(`[MQTT-3.3.1-8] v${v}: a PUBLISH with RETAIN 0 neither stores nor replaces the retained message`, T, async () => {
      const topic = `r/${uid()}`;
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(topic, 'kept', { qos: 1, retain: true });
      await pub.publish(topic, 'transient', { qos: 1, retain: false });
      const sub = await h.client({ protocolVersion: v });
      await sub.subscribe(topic, { qos: 1 });
      await sub.waitPayload('kept');
      await sleep(100);
      assert.deepEqual(sub.payloads, ['kept']);
    });

    test(`[MQTT-3.3.1-9] v${v}: wildcard subscriptions receive every matching retained message`, T, async () => {
      const base = `rw/${uid()}`;
      const pub = await h.client({ protocolVersion: v });
      for (const t of ['a/1', 'a/2', 'b/1', 'b/1/deep']) await pub.publish(`${base}/${t}`, t, { qos: 1, retain: true });
      const plus = await h.client({ protocolVersion: v });
      await plus.subscribe(`${base}/+/1`, { qos: 1 });
      await plus.waitMessages(2);
      const hash = await h.client({ protocolVersion: v });
      await hash.subscribe(`${base}/#`, { qos: 1 });
      await hash.waitMessages(4);
      await sleep(100);
      assert.deepEqual(plus.payloads.sort(), ['a/1', 'b/1']);
      assert.deepEqual(hash.payloads.sort(), ['a/1', 'a/2', 'b/1', 'b/1/deep']);
      assert.ok([...plus.messages, ...hash.messages].every((m) => m.packet.retain));
    });

    test(`[MQTT-3.8.4-8] v${v}: a retained message is delivered at the lower of its QoS and the granted QoS`, T, async () => {
      const base = `rq/${uid()}`;
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(`${base}/two`, 'two', { qos: 2, retain: true });
      await pub.publish(`${base}/zero`, 'zero', { qos: 0, retain: true });
      await sleep(50);
      const low = await h.client({ protocolVersion: v });
      await low.subscribe(`${base}/two`, { qos: 1 });
      const high = await h.client({ protocolVersion: v });
      await high.subscribe(`${base}/zero`, { qos: 2 });
      assert.equal((await low.waitPayload('two')).packet.qos, 1);
      assert.equal((await high.waitPayload('zero')).packet.qos, 0);
    });
  });
}

describe('retained $ topics', () => {
  test('[MQTT-4.7.2-1] retained messages on $ topics are not sent for "#" or "+/..." filters, but are for "$SYS/..."', T, async () => {
    const id = uid();
    await h.tb.broker.publish('default', new Message(`$SYS/${id}/r`, Buffer.from('sys'), 1, true, undefined, 0, ''));
    const pub = await h.client();
    await pub.publish(`plain/${id}/r`, 'plain', { qos: 1, retain: true });
    const hash = await h.client();
    await hash.subscribe('#', { qos: 1 });
    await hash.waitPayload('plain');
    const plus = await h.client();
    await plus.subscribe(`+/${id}/r`, { qos: 1 });
    await plus.waitPayload('plain');
    const sys = await h.client();
    await sys.subscribe(`$SYS/${id}/#`, { qos: 1 });
    await sys.waitPayload('sys');
    await sleep(100);
    assert.deepEqual(hash.messages.filter((m) => m.topic.startsWith('$')).map((m) => m.topic), [], '"#" matched a retained $ topic');
    assert.deepEqual(plus.payloads, ['plain'], '"+" matched a retained $ topic');
    await h.tb.broker.publish('default', new Message(`$SYS/${id}/r`, Buffer.alloc(0), 1, true, undefined, 0, ''));
    await pub.publish(`plain/${id}/r`, '', { qos: 1, retain: true });
  });
});

describe('v5 message expiry of retained messages', () => {
  test('[MQTT-3.3.2-5] [MQTT-3.3.2-6] v5: a retained message is sent with its remaining expiry, and not at all once it expired', T, async () => {
    const base = `rx/${uid()}`;
    const pub = await h.client({ protocolVersion: 5 });
    await pub.publish(`${base}/short`, 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await pub.publish(`${base}/keep`, 'keep', { qos: 1, retain: true });
    const early = await h.client({ protocolVersion: 5 });
    await early.subscribe(`${base}/short`, { qos: 1 });
    const m = await early.waitPayload('short');
    const left = m.packet.properties?.messageExpiryInterval;
    assert.ok(left !== undefined && left >= 0 && left <= 1, `remaining expiry ${left}, expected at most 1`);
    await sleep(1100);
    const late = await h.client({ protocolVersion: 5 });
    await late.subscribe(`${base}/#`, { qos: 1 });
    await late.waitPayload('keep');
    await sleep(100);
    assert.deepEqual(late.payloads, ['keep'], 'an expired retained message was delivered');
  });
});

describe('tenant without retain', () => {
  test('v5: CONNACK says Retain Available 0 (3.2.2.3.5)', T, async () => {
    const c = await h.client({ protocolVersion: 5, username: 'noret/u' });
    assert.equal(c.connack!.properties?.retainAvailable, false);
    const other = await h.client({ protocolVersion: 5 });
    assert.equal(other.connack!.properties?.retainAvailable, undefined, 'the default tenant has retain');
  });

  test('v5: a PUBLISH with RETAIN 1 gets DISCONNECT 0x9A Retain not supported', T, async () => {
    const c = await h.client({ protocolVersion: 5, username: 'noret/u' });
    c.mqtt.publish(`nr/${uid()}`, 'x', { qos: 1, retain: true });
    await c.waitClosed();
    assert.ok(c.disconnect, 'no DISCONNECT');
    assert.equal(c.disconnect.reasonCode, 0x9a, `DISCONNECT ${hx(c.disconnect.reasonCode)}`);
  });

  test('[MQTT-3.2.2-13] v5: a will with Will Retain 1 is refused with CONNACK 0x9A', T, async () => {
    const r = await h.raw(5, {
      username: 'noret/u',
      will: { topic: 'nr/will', payload: Buffer.from('w'), qos: 0, retain: true },
    });
    assert.equal(r.connack?.reasonCode, 0x9a, `CONNACK ${hx(r.connack?.reasonCode)}`);
    await r.client.waitClosed();
  });

  test('v5: a PUBLISH with RETAIN 0 is delivered normally in a tenant without retain', T, async () => {
    const topic = `nr/${uid()}`;
    const sub = await h.client({ protocolVersion: 5, username: 'noret/u' });
    await sub.subscribe(topic, { qos: 1 });
    const pub = await h.client({ protocolVersion: 5, username: 'noret/u' });
    await pub.publish(topic, 'plain', { qos: 1 });
    await sub.waitPayload('plain');
  });
});
