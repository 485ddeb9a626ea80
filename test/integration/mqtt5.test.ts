/**
 * MQTT 5 features end to end: shared subscriptions, topic aliases both ways, subscription
 * identifiers, message expiry, Receive Maximum towards the client, Maximum Packet Size both ways,
 * request/response and the other forwarded properties, reason strings and the shutdown DISCONNECT.
 *
 * Statement ids in test names are MQTT 5.0's (they name the rule for both versions where 3.1.1 has
 * it too); "(3.1.1)" marks an id of the 3.1.1 specification.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt';
import { startBroker } from '../helpers/broker';
import type { PublishPacket } from '../../src/codec/packets';
import { Harness, T, asArray, eventually, hx, sleep, uid, withTimeout } from './util';

const h = new Harness();
before(() => h.start({ tenants: { small: { maxPacketSize: 1024 } } }));
afterEach(() => h.closeClients());
after(() => h.stop());

function range(n: number, prefix = 'm'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

describe('shared subscriptions', () => {
  test('[MQTT-4.8.2-3] v5: each message of a shared subscription goes to exactly one member, and every member gets some', T, async () => {
    const topic = `sh/${uid()}`;
    const a = await h.client();
    const b = await h.client();
    assert.deepEqual(await a.subscribe(`$share/g/${topic}`, { qos: 1 }), [1]);
    assert.deepEqual(await b.subscribe(`$share/g/${topic}`, { qos: 1 }), [1]);
    const pub = await h.client();
    for (const m of range(20)) await pub.publish(topic, m, { qos: 1 });
    await eventually(() => a.messages.length + b.messages.length >= 20, () => `a ${a.payloads.length} + b ${b.payloads.length} < 20`);
    await sleep(100);
    const all = [...a.payloads, ...b.payloads].sort();
    assert.deepEqual(all, range(20).sort(), 'every message exactly once across the group');
    assert.ok(a.messages.length > 0 && b.messages.length > 0, `a got ${a.messages.length}, b got ${b.messages.length}`);
    assert.ok([...a.messages, ...b.messages].every((m) => m.topic === topic && m.packet.qos === 1));
  });

  test('v5: two share groups on one filter each get every message, as does a plain subscriber', T, async () => {
    const topic = `sh/${uid()}`;
    const a = await h.client();
    const b = await h.client();
    const c = await h.client();
    const plain = await h.client();
    await a.subscribe(`$share/g1/${topic}`, { qos: 1 });
    await b.subscribe(`$share/g1/${topic}`, { qos: 1 });
    await c.subscribe(`$share/g2/${topic}`, { qos: 1 });
    await plain.subscribe(topic, { qos: 1 });
    const pub = await h.client();
    for (const m of range(10)) await pub.publish(topic, m, { qos: 1 });
    await c.waitMessages(10);
    await plain.waitMessages(10);
    await eventually(() => a.messages.length + b.messages.length >= 10, () => 'group g1 is missing messages');
    await sleep(100);
    assert.deepEqual([...a.payloads, ...b.payloads].sort(), range(10).sort());
    assert.deepEqual(c.payloads, range(10));
    assert.deepEqual(plain.payloads, range(10));
  });

  test('v5: unacknowledged QoS 1 messages of a member that disconnects go to another member of the group', T, async () => {
    const topic = `sh/${uid()}`;
    const silent = await h.rawConnected(5);
    assert.deepEqual(await silent.subscribe([`$share/g/${topic}`], 1), [1]);
    const b = await h.client();
    await b.subscribe(`$share/g/${topic}`, { qos: 1 });
    const pub = await h.client();
    for (const m of range(6)) await pub.publish(topic, m, { qos: 1 });
    await eventually(() => silent.pending.filter((p) => p.type === 3).length + b.messages.length >= 6, () => 'not all 6 delivered');
    const unacked = (silent.pending.filter((p) => p.type === 3) as PublishPacket[]).map((p) => p.payload.toString());
    assert.ok(unacked.length > 0, 'the silent member got nothing; the test proves nothing');
    silent.close();
    await b.waitMessages(6);
    assert.deepEqual([...b.payloads].sort(), range(6).sort(), 'messages in flight to the leaving member were lost');
  });

  test('[MQTT-4.8.2-4] v5: a QoS 2 message in flight to a persistent member that disconnects is completed with that member when it reconnects', T, async () => {
    const topic = `sh/${uid()}`;
    const clientId = uid();
    const session = { clientId, properties: { sessionExpiryInterval: 30 } };
    const chosen = await h.rawConnected(5, session);
    await chosen.subscribe([`$share/q2/${topic}`], 2);
    const other = await h.client();
    await other.subscribe(`$share/q2/${topic}`, { qos: 2 });
    const pub = await h.client();
    for (const m of range(4)) await pub.publish(topic, m, { qos: 2 });
    await eventually(() => chosen.pending.filter((p) => p.type === 3).length + other.messages.length >= 4, () => 'not all 4 delivered');
    const inFlight = (chosen.pending.filter((p) => p.type === 3) as PublishPacket[]).map((p) => p.payload.toString());
    assert.ok(inFlight.length > 0, 'the chosen member got nothing; the test proves nothing');
    chosen.close(); // no PUBREC: delivery incomplete
    await sleep(300);
    const elsewhere = other.payloads.filter((p) => inFlight.includes(p));
    assert.deepEqual(elsewhere, [], 'QoS 2 messages in flight to the member that left were given to another member');
    const back = await h.rawConnected(5, { ...session, cleanStart: false });
    assert.equal(back.connack!.sessionPresent, true);
    const again = await back.publishes(inFlight.length);
    assert.deepEqual(again.map((p) => p.payload.toString()), inFlight);
    assert.ok(again.every((p) => p.dup), 'resent with DUP 1');
  });

  test('[MQTT-4.4.0-1] [MQTT-3.3.1-1] v5: a QoS 1 message in flight to the only member of a group is resent to it with its packet id and DUP 1 when it reconnects', T, async () => {
    const topic = `sh/${uid()}`;
    const session = { clientId: uid(), properties: { sessionExpiryInterval: 30 } };
    const sole = await h.rawConnected(5, session);
    await sole.subscribe([`$share/solo/${topic}`], 1);
    const pub = await h.client();
    await pub.publish(topic, 'hello', { qos: 1 });
    const [first] = await sole.publishes(1);
    sole.close(); // no PUBACK
    await sleep(200);
    const back = await h.rawConnected(5, { ...session, cleanStart: false });
    const [again] = await back.publishes(1);
    assert.equal(again!.payload.toString(), 'hello');
    assert.equal(again!.packetId, first!.packetId, 'resent with its packet id');
    assert.equal(again!.dup, true, 'resent with DUP 1');
    await sleep(200);
    assert.equal(back.pending.filter((p) => p.type === 3).length, 0, 'delivered a second time');
  });

  test('[MQTT-3.3.2-5] v5: a message that expired in the queue of a member that leaves is not given to another member', T, async () => {
    const topic = `sh/${uid()}`;
    const first = await h.rawConnected(5, { properties: { receiveMaximum: 1 } });
    await first.subscribe([`$share/exp/${topic}`], 1);
    const pub = await h.client();
    await pub.publish(topic, 'in flight', { qos: 1 });
    await first.publishes(1); // not acknowledged: the window of 1 is full
    await pub.publish(topic, 'expires', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await sleep(2200);
    const second = await h.client();
    await second.subscribe(`$share/exp/${topic}`, { qos: 1 });
    first.close();
    await second.waitMessages(1);
    await sleep(300);
    assert.deepEqual(second.payloads, ['in flight'], 'the expired message was delivered');
  });
});

describe('topic aliases', () => {
  test('[MQTT-3.3.2-12] v5: the broker resolves a topic alias set by the client', T, async () => {
    const topic = `ta/${uid()}`;
    const sub = await h.client();
    await sub.subscribe(topic, { qos: 1 });
    const pub = await h.client({ autoUseTopicAlias: true });
    await pub.publish(topic, 'sets alias', { qos: 1, properties: { topicAlias: 1 } });
    await pub.publish(topic, 'uses alias', { qos: 1 });
    const sent = pub.sent.filter((p) => p.cmd === 'publish') as IPublishPacket[];
    assert.equal(sent[1]?.topic, '', 'MQTT.js did not send the second PUBLISH with an empty topic');
    assert.equal(sent[1]?.properties?.topicAlias, 1);
    await sub.waitMessages(2);
    assert.deepEqual(sub.messages.map((m) => [m.topic, m.payload.toString()]), [[topic, 'sets alias'], [topic, 'uses alias']]);
  });

  test('v5: a topic alias above the broker Topic Alias Maximum (64) gets DISCONNECT 0x94', T, async () => {
    const r = await h.rawConnected(5);
    assert.equal(r.connack!.properties?.topicAliasMaximum, 64);
    r.publish(`ta/${uid()}`, 'x', 0, { properties: { topicAlias: 65 } });
    await r.expectDisconnect(0x94);
  });

  test('[MQTT-3.3.2-7] v5: topic aliases do not carry over to a new connection (unknown alias: DISCONNECT 0x82)', T, async () => {
    const clientId = uid();
    const first = await h.rawConnected(5, { clientId });
    first.publish(`ta/${uid()}`, 'x', 0, { properties: { topicAlias: 3 } });
    first.close();
    const second = await h.rawConnected(5, { clientId });
    second.publish('', 'x', 0, { properties: { topicAlias: 3 } });
    await second.expectDisconnect(0x82);
  });

  test('[MQTT-3.3.2-11] v5: the broker sends topic aliases up to the client Topic Alias Maximum; topics stay right', T, async () => {
    const base = `tb/${uid()}`;
    const sub = await h.client({ properties: { topicAliasMaximum: 2 } });
    await sub.subscribe(`${base}/#`, { qos: 1 });
    const pub = await h.client();
    const order: string[] = [];
    for (const t of ['a', 'a', 'b', 'b', 'c', 'c', 'a']) {
      order.push(`${base}/${t}`);
      await pub.publish(`${base}/${t}`, t, { qos: 1 });
    }
    await sub.waitMessages(7);
    assert.deepEqual(sub.messages.map((m) => m.topic), order, 'a message arrived with the wrong topic');
    const wire = sub.received.filter((p) => p.cmd === 'publish') as IPublishPacket[];
    for (const p of wire) {
      const alias = p.properties?.topicAlias;
      if (alias !== undefined) assert.ok(alias >= 1 && alias <= 2, `topic alias ${alias} above the client maximum 2`);
      else assert.notEqual(p.topic, '', 'an empty topic without an alias');
    }
    assert.ok(wire.some((p) => p.topic === '' && p.properties?.topicAlias), 'the broker never used a topic alias');
    assert.equal(sub.errors.length, 0, `client errors: ${sub.errors.map((e) => e.message).join('; ')}`);
  });

  test('[MQTT-3.1.2-27] v5: no topic alias is sent to a client that announced no Topic Alias Maximum', T, async () => {
    const topic = `tb/${uid()}`;
    const sub = await h.client();
    await sub.subscribe(topic, { qos: 0 });
    const pub = await h.client();
    for (let i = 0; i < 3; i++) await pub.publish(topic, `n${i}`, { qos: 0 });
    await sub.waitMessages(3);
    const wire = sub.received.filter((p) => p.cmd === 'publish') as IPublishPacket[];
    assert.ok(wire.every((p) => p.properties?.topicAlias === undefined && p.topic === topic));
  });
});

describe('subscription identifiers', () => {
  test('[MQTT-3.3.4-3] v5: a delivery carries the identifier of its subscription, none when the subscription has none', T, async () => {
    const base = `si/${uid()}`;
    const sub = await h.client();
    await sub.subscribe(`${base}/a`, { qos: 1, properties: { subscriptionIdentifier: 42 } });
    await sub.subscribe(`${base}/b`, { qos: 1 });
    const pub = await h.client();
    await pub.publish(`${base}/a`, 'a', { qos: 1 });
    await pub.publish(`${base}/b`, 'b', { qos: 1 });
    await sub.waitMessages(2);
    assert.deepEqual(asArray(sub.on(`${base}/a`)[0]!.packet.properties?.subscriptionIdentifier), [42]);
    assert.equal(sub.on(`${base}/b`)[0]!.packet.properties?.subscriptionIdentifier, undefined);
  });

  test('[MQTT-3.8.4-3] v5: subscribing again replaces the identifier; retained messages on subscribe carry it', T, async () => {
    const topic = `si/${uid()}`;
    const pub = await h.client();
    await pub.publish(topic, 'retained', { qos: 1, retain: true });
    const sub = await h.client();
    await sub.subscribe(topic, { qos: 1, properties: { subscriptionIdentifier: 5 } });
    await sub.waitMessages(1);
    assert.deepEqual(asArray(sub.messages[0]!.packet.properties?.subscriptionIdentifier), [5]);
    await sub.subscribe(topic, { qos: 1, rh: 2, properties: { subscriptionIdentifier: 6 } });
    await pub.publish(topic, 'live', { qos: 1 });
    const m = await sub.waitPayload('live');
    assert.deepEqual(asArray(m.packet.properties?.subscriptionIdentifier), [6]);
    await pub.publish(topic, '', { qos: 1, retain: true });
  });
});

describe('message expiry', () => {
  test('[MQTT-3.3.2-6] v5: the Message Expiry Interval is forwarded, reduced by the time the message waited', T, async () => {
    const topic = `me/${uid()}`;
    const sub = await h.client();
    await sub.subscribe(topic, { qos: 1 });
    const pub = await h.client();
    await pub.publish(topic, 'expires', { qos: 1, properties: { messageExpiryInterval: 30 } });
    await pub.publish(topic, 'never', { qos: 1 });
    await sub.waitMessages(2);
    const left = sub.messages[0]!.packet.properties?.messageExpiryInterval;
    assert.ok(left !== undefined && left >= 29 && left <= 30, `forwarded expiry ${left}`);
    assert.equal(sub.messages[1]!.packet.properties?.messageExpiryInterval, undefined);
  });
});

describe('Receive Maximum towards the client', () => {
  test('[MQTT-3.3.4-9] [MQTT-3.3.4-10] v5: at most Receive Maximum (2) unacknowledged QoS 1 PUBLISHes; PINGREQ still answered', T, async () => {
    const topic = `rm/${uid()}`;
    const r = await h.rawConnected(5, { properties: { receiveMaximum: 2 } });
    await r.subscribe([topic], 1);
    const pub = await h.client();
    for (const m of range(5)) await pub.publish(topic, m, { qos: 1 });
    const first = await r.publishes(2);
    await r.expectNoPublish(250, 'a third PUBLISH beyond Receive Maximum 2');
    r.send({ type: 12 });
    assert.equal((await r.next(13, 1000))?.type, 13, '[MQTT-3.3.4-10] PINGRESP must not wait for acknowledgements');
    r.puback(first[0]!.packetId!);
    const third = await r.nextPublish();
    await r.expectNoPublish(200, 'more than one PUBLISH for one PUBACK');
    r.puback(first[1]!.packetId!);
    r.puback(third.packetId!);
    const rest = await r.publishes(2);
    assert.deepEqual([...first, third, ...rest].map((p) => p.payload.toString()), range(5));
  });

  test('[MQTT-4.4.0-1] [MQTT-3.3.4-9] v5: a resumed session resends its unacknowledged messages (DUP, same ids) no more at a time than the new Receive Maximum', T, async () => {
    const topic = `rm/${uid()}`;
    const clientId = uid();
    const r = await h.rawConnected(5, { clientId, properties: { sessionExpiryInterval: 30, receiveMaximum: 10 } });
    await r.subscribe([topic], 1);
    const pub = await h.client();
    for (const m of range(5)) await pub.publish(topic, m, { qos: 1 });
    const first = await r.publishes(5);
    r.close(); // nothing acknowledged
    await sleep(100);
    const back = await h.rawConnected(5, { clientId, cleanStart: false, properties: { sessionExpiryInterval: 30, receiveMaximum: 2 } });
    const again = await back.publishes(2);
    await back.expectNoPublish(250, 'a third PUBLISH beyond the new Receive Maximum 2');
    assert.deepEqual(again.map((p) => [p.packetId, p.dup]), first.slice(0, 2).map((p) => [p.packetId, true]));
    back.puback(again[0]!.packetId!);
    back.puback(again[1]!.packetId!);
    const more = await back.publishes(2);
    await back.expectNoPublish(250, 'more than two unacknowledged');
    back.puback(more[0]!.packetId!);
    const last = await back.nextPublish();
    const resent = [...again, ...more, last];
    assert.deepEqual(resent.map((p) => p.payload.toString()), range(5), 'every message, in order');
    assert.deepEqual(resent.map((p) => p.packetId), first.map((p) => p.packetId), 'with their packet ids');
    assert.ok(resent.every((p) => p.dup), 'with DUP 1');
  });

  test('[MQTT-4.9.0-2] v5: for QoS 2 the send quota comes back on PUBCOMP, not on PUBREC', T, async () => {
    const topic = `rm/${uid()}`;
    const r = await h.rawConnected(5, { properties: { receiveMaximum: 1 } });
    await r.subscribe([topic], 2);
    const pub = await h.client();
    for (const m of range(2)) await pub.publish(topic, m, { qos: 2 });
    const p0 = await r.nextPublish();
    r.send({ type: 5, packetId: p0.packetId! });
    const rel = await r.next(6);
    assert.equal(rel?.type === 6 && rel.packetId, p0.packetId);
    await r.expectNoPublish(250, 'a PUBLISH before PUBCOMP restored the quota');
    r.send({ type: 7, packetId: p0.packetId! });
    const p1 = await r.nextPublish();
    assert.equal(p1.payload.toString(), 'm1');
  });
});

describe('Maximum Packet Size', () => {
  test('[MQTT-3.1.2-24] [MQTT-3.1.2-25] v5: a message above a subscriber Maximum Packet Size is dropped for that subscriber only', T, async () => {
    const topic = `mps/${uid()}`;
    const small = await h.client({ properties: { maximumPacketSize: 200 } });
    await small.subscribe(topic, { qos: 1 });
    const big = await h.client();
    await big.subscribe(topic, { qos: 1 });
    const pub = await h.client();
    await pub.publish(topic, 'x'.repeat(500), { qos: 1 });
    await pub.publish(topic, 'fits', { qos: 1 });
    await big.waitMessages(2);
    await small.waitPayload('fits');
    await sleep(50);
    assert.deepEqual(small.payloads, ['fits']);
    assert.equal(small.closed, false);
    assert.equal(small.errors.length, 0, `client errors: ${small.errors.map((e) => e.message).join('; ')}`);
    assert.equal(big.messages[0]!.payload.length, 500);
  });

  test('v5: a PUBLISH above the broker Maximum Packet Size (tenant 1024) gets DISCONNECT 0x95', T, async () => {
    const r = await h.rawConnected(5, { username: 'small/u' });
    assert.equal(r.connack!.properties?.maximumPacketSize, 1024);
    r.publish(`mps/${uid()}`, 'y'.repeat(2000), 1);
    const d = await r.expectDisconnect(0x95);
    assert.ok(d.properties?.reasonString, 'the DISCONNECT has no Reason String');
  });

  test('(3.1.1) v4: a PUBLISH above the broker Maximum Packet Size closes the connection', T, async () => {
    const r = await h.rawConnected(4, { username: 'small/u' });
    r.publish(`mps/${uid()}`, 'y'.repeat(2000), 1);
    await r.client.waitClosed();
    assert.equal(r.pending.filter((p) => p.type === 4).length, 0, 'the oversized PUBLISH was acknowledged');
  });
});

describe('request/response and forwarded properties', () => {
  test('[MQTT-3.3.2-15] [MQTT-3.3.2-16] v5: request/response with Response Topic and Correlation Data', T, async () => {
    const base = `rr/${uid()}`;
    const responder = await h.client();
    await responder.subscribe(`${base}/request`, { qos: 1 });
    responder.mqtt.on('message', (_t, payload, packet) => {
      const props = packet.properties ?? {};
      if (!props.responseTopic) return;
      responder.mqtt.publish(props.responseTopic, `re: ${payload.toString()}`, { qos: 1, properties: { correlationData: props.correlationData } });
    });
    const requester = await h.client();
    await requester.subscribe(`${base}/response`, { qos: 1 });
    await requester.publish(`${base}/request`, 'ping', {
      qos: 1,
      properties: { responseTopic: `${base}/response`, correlationData: Buffer.from('corr-1') },
    });
    const answer = await requester.waitPayload('re: ping');
    assert.equal(answer.topic, `${base}/response`);
    assert.equal(answer.packet.properties?.correlationData?.toString(), 'corr-1');
    const req = responder.messages[0]!.packet.properties ?? {};
    assert.equal(req.responseTopic, `${base}/response`);
  });

  test('[MQTT-3.3.2-4] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] v5: user properties (order and repeats kept), content type and payload format pass unaltered', T, async () => {
    const topic = `props/${uid()}`;
    const sub = await h.rawConnected(5);
    await sub.subscribe([topic], 1);
    const old = await h.rawConnected(4);
    await old.subscribe([topic], 1);
    const pub = await h.rawConnected(5);
    const properties = {
      userProperties: [
        ['b', '1'],
        ['a', '2'],
        ['b', '3'],
      ] as Array<[string, string]>,
      contentType: 'text/plain; charset=utf-8',
      payloadFormatIndicator: 1,
      responseTopic: 'props/reply',
      correlationData: Buffer.from([0, 255, 7]),
    };
    pub.publish(topic, 'héllo', 1, { properties });
    const got = await sub.nextPublish();
    const p = got.properties ?? {};
    assert.deepEqual(p.userProperties, properties.userProperties);
    assert.equal(p.contentType, properties.contentType);
    assert.equal(p.payloadFormatIndicator, 1);
    assert.equal(p.responseTopic, properties.responseTopic);
    assert.deepEqual([...(p.correlationData ?? [])], [0, 255, 7]);
    assert.equal(got.payload.toString(), 'héllo');
    // A 3.1.1 subscriber gets the same message without properties.
    const legacy = await old.nextPublish();
    assert.equal(legacy.payload.toString(), 'héllo');
  });
});

describe('server DISCONNECT', () => {
  test('v5: a server DISCONNECT carries a Reason String', T, async () => {
    const clientId = uid();
    const first = await h.client({ clientId });
    await h.client({ clientId });
    await first.waitClosed();
    assert.equal(first.disconnect?.reasonCode, 0x8e);
    assert.ok(first.disconnect?.properties?.reasonString, 'no Reason String on the DISCONNECT');
  });

  test('v5: broker.stop() sends DISCONNECT 0x8B Server shutting down', T, async () => {
    const own = await startBroker();
    const other = new Harness();
    try {
      other.use(own);
      const c = await other.client();
      await withTimeout(own.stop(), 5000, 'broker.stop() with a connected client');
      await c.waitClosed();
      assert.equal(c.disconnect?.reasonCode, 0x8b, `DISCONNECT ${hx(c.disconnect?.reasonCode)}`);
    } finally {
      await other.closeClients();
      await withTimeout(own.stop(), 5000, 'broker.stop()').catch(() => undefined);
    }
  });
});
