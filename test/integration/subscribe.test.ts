/**
 * SUBSCRIBE and UNSUBSCRIBE end to end: wildcard matching, `$` topics, invalid filters, overlapping
 * subscriptions, the MQTT 5 subscription options (No Local, Retain As Published, Retain Handling),
 * UNSUBACK reason codes and the tenant's Maximum QoS (MQTT 5 sections 3.8-3.11, 4.7; 3.1.1 the same).
 *
 * Statement ids in test names are MQTT 5.0's (they name the rule for both versions where 3.1.1 has
 * it too); "(3.1.1)" marks an id of the 3.1.1 specification.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Message } from '../../src/routing/message';
import { Harness, T, VERSIONS, asArray, hx, sleep, uid } from './util';

const h = new Harness();
before(() => h.start({ tenants: { q1: { maxQoS: 1 } } }));
afterEach(() => h.closeClients());
after(() => h.stop());

/** Publishes as the broker itself (the only way to reach a `$` topic). */
function brokerPublish(topic: string, payload: string): void {
  void h.tb.broker.publish('default', new Message(topic, Buffer.from(payload), 0, false, undefined, 0, ''));
}

describe('wildcards', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-4.7.1-3] v${v}: "+" matches exactly one level, an empty one included`, T, async () => {
      const base = `w/${uid()}`;
      const sub = await h.client({ protocolVersion: v });
      await sub.subscribe(`${base}/+/c`, { qos: 1 });
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(`${base}/x/c`, 'one level', { qos: 1 });
      await pub.publish(`${base}//c`, 'empty level', { qos: 1 });
      await pub.publish(`${base}/x/y/c`, 'two levels', { qos: 1 });
      await pub.publish(`${base}/c`, 'no level', { qos: 1 });
      await pub.publish(`${base}/end/c`, 'end', { qos: 1 });
      await sub.waitPayload('end');
      assert.deepEqual(sub.payloads, ['one level', 'empty level', 'end']);
    });

    test(`[MQTT-4.7.1-2] v${v}: "#" matches the parent level and every level below`, T, async () => {
      const base = `m/${uid()}`;
      const sub = await h.client({ protocolVersion: v });
      await sub.subscribe(`${base}/#`, { qos: 1 });
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(base, 'parent', { qos: 1 });
      await pub.publish(`${base}/a`, 'child', { qos: 1 });
      await pub.publish(`${base}/a/b/c`, 'grandchild', { qos: 1 });
      await pub.publish(`${base}x/a`, 'sibling', { qos: 1 });
      await pub.publish(`${base}/end`, 'end', { qos: 1 });
      await sub.waitPayload('end');
      assert.deepEqual(sub.payloads, ['parent', 'child', 'grandchild', 'end']);
    });
  }
});

