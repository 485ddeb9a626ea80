/**
 * PUBLISH from a client, byte by byte (MQTT 5 sections 1.5.4, 2.2.1, 2.2.2, 3.3): packet
 * identifier, UTF-8 topic names, wildcards, properties and topic aliases. Every case is answered
 * with DISCONNECT and the reason code, closes that connection only, and leaves a bystander served.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker';
import type { ConnackPacket } from '../../src/codec/packets';
import { closeProbes, connected, expectDisconnect, frame, guarded, packet, Probe, str } from './util';

let tb: TestBroker;
before(async () => {
  tb = await startBroker();
});
after(async () => {
  closeProbes();
  await tb.stop();
});

/** A raw MQTT 5 connection whose CONNECT announced Maximum Packet Size 40 (recorded bytes start empty). */
async function connectedWithMaxPacketSize40(clientId: string): Promise<Probe> {
  const p = await Probe.open(tb.port, 5);
  p.write(
    packet(
      0x10, //                            CONNECT
      str('MQTT'), //                     protocol name
      [0x05, 0x02, 0x00, 0x3c], //        protocol level 5, clean start, keepalive 60
      [0x05, 0x27, 0x00, 0x00, 0x00, 0x28], // properties: Maximum Packet Size = 40
      str(clientId),
    ),
  );
  assert.equal(((await p.next(2)) as ConnackPacket | undefined)?.reasonCode, 0, 'CONNACK');
  p.takeBytes();
  return p;
}

describe('2.2.1 packet identifier', () => {
  test('[MQTT-2.2.1-3] PUBLISH QoS 1 with packet id 0 is refused (DISCONNECT 0x81 or 0x82)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x32, 0x08, //                  PUBLISH QoS 1, remaining length 8
          0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
          0x00, 0x00, //                  packet id 0
          0x00, //                        property length 0
        ]),
      );
      // A packet id of 0 breaks a MUST; the specification names no reason code for it.
      await expectDisconnect(p, [0x81, 0x82]);
    }));
});

describe('1.5.4 UTF-8 topic names', () => {
  const BAD_UTF8: [string, number[]][] = [
    ['byte 0xFF', [0x61, 0xff, 0x62]],
    ['overlong "/" (C0 AF)', [0x61, 0xc0, 0xaf, 0x62]],
    ['surrogate U+D800 (ED A0 80)', [0x61, 0xed, 0xa0, 0x80]],
    ['truncated sequence (E2 82)', [0x61, 0xe2, 0x82]],
  ];
  for (const [name, topic] of BAD_UTF8) {
    test(`[MQTT-1.5.4-1] ill-formed UTF-8 in a topic (${name}) is malformed (DISCONNECT 0x81)`, () =>
      guarded(tb, async () => {
        const p = await connected(tb.port, 5);
        p.write(
          frame([
            0x30, 2 + topic.length + 1, // PUBLISH QoS 0, remaining length
            0x00, topic.length, //        topic length
            ...topic, //                  topic bytes
            0x00, //                      property length 0
          ]),
        );
        await expectDisconnect(p, 0x81);
      }));
  }

  test('[MQTT-1.5.4-2] U+0000 in a topic is malformed (DISCONNECT 0x81)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x30, 0x06, //                  PUBLISH QoS 0, remaining length 6
          0x00, 0x03, 0x61, 0x00, 0x62, // topic "a\u0000b"
          0x00, //                        property length 0
        ]),
      );
      await expectDisconnect(p, 0x81);
    }));
});

describe('3.3.2.1 topic name', () => {
  for (const [name, wildcard] of [
    ['+', 0x2b],
    ['#', 0x23],
  ] as const) {
    test(`[MQTT-3.3.2-2] wildcard "${name}" in a PUBLISH topic is refused (DISCONNECT 0x90)`, () =>
      guarded(tb, async () => {
        const p = await connected(tb.port, 5);
        p.write(
          frame([
            0x30, 0x06, //                     PUBLISH QoS 0, remaining length 6
            0x00, 0x03, 0x61, 0x2f, wildcard, // topic "a/+" or "a/#"
            0x00, //                           property length 0
          ]),
        );
        await expectDisconnect(p, 0x90);
      }));
  }

  test('(3.3.2.1) an empty topic without a Topic Alias is a protocol error (DISCONNECT 0x82)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x30, 0x04, // PUBLISH QoS 0, remaining length 4
          0x00, 0x00, // topic "" (empty)
          0x00, //       property length 0
          0x78, //       payload "x"
        ]),
      );
      await expectDisconnect(p, 0x82);
    }));
});

