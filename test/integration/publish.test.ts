/**
 * PUBLISH end to end: the QoS 0/1/2 flows in both directions, effective QoS, exactly-once delivery,
 * ordering, redelivery with DUP on session resumption, offline queues, and MQTT 5 PUBACK reason codes
 * (MQTT 5 sections 3.3-3.7, 4.3, 4.4, 4.6; 3.1.1 the same sections).
 *
 * Statement ids in test names are MQTT 5.0's (they name the rule for both versions where 3.1.1 has
 * it too); "(3.1.1)" marks an id of the 3.1.1 specification.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt';
import type { IPubackPacket, IPubrecPacket } from 'mqtt-packet';
import type { QoS } from '../../src/codec/packets';
import { Harness, T, VERSIONS, persistentRaw, persistentSession, sleep, uid } from './util';

const h = new Harness();
before(() => h.start());
afterEach(() => h.closeClients());
after(() => h.stop());

const QOS: QoS[] = [0, 1, 2];

describe('effective QoS', () => {
  for (const v of VERSIONS) {
    for (const pq of QOS) {
      for (const sq of QOS) {
        const eff = Math.min(pq, sq);
        test(`[MQTT-3.8.4-8] v${v}: a QoS ${pq} PUBLISH to a QoS ${sq} subscription is delivered at QoS ${eff}`, T, async () => {
          const topic = `qos/${uid()}`;
          const sub = await h.client({ protocolVersion: v });
          assert.deepEqual(await sub.subscribe(topic, { qos: sq }), [sq], '[MQTT-3.8.4-7] SUBACK grants the requested QoS');
          const pub = await h.client({ protocolVersion: v });
          await pub.publish(topic, `q${pq}`, { qos: pq });
          const m = await sub.waitPayload(`q${pq}`, topic);
          assert.equal(m.packet.qos, eff);
          assert.equal(m.packet.dup, false, '[MQTT-3.3.1-2] [MQTT-4.3.2-2] a first delivery has DUP 0');
          if (eff > 0) assert.ok(m.packet.messageId && m.packet.messageId > 0, '[MQTT-2.2.1-4] a non-zero packet id');
        });
      }
    }
  }
});

describe('acknowledgement flows', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-4.3.2-4] v${v}: a QoS 1 PUBLISH is answered with PUBACK carrying its packet id`, T, async () => {
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(`ack/${uid()}`, 'x', { qos: 1 });
      const sent = pub.sent.find((p) => p.cmd === 'publish') as IPublishPacket;
      const ack = await pub.waitPacket<IPubackPacket>('puback');
      assert.equal(ack.messageId, sent.messageId, '[MQTT-2.2.1-5]');
    });

    test(`[MQTT-4.3.3-8] [MQTT-4.3.3-11] v${v}: a QoS 2 PUBLISH is answered with PUBREC, its PUBREL with PUBCOMP`, T, async () => {
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(`ack/${uid()}`, 'x', { qos: 2 });
      const sent = pub.sent.find((p) => p.cmd === 'publish') as IPublishPacket;
      const cmds = pub.received.filter((p) => p.cmd !== 'connack').map((p) => `${p.cmd}:${(p as { messageId?: number }).messageId}`);
      assert.deepEqual(cmds, [`pubrec:${sent.messageId}`, `pubcomp:${sent.messageId}`]);
      assert.ok(pub.sent.some((p) => p.cmd === 'pubrel'), 'MQTT.js sent PUBREL');
    });

    test(`[MQTT-4.3.3-4] v${v}: towards a QoS 2 subscriber the broker answers PUBREC with PUBREL`, T, async () => {
      const topic = `ack/${uid()}`;
      const sub = await h.client({ protocolVersion: v });
      await sub.subscribe(topic, { qos: 2 });
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(topic, 'x2', { qos: 2 });
      const m = await sub.waitPayload('x2');
      const rel = await sub.waitPacket('pubrel', (p) => (p as { messageId?: number }).messageId === m.packet.messageId);
      assert.ok(rel);
      await sub.waitUntil(() => sub.sent.some((p) => p.cmd === 'pubcomp'), () => 'the subscriber sent no PUBCOMP');
    });

    test(`[MQTT-4.3.3-10] [MQTT-4.3.3-12] v${v}: a resent QoS 2 PUBLISH before PUBREL is not delivered twice; after PUBCOMP the id is new`, T, async () => {
      const topic = `once/${uid()}`;
      const sub = await h.client({ protocolVersion: v });
      await sub.subscribe(topic, { qos: 2 });
      const raw = await h.rawConnected(v);
      const first = { type: 3 as const, topic, payload: Buffer.from('once'), qos: 2 as QoS, retain: false, dup: false, packetId: 7 };
      raw.send(first);
      const rec1 = await raw.next(5);
      assert.equal(rec1?.type === 5 && rec1.packetId, 7, 'no PUBREC');
      raw.send({ ...first, dup: true });
      const rec2 = await raw.next(5);
      assert.equal(rec2?.type === 5 && rec2.packetId, 7, '[MQTT-4.3.3-10] a resent PUBLISH is acknowledged with PUBREC again');
      raw.send({ type: 6, packetId: 7 });
      const comp = await raw.next(7);
      assert.equal(comp?.type === 7 && comp.packetId, 7, 'no PUBCOMP');
      // The same packet id after PUBCOMP is a new message.
      raw.send({ ...first, payload: Buffer.from('again') });
      assert.equal((await raw.next(5))?.type, 5);
      raw.send({ type: 6, packetId: 7 });
      await raw.next(7);
      await sub.waitPayload('again');
      await sleep(50);
      assert.deepEqual(sub.payloads, ['once', 'again'], 'exactly one delivery per message');
    });
  }
});

describe('ordering', () => {
  for (const v of VERSIONS) {
    for (const q of [1, 2] as const) {
      test(`[MQTT-4.6.0-5] [MQTT-4.6.0-6] v${v}: 200 QoS ${q} messages on one topic arrive in the order they were published`, T, async () => {
        const topic = `order/${uid()}`;
        const sub = await h.client({ protocolVersion: v });
        await sub.subscribe(topic, { qos: q });
        const pub = await h.client({ protocolVersion: v });
        // Within the broker's Receive Maximum (64): windows of 20 unacknowledged PUBLISHes.
        for (let i = 0; i < 200; i += 20) {
          const window: Promise<void>[] = [];
          for (let j = i; j < i + 20; j++) window.push(pub.publish(topic, String(j), { qos: q }));
          await Promise.all(window);
        }
        await sub.waitMessages(200, 5000);
        const expected = Array.from({ length: 200 }, (_, i) => String(i));
        assert.deepEqual(sub.payloads, expected);
        assert.ok(sub.messages.every((m) => m.packet.qos === q));
      });
    }
  }
});

describe('redelivery on session resumption', () => {
  for (const v of VERSIONS) {
    test(`[MQTT-4.4.0-1] [MQTT-3.3.1-1] v${v}: unacknowledged QoS 1 messages are resent with DUP 1 and their packet ids, in order`, T, async () => {
      const clientId = uid();
      const topic = `dup/${uid()}`;
      const s1 = await h.rawConnected(v, persistentRaw(v, clientId, false));
      assert.deepEqual(await s1.subscribe([topic], 1), [1]);
      const pub = await h.client({ protocolVersion: v });
      for (const p of ['a', 'b', 'c']) await pub.publish(topic, p, { qos: 1 });
      const firstRound = await s1.publishes(3);
      assert.deepEqual(firstRound.map((p) => [p.payload.toString(), p.dup]), [['a', false], ['b', false], ['c', false]]);
      s1.close(); // never acknowledged

      const s2 = await h.rawConnected(v, persistentRaw(v, clientId, true));
      assert.equal(s2.connack!.sessionPresent, true);
      const again = await s2.publishes(3);
      assert.deepEqual(
        again.map((p) => [p.payload.toString(), p.dup, p.packetId, p.qos]),
        firstRound.map((p) => [p.payload.toString(), true, p.packetId, 1]),
        'resent with DUP 1, the original packet ids and order [MQTT-4.6.0-1]',
      );
      for (const p of again) s2.puback(p.packetId!);
      await sleep(50);
      s2.close();

      // Acknowledged now: a third connection gets nothing again.
      const s3 = await h.rawConnected(v, persistentRaw(v, clientId, true));
      assert.equal(s3.connack!.sessionPresent, true);
      await s3.expectNoPublish(250, '[MQTT-4.4.0-1] acknowledged messages must not be resent');
    });

    test(`[MQTT-4.4.0-1] [MQTT-4.3.3-6] v${v}: a QoS 2 message whose PUBREC was sent gets PUBREL again on resumption, not PUBLISH`, T, async () => {
      const clientId = uid();
      const topic = `dup2/${uid()}`;
      const s1 = await h.rawConnected(v, persistentRaw(v, clientId, false));
      await s1.subscribe([topic], 2);
      const pub = await h.client({ protocolVersion: v });
      await pub.publish(topic, 'two', { qos: 2 });
      const p = await s1.nextPublish();
      s1.send({ type: 5, packetId: p.packetId! });
      const rel = await s1.next(6);
      assert.equal(rel?.type === 6 && rel.packetId, p.packetId);
      s1.close(); // PUBCOMP never sent

      const s2 = await h.rawConnected(v, persistentRaw(v, clientId, true));
      const rel2 = await s2.next(6);
      assert.equal(rel2?.type === 6 && rel2.packetId, p.packetId, 'PUBREL resent with the original packet id');
      assert.equal(s2.pending.filter((x) => x.type === 3).length, 0, '[MQTT-4.3.3-6] the PUBLISH must not be resent after PUBREL');
      s2.send({ type: 7, packetId: p.packetId! });
    });

    test(`[MQTT-4.5.0-1] v${v}: QoS 1 messages published while a persistent session is offline are delivered on reconnect, in order`, T, async () => {
      const clientId = uid();
      const topic = `offline/${uid()}`;
      const s1 = await h.client({ clientId, ...persistentSession(v, false) });
      await s1.subscribe(topic, { qos: 1 });
      await s1.end();
      const pub = await h.client({ protocolVersion: v });
      for (let i = 0; i < 5; i++) await pub.publish(topic, `q${i}`, { qos: 1 });
      const s2 = await h.client({ clientId, ...persistentSession(v, true) });
      assert.equal(s2.connack!.sessionPresent, true);
      await s2.waitMessages(5);
      assert.deepEqual(s2.payloads, ['q0', 'q1', 'q2', 'q3', 'q4']);
      assert.ok(s2.messages.every((m) => m.packet.qos === 1 && m.topic === topic));
    });
  }
});

describe('MQTT 5 PUBACK and PUBREC reason codes', () => {
  test('[MQTT-3.4.2-1] v5: a QoS 1 PUBLISH nobody subscribed to gets PUBACK 0x10 No matching subscribers', T, async () => {
    const pub = await h.client({ protocolVersion: 5 });
    await pub.publish(`nobody/${uid()}`, 'x', { qos: 1 });
    const ack = await pub.waitPacket<IPubackPacket>('puback');
    assert.equal(ack.reasonCode, 0x10);
  });

  test('[MQTT-3.5.2-1] v5: a QoS 2 PUBLISH nobody subscribed to gets PUBREC 0x10, and the flow completes', T, async () => {
    const pub = await h.client({ protocolVersion: 5 });
    await pub.publish(`nobody/${uid()}`, 'x', { qos: 2 });
    const rec = await pub.waitPacket<IPubrecPacket>('pubrec');
    assert.equal(rec.reasonCode, 0x10);
    await pub.waitPacket('pubcomp');
  });

  test('[MQTT-3.4.2-1] v5: a QoS 1 PUBLISH with a subscriber gets PUBACK 0x00', T, async () => {
    const topic = `some/${uid()}`;
    const sub = await h.client({ protocolVersion: 5 });
    await sub.subscribe(topic, { qos: 0 });
    const pub = await h.client({ protocolVersion: 5 });
    await pub.publish(topic, 'x', { qos: 1 });
    const ack = await pub.waitPacket<IPubackPacket>('puback');
    assert.equal(ack.reasonCode ?? 0, 0);
  });
});