describe('$ topics', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-4.7.2-1] v${v}: "#" and "+" at the first level do not match $ topics; an explicit $SYS filter does`, T, async () => {
      const id = uid();
      const wild = await h.client({ protocolVersion: v });
      await wild.subscribe(['#', '+/+/info'], { qos: 0 });
      const sys = await h.client({ protocolVersion: v });
      await sys.subscribe(`$SYS/${id}/#`, { qos: 0 });
      const sysPlus = await h.client({ protocolVersion: v });
      await sysPlus.subscribe('$SYS/+/info', { qos: 0 });
      brokerPublish(`$SYS/${id}/info`, 'sys info');
      brokerPublish(`plain/${id}/info`, 'plain info');
      await sys.waitPayload('sys info', `$SYS/${id}/info`);
      await sysPlus.waitPayload('sys info', `$SYS/${id}/info`);
      await wild.waitPayload('plain info');
      await sleep(50);
      assert.deepEqual(
        wild.messages.filter((m) => m.topic.startsWith('$')).map((m) => m.topic),
        [],
        'a first-level wildcard matched a $ topic',
      );
      assert.equal(wild.on(`plain/${id}/info`).length, 1, 'one delivery for two overlapping filters');
    });
  }

  test('v5: a client may not publish to a $ topic: PUBACK 0x87 Not authorized, nothing delivered', T, async () => {
    const id = uid();
    const sys = await h.client({ protocolVersion: 5 });
    await sys.subscribe([`$SYS/${id}/#`, `$x${id}/#`], { qos: 1 });
    const pub = await h.client({ protocolVersion: 5 });
    await assert.rejects(pub.publish(`$SYS/${id}/fake`, 'fake', { qos: 1 }), (e: Error & { code?: number }) => e.code === 0x87);
    await assert.rejects(pub.publish(`$x${id}/fake`, 'fake', { qos: 1 }), (e: Error & { code?: number }) => e.code === 0x87);
    brokerPublish(`$SYS/${id}/real`, 'real');
    await sys.waitPayload('real');
    assert.deepEqual(sys.payloads, ['real']);
    assert.equal(pub.closed, false, 'a refused PUBLISH does not close the connection');
  });

  test('[MQTT-3.3.5-2] (3.1.1) v4: a PUBLISH to a $ topic is acknowledged and dropped', T, async () => {
    const id = uid();
    const sys = await h.client({ protocolVersion: 4 });
    await sys.subscribe(`$SYS/${id}/#`, { qos: 1 });
    const pub = await h.client({ protocolVersion: 4 });
    await pub.publish(`$SYS/${id}/fake`, 'fake', { qos: 1 });
    brokerPublish(`$SYS/${id}/real`, 'real');
    await sys.waitPayload('real');
    assert.deepEqual(sys.payloads, ['real']);
  });
});

describe('invalid topic filters', () => {
  for (const v of VERSIONS) {
    const bad = v === 5 ? 0x8f : 0x80;
    test(`[MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-3.9.3-1] v${v}: misplaced wildcards get SUBACK ${hx(bad)}, valid filters alongside are granted`, T, async () => {
      const id = uid();
      const r = await h.rawConnected(v);
      const codes = await r.subscribe([`bad/#/${id}`, `bad${id}+`, `bad/${id}#`, `ok/${id}`, `bad/+${id}`], 1);
      assert.deepEqual(codes.map(hx), [bad, bad, bad, 1, bad].map(hx));
      assert.equal(r.closed, false);
      r.publish(`ok/${id}`, 'still works', 0);
      const p = await r.nextPublish();
      assert.equal(p.payload.toString(), 'still works');
    });
  }

  test('[MQTT-4.8.2-1] [MQTT-4.8.2-2] v5: malformed shared subscription filters get SUBACK 0x8F', T, async () => {
    const r = await h.rawConnected(5);
    const codes = await r.subscribe(['$share/g', '$share//t', '$share/g+/t', '$share/g#/t', '$share/g/t'], 1);
    assert.deepEqual(codes.map(hx), [0x8f, 0x8f, 0x8f, 0x8f, 1].map(hx));
  });
});

describe('overlapping subscriptions', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-3.3.4-2]${v === 5 ? ' [MQTT-3.3.4-3] [MQTT-3.3.4-4]' : ''} v${v}: one delivery at the highest granted QoS${v === 5 ? ' with every subscription identifier' : ''}`, T, async () => {
      const base = `ov/${uid()}`;
      const sub = await h.client({ protocolVersion: v });
      const withId = (id: number): { properties?: { subscriptionIdentifier: number } } => (v === 5 ? { properties: { subscriptionIdentifier: id } } : {});
      await sub.subscribe(`${base}/+`, { qos: 0, ...withId(1) });
      await sub.subscribe(`${base}/#`, { qos: 2, ...withId(2) });
      await sub.subscribe(`${base}/a`, { qos: 1 });
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(`${base}/a`, 'overlap', { qos: 2 });
      await pub.publish(`${base}/end`, 'end', { qos: 0 });
      await sub.waitPayload('end');
      await sleep(50);
      const got = sub.on(`${base}/a`);
      assert.equal(got.length, 1, `${got.length} deliveries of one message`);
      assert.equal(got[0]!.packet.qos, 2);
      if (v === 5) {
        const ids = asArray(got[0]!.packet.properties?.subscriptionIdentifier).sort();
        assert.deepEqual(ids, [1, 2]);
      }
    });

    test(`[MQTT-3.8.4-3] v${v}: subscribing to an existing filter replaces its QoS`, T, async () => {
      const topic = `rep/${uid()}`;
      const sub = await h.client({ protocolVersion: v });
      await sub.subscribe(topic, { qos: 2 });
      assert.deepEqual(await sub.subscribe(topic, { qos: 0 }), [0]);
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(topic, 'x', { qos: 2 });
      await sub.waitPayload('x');
      await sleep(50);
      assert.equal(sub.messages.length, 1, 'the old subscription is gone');
      assert.equal(sub.messages[0]!.packet.qos, 0);
    });
  }
});