describe('2.2.2 PUBLISH properties', () => {
  test('(2.2.2.2) an unknown property identifier is malformed (DISCONNECT 0x81)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x30, 0x08, //                  PUBLISH QoS 0, remaining length 8
          0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
          0x02, //                        property length 2
          0x04, 0x00, //                  property 0x04: not defined by MQTT 5
        ]),
      );
      await expectDisconnect(p, 0x81);
    }));

  test('(2.2.2.2) a property PUBLISH may not carry (Session Expiry Interval) is malformed (DISCONNECT 0x81)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x30, 0x0b, //                  PUBLISH QoS 0, remaining length 11
          0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
          0x05, //                        property length 5
          0x11, 0x00, 0x00, 0x00, 0x0a, // Session Expiry Interval = 10: CONNECT, CONNACK, DISCONNECT only
        ]),
      );
      await expectDisconnect(p, 0x81);
    }));

  test('(3.3.2.3.4) a duplicate property (Topic Alias twice) is a protocol error (DISCONNECT 0x82)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x30, 0x0c, //                  PUBLISH QoS 0, remaining length 12
          0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
          0x06, //                        property length 6
          0x23, 0x00, 0x01, //            Topic Alias = 1
          0x23, 0x00, 0x01, //            Topic Alias = 1 again
        ]),
      );
      await expectDisconnect(p, 0x82);
    }));
  test('[MQTT-3.3.4-6] a Subscription Identifier in a client\'s PUBLISH is a protocol error (DISCONNECT 0x82), and nothing is delivered', () =>
    guarded(tb, async () => {
      const sub = await connected(tb.port, 5);
      sub.write(packet(0x82, [0x00, 0x01, 0x00], str('sid/x'), [0x00])); // SUBSCRIBE id 1, no properties, "sid/x" QoS 0
      assert.equal((await sub.next(9))?.type, 9, 'SUBACK');
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x30, 0x0b, //                  PUBLISH QoS 0, remaining length 11
          0x00, 0x05, 0x73, 0x69, 0x64, 0x2f, 0x78, // topic "sid/x"
          0x02, //                        property length 2
          0x0b, 0x01, //                  Subscription Identifier = 1: server to client only
          0x6d, //                        payload "m"
        ]),
      );
      await expectDisconnect(p, 0x82);
      assert.equal(await sub.next(3, 300).catch(() => undefined), undefined, 'the PUBLISH was delivered');
    }));
  test('[MQTT-3.1.2-25] [MQTT-3.14.2-3] a DISCONNECT whose Reason String would pass the client\'s Maximum Packet Size goes without it', () =>
    guarded(tb, async () => {
      const p = await connectedWithMaxPacketSize40('mps');
      p.write(
        frame([
          0x30, 0x0b, //                  PUBLISH QoS 0, remaining length 11
          0x00, 0x05, 0x73, 0x69, 0x64, 0x2f, 0x78, // topic "sid/x"
          0x02, //                        property length 2
          0x0b, 0x01, //                  Subscription Identifier = 1: a protocol error
          0x6d, //                        payload "m"
        ]),
      );
      const d = await p.next(14);
      assert.equal(d?.type === 14 ? d.reasonCode : undefined, 0x82, 'DISCONNECT 0x82');
      assert.equal(d?.type === 14 ? d.properties?.reasonString : 'none', undefined, 'no Reason String');
      assert.ok(p.takeBytes().length <= 40, 'the DISCONNECT fits in 40 bytes');
      await p.waitClosed();
    }));
  test('[MQTT-3.1.2-24] a SUBACK too large for the client\'s Maximum Packet Size even without a Reason String is not sent: the connection ends', () =>
    guarded(tb, async () => {
      const p = await connectedWithMaxPacketSize40('mpt');
      // SUBSCRIBE id 1, no properties, 40 filters "f/0" .. "f/39" at QoS 0: its SUBACK would be 45 bytes.
      const filters = Array.from({ length: 40 }, (_, i) => [...str(`f/${i}`), 0x00]).flat();
      p.write(packet(0x82, [0x00, 0x01, 0x00], filters));
      await p.waitClosed();
      assert.equal(p.pending.find((x) => x.type === 9), undefined, 'the SUBACK was sent');
      assert.equal(p.takeBytes().length, 0, 'nothing was sent');
    }));
  test('[MQTT-3.3.2-14] a Response Topic with a wildcard is a protocol error (DISCONNECT 0x82), and nothing is delivered', () =>
    guarded(tb, async () => {
      const sub = await connected(tb.port, 5);
      sub.write(packet(0x82, [0x00, 0x01, 0x00], str('rt/x'), [0x00])); // SUBSCRIBE id 1, no properties, "rt/x" QoS 0
      assert.equal((await sub.next(9))?.type, 9, 'SUBACK');
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x30, 0x12, //                  PUBLISH QoS 0, remaining length 18
          0x00, 0x04, 0x72, 0x74, 0x2f, 0x78, // topic "rt/x"
          0x0a, //                        property length 10
          0x08, 0x00, 0x07, 0x72, 0x65, 0x70, 0x6c, 0x79, 0x2f, 0x23, // Response Topic "reply/#"
          0x6d, //                        payload "m"
        ]),
      );
      await expectDisconnect(p, 0x82);
      assert.equal(await sub.next(3, 300).catch(() => undefined), undefined, 'the PUBLISH was delivered');
    }));
});

