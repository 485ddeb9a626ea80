/**
 * The fixed header (MQTT 5 section 2.1): remaining length, reserved flag bits, PUBLISH QoS and DUP,
 * and the broker's Maximum Packet Size, which must be enforced from the fixed header alone.
 *
 * The tenant's maximum packet size is 512 bytes here.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker';
import {
  PINGREQ,
  Probe,
  closeProbes,
  concat,
  connected,
  expectClosedWithoutSession,
  expectConnackRefusal,
  expectDisconnect,
  expectSilentClose,
  frame,
  guarded,
} from './util';

const MAX_PACKET = 512;

let tb: TestBroker;
before(async () => {
  tb = await startBroker({ tenants: { default: { maxPacketSize: MAX_PACKET } } });
});
after(async () => {
  closeProbes();
  await tb.stop();
});

describe('2.1.4 remaining length', () => {
  test('(1.5.5) remaining length over 4 bytes is malformed (DISCONNECT 0x81)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write([
        0x30, //                         PUBLISH QoS 0
        0xff, 0xff, 0xff, 0xff, 0x01, // remaining length with a fifth byte
      ]);
      await expectDisconnect(p, 0x81);
    }));

  test('(1.5.5) remaining length over 4 bytes before CONNECT is closed', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port);
      p.write([
        0x10, //                         CONNECT
        0xff, 0xff, 0xff, 0xff, 0x01, // remaining length with a fifth byte
      ]);
      await expectClosedWithoutSession(p);
    }));
});

describe('2.1.3 reserved flags', () => {
  const CASES: [string, number[]][] = [
    [
      'PUBREL with flags 0000',
      [
        0x60, 0x02, // PUBREL with flags 0000 (must be 0010), remaining length 2
        0x00, 0x01, // packet id 1
      ],
    ],
    [
      'SUBSCRIBE with flags 0000',
      [
        0x80, 0x09, //                  SUBSCRIBE with flags 0000 (must be 0010), remaining length 9
        0x00, 0x01, //                  packet id 1
        0x00, //                        property length 0
        0x00, 0x03, 0x61, 0x2f, 0x62, // filter "a/b"
        0x00, //                        subscription options: QoS 0
      ],
    ],
    [
      'UNSUBSCRIBE with flags 0000',
      [
        0xa0, 0x08, //                  UNSUBSCRIBE with flags 0000 (must be 0010), remaining length 8
        0x00, 0x01, //                  packet id 1
        0x00, //                        property length 0
        0x00, 0x03, 0x61, 0x2f, 0x62, // filter "a/b"
      ],
    ],
    [
      'PINGREQ with flags 0001',
      [
        0xc1, 0x00, // PINGREQ with flags 0001 (must be 0000), remaining length 0
      ],
    ],
    [
      'PUBACK with flags 0010',
      [
        0x42, 0x02, // PUBACK with flags 0010 (must be 0000), remaining length 2
        0x00, 0x01, // packet id 1
      ],
    ],
    [
      'DISCONNECT with flags 1000',
      [
        0xe8, 0x00, // DISCONNECT with flags 1000 (must be 0000), remaining length 0
      ],
    ],
    [
      'packet type 0',
      [
        0x00, 0x00, // type 0 is reserved, remaining length 0
      ],
    ],
  ];
  for (const [name, bytes] of CASES) {
    test(`[MQTT-2.1.3-1] ${name} is malformed (DISCONNECT 0x81)`, () =>
      guarded(tb, async () => {
        const p = await connected(tb.port, 5);
        p.write(frame(bytes));
        await expectDisconnect(p, 0x81);
      }));
  }

  test('[MQTT-3.3.1-4] PUBLISH with QoS 3 is malformed (DISCONNECT 0x81)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x36, 0x08, //                  PUBLISH with QoS bits 11, remaining length 8
          0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
          0x00, 0x01, //                  packet id 1
          0x00, //                        property length 0
        ]),
      );
      await expectDisconnect(p, 0x81);
    }));

  test('[MQTT-3.3.1-2] PUBLISH QoS 0 with DUP set is refused (DISCONNECT 0x81 or 0x82)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x38, 0x07, //                  PUBLISH with DUP 1 and QoS 0, remaining length 7
          0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
          0x00, //                        property length 0
          0x78, //                        payload "x"
        ]),
      );
      // The specification forbids the combination without naming the reason code.
      await expectDisconnect(p, [0x81, 0x82]);
    }));
});

describe('3.2.2.3.6 the broker\'s Maximum Packet Size', () => {
  test('[MQTT-3.2.2-15] a packet over Maximum Packet Size is refused from its fixed header alone (DISCONNECT 0x95)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      assert.equal(p.connack?.properties?.maximumPacketSize, MAX_PACKET, 'CONNACK announces Maximum Packet Size');
      const t0 = Date.now();
      p.write([
        0x30, //             PUBLISH QoS 0
        0xff, 0xff, 0x03, // remaining length 65,535; the body is never sent
      ]);
      await expectDisconnect(p, 0x95);
      assert.ok(Date.now() - t0 < 1000, 'the broker must not wait for the body');
    }));

  test('[MQTT-3.2.2-15] a packet of exactly Maximum Packet Size is accepted, one byte more is refused (0x95)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      // 1 (type) + 2 (remaining length 509) + 5 (topic) + 1 (property length) + 503 (payload) = 512
      const exact = frame([
        0x30, //                        PUBLISH QoS 0
        0xfd, 0x03, //                  remaining length 509
        0x00, 0x03, 0x62, 0x69, 0x67, // topic "big"
        0x00, //                        property length 0
        ...Buffer.alloc(503, 0x61), //  payload: 503 x "a"
      ]);
      assert.equal(exact.length, MAX_PACKET);
      p.write(concat(exact, PINGREQ));
      assert.ok(await p.next(13), 'the 512-byte PUBLISH was accepted (PINGRESP after it)');
      const over = frame([
        0x30, //                        PUBLISH QoS 0
        0xfe, 0x03, //                  remaining length 510
        0x00, 0x03, 0x62, 0x69, 0x67, // topic "big"
        0x00, //                        property length 0
        ...Buffer.alloc(504, 0x61), //  payload: 504 x "a"
      ]);
      assert.equal(over.length, MAX_PACKET + 1);
      p.write(over);
      await expectDisconnect(p, 0x95);
    }));

  test('(3.1.4) a CONNECT over Maximum Packet Size gets CONNACK 0x95 without waiting for its body', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      const t0 = Date.now();
      p.write([
        0x10, //                            CONNECT
        0xff, 0xff, 0x03, //                remaining length 65,535; the rest never comes
        0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
        0x05, //                            protocol level 5
      ]);
      await expectConnackRefusal(p, 0x95);
      assert.ok(Date.now() - t0 < 1000, 'the broker must not wait for the body');
    }));

  test('3.1.1: a packet over Maximum Packet Size is closed without a DISCONNECT', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 4);
      p.write([
        0x30, //             PUBLISH QoS 0
        0xff, 0xff, 0x03, // remaining length 65,535
      ]);
      await expectSilentClose(p, 1000);
    }));
});