describe('MQTT 5 subscription options', () => {
  test('[MQTT-3.8.3-3] v5: No Local: own messages are not delivered, other clients\' are', T, async () => {
    const topic = `nl/${uid()}`;
    const a = await h.client({ protocolVersion: 5 });
    await a.subscribe(topic, { qos: 1, nl: true });
    // Alone on the topic first, then with another subscriber (the broker routes both cases).
    await a.publish(topic, 'alone', { qos: 1 });
    const b = await h.client({ protocolVersion: 5 });
    await b.subscribe(topic, { qos: 1 });
    await a.publish(topic, 'from a', { qos: 1 });
    await b.publish(topic, 'from b', { qos: 1 });
    await a.waitPayload('from b');
    await b.waitPayload('from b');
    await sleep(50);
    assert.deepEqual(a.payloads, ['from b']);
    assert.deepEqual(b.payloads, ['from a', 'from b']);
  });

  test('[MQTT-3.3.1-12] [MQTT-3.3.1-13] v5: Retain As Published keeps the RETAIN flag of a live message, otherwise it is 0', T, async () => {
    const topic = `rap/${uid()}`;
    const plain = await h.client({ protocolVersion: 5 });
    await plain.subscribe(topic, { qos: 1, rap: false });
    const rap = await h.client({ protocolVersion: 5 });
    await rap.subscribe(topic, { qos: 1, rap: true });
    const pub = await h.client({ protocolVersion: 5 });
    await pub.publish(topic, 'retained', { qos: 1, retain: true });
    await pub.publish(topic, 'not retained', { qos: 1 });
    await plain.waitMessages(2);
    await rap.waitMessages(2);
    assert.deepEqual(plain.messages.map((m) => [m.payload.toString(), m.packet.retain]), [['retained', false], ['not retained', false]]);
    assert.deepEqual(rap.messages.map((m) => [m.payload.toString(), m.packet.retain]), [['retained', true], ['not retained', false]]);
    await pub.publish(topic, '', { qos: 1, retain: true });
  });

  test('[MQTT-3.3.1-9] (3.1.1) v4: a live retained message is forwarded with RETAIN 0', T, async () => {
    const topic = `rap4/${uid()}`;
    const sub = await h.client({ protocolVersion: 4 });
    await sub.subscribe(topic, { qos: 1 });
    const pub = await h.client({ protocolVersion: 4 });
    await pub.publish(topic, 'retained', { qos: 1, retain: true });
    const m = await sub.waitPayload('retained');
    assert.equal(m.packet.retain, false);
    await pub.publish(topic, '', { qos: 1, retain: true });
  });

  async function retainedTopic(): Promise<string> {
    const topic = `rh/${uid()}`;
    const pub = await h.client({ protocolVersion: 5 });
    await pub.publish(topic, 'kept', { qos: 1, retain: true });
    return topic;
  }

  test('[MQTT-3.3.1-9] [MQTT-3.8.4-4] v5: Retain Handling 0 sends retained messages on every SUBSCRIBE', T, async () => {
    const topic = await retainedTopic();
    const sub = await h.client({ protocolVersion: 5 });
    await sub.subscribe(topic, { qos: 1, rh: 0 });
    await sub.waitMessages(1);
    assert.equal(sub.messages[0]!.packet.retain, true);
    await sub.subscribe(topic, { qos: 1, rh: 0 });
    await sub.waitMessages(2);
    assert.deepEqual(sub.payloads, ['kept', 'kept']);
  });

  test('[MQTT-3.3.1-10] v5: Retain Handling 1 sends retained messages only when the subscription is new', T, async () => {
    const topic = await retainedTopic();
    const sub = await h.client({ protocolVersion: 5 });
    await sub.subscribe(topic, { qos: 1, rh: 1 });
    await sub.waitMessages(1);
    await sub.subscribe(topic, { qos: 1, rh: 1 });
    await sleep(200);
    assert.deepEqual(sub.payloads, ['kept'], 'a retained message was sent again for an existing subscription');
  });

  test('[MQTT-3.3.1-11] v5: Retain Handling 2 sends no retained message, live messages still arrive', T, async () => {
    const topic = await retainedTopic();
    const sub = await h.client({ protocolVersion: 5 });
    await sub.subscribe(topic, { qos: 1, rh: 2 });
    const pub = await h.client({ protocolVersion: 5 });
    await pub.publish(topic, 'live', { qos: 1 });
    await sub.waitPayload('live');
    await sleep(50);
    assert.deepEqual(sub.payloads, ['live']);
  });
});