describe('3.3.2.3.4 topic aliases', () => {
  test('[MQTT-3.3.2-8] Topic Alias 0 is invalid (DISCONNECT 0x94)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x30, 0x09, //                  PUBLISH QoS 0, remaining length 9
          0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
          0x03, //                        property length 3
          0x23, 0x00, 0x00, //            Topic Alias = 0
        ]),
      );
      // Section 3.3.4: "A Topic Alias value of 0 or greater than the Maximum Topic Alias is a
      // Protocol Error, the receiver uses DISCONNECT with Reason Code of 0x94 (Topic Alias invalid)".
      await expectDisconnect(p, 0x94);
    }));

  test('[MQTT-3.3.2-9] Topic Alias above the broker\'s Topic Alias Maximum is invalid (DISCONNECT 0x94)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      const max = p.connack?.properties?.topicAliasMaximum ?? 0;
      assert.ok(max > 0 && max < 0xffff, `CONNACK Topic Alias Maximum ${max}`);
      p.write(
        frame([
          0x30, 0x09, //                  PUBLISH QoS 0, remaining length 9
          0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
          0x03, //                        property length 3
          0x23, (max + 1) >> 8, (max + 1) & 0xff, // Topic Alias = maximum + 1
        ]),
      );
      await expectDisconnect(p, 0x94);
    }));

  test('(3.3.4) an empty topic with an alias that has no mapping is a protocol error (DISCONNECT 0x82)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x30, 0x06, //       PUBLISH QoS 0, remaining length 6
          0x00, 0x00, //       topic "" (empty)
          0x03, //             property length 3
          0x23, 0x00, 0x05, // Topic Alias = 5, never set on this connection
        ]),
      );
      await expectDisconnect(p, 0x82);
    }));

  test('[MQTT-3.3.2-12] a Topic Alias set by one PUBLISH resolves an empty topic in the next', () =>
    guarded(tb, async (bystander) => {
      const p = await connected(tb.port, 5);
      const topic = `${bystander.prefix}/alias`;
      p.write(
        Buffer.concat([
          packet(
            0x30, //                 PUBLISH QoS 0
            str(topic), //           topic
            [0x03, 0x23, 0x00, 0x01], // property length 3, Topic Alias = 1
            Buffer.from('one'), //   payload
          ),
          packet(
            0x30, //                 PUBLISH QoS 0
            [0x00, 0x00], //         topic "": use the alias
            [0x03, 0x23, 0x00, 0x01], // property length 3, Topic Alias = 1
            Buffer.from('two'), //   payload
          ),
        ]),
      );
      await bystander.waitFor(topic, 'one');
      await bystander.waitFor(topic, 'two');
      assert.equal(p.closed, false, 'the connection was closed');
      p.close();
    }));
});