describe('unsubscribe', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-3.10.4-1] [MQTT-3.10.4-2] v${v}: after UNSUBACK no new message of that filter is delivered`, T, async () => {
      const base = `un/${uid()}`;
      const sub = await h.client({ protocolVersion: v });
      await sub.subscribe([`${base}/a`, `${base}/b`], { qos: 1 });
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(`${base}/a`, 'a1', { qos: 1 });
      await sub.waitPayload('a1');
      await sub.mqtt.unsubscribeAsync(`${base}/a`);
      await pub.publish(`${base}/a`, 'a2', { qos: 1 });
      await pub.publish(`${base}/b`, 'b1', { qos: 1 });
      await sub.waitPayload('b1');
      await sleep(50);
      assert.deepEqual(sub.payloads, ['a1', 'b1']);
    });
  }

  test('[MQTT-3.11.3-1] [MQTT-3.10.4-6] v5: UNSUBACK has 0x00 for a removed subscription and 0x11 where none existed, in order', T, async () => {
    const id = uid();
    const r = await h.rawConnected(5);
    await r.subscribe([`u/${id}`], 1);
    const ack = await r.unsubscribe([`u/${id}`, `u/${id}/none`, `u/${id}`]);
    assert.deepEqual(ack.reasonCodes.map(hx), [0x00, 0x11, 0x11].map(hx));
  });

  test('[MQTT-3.10.4-5] v4: UNSUBACK with the packet id even when nothing was subscribed', T, async () => {
    const r = await h.rawConnected(4);
    r.send({ type: 10, packetId: 4242, filters: [`never/${uid()}`] });
    const ack = await r.next(11);
    assert.equal(ack?.type === 11 && ack.packetId, 4242);
  });
});

describe('tenant Maximum QoS', () => {
  test('[MQTT-3.2.2-9] [MQTT-3.2.2-10] v5: CONNACK Maximum QoS 1; a QoS 2 SUBSCRIBE is accepted and granted QoS 1', T, async () => {
    const sub = await h.client({ protocolVersion: 5, username: 'q1/u' });
    assert.equal(sub.connack!.properties?.maximumQoS, 1);
    const topic = `mq/${uid()}`;
    assert.deepEqual(await sub.subscribe(topic, { qos: 2 }), [1]);
    const pub = await h.client({ protocolVersion: 5, username: 'q1/u' });
    await pub.publish(topic, 'x', { qos: 1 });
    const m = await sub.waitPayload('x');
    assert.equal(m.packet.qos, 1);
  });

  test('v5: a QoS 2 PUBLISH above the tenant Maximum QoS gets DISCONNECT 0x9B', T, async () => {
    const r = await h.rawConnected(5, { username: 'q1/u' });
    r.publish(`mq/${uid()}`, 'too high', 2);
    await r.expectDisconnect(0x9b);
  });

  test('(3.1.1) v4: a QoS 2 SUBSCRIBE is granted the tenant Maximum QoS 1', T, async () => {
    const sub = await h.client({ protocolVersion: 4, username: 'q1/u' });
    assert.deepEqual(await sub.subscribe(`mq/${uid()}`, { qos: 2 }), [1]);
  });
});
