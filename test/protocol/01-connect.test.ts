/**
 * CONNECT, byte by byte: what comes before it, a second one, protocol name and level, connect flags,
 * client identifier rules and CONNECT properties (MQTT 5 section 3.1, 3.1.1 section 3.1, 3.1).
 *
 * MQTT 5: a problem in or before CONNECT is answered with CONNACK and the reason code, once the
 * broker knows the client speaks MQTT 5. MQTT 3.1.1 answers with a CONNACK return code where 3.1.1
 * has one (1 unacceptable protocol level, 2 identifier rejected), else closes without a CONNACK
 * ([MQTT-3.1.4-1] in 3.1.1). Every test also checks that a bystander keeps being served.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker';
import {
  CONNECT_V5,
  closeProbes,
  connected,
  expectAlive,
  expectClosedWithoutSession,
  expectConnackRefusal,
  expectDisconnect,
  expectExactlyThenClose,
  expectSilentClose,
  frame,
  guarded,
  Probe,
} from './util';

let tb: TestBroker;
before(async () => {
  tb = await startBroker({ tenants: { nov5: { mqtt5Enabled: false } } });
});
after(async () => {
  closeProbes();
  await tb.stop();
});

describe('3.1.0 CONNECT comes first, and once', () => {
  const FIRST: [string, number[]][] = [
    [
      'PUBLISH',
      [
        0x30, 0x06, //                  PUBLISH QoS 0, remaining length 6
        0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
        0x78, //                        payload "x"
      ],
    ],
    [
      'PINGREQ',
      [
        0xc0, 0x00, //                  PINGREQ, remaining length 0
      ],
    ],
    [
      'SUBSCRIBE',
      [
        0x82, 0x08, //                  SUBSCRIBE (flags 0010), remaining length 8
        0x00, 0x01, //                  packet id 1
        0x00, 0x03, 0x61, 0x2f, 0x62, // filter "a/b"
        0x00, //                        requested QoS 0
      ],
    ],
  ];
  for (const [name, bytes] of FIRST) {
    test(`[MQTT-3.1.0-1] first packet must be CONNECT: ${name} first is closed`, () =>
      guarded(tb, async () => {
        const p = await Probe.open(tb.port);
        p.write(frame(bytes));
        await expectClosedWithoutSession(p);
      }));
  }

  test('[MQTT-3.1.0-1] a CONNECT behind a first PINGREQ in the same write is not honoured', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port);
      p.write(
        Buffer.concat([
          frame([0xc0, 0x00]), // PINGREQ first
          CONNECT_V5, //          then a valid CONNECT, too late
        ]),
      );
      await expectClosedWithoutSession(p);
    }));

  test('[MQTT-3.1.0-2] a second CONNECT is a protocol error (DISCONNECT 0x82)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(CONNECT_V5);
      await expectDisconnect(p, 0x82);
    }));
});

describe('3.1.2.1-2 protocol name and level', () => {
  test('[MQTT-3.1.2-2] unknown protocol level 6 gets CONNACK 0x01 in 3.1.1 form (20 02 00 01)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 4);
      p.write(
        frame([
          0x10, 0x0c, //                      CONNECT, remaining length 12
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x06, //                            protocol level 6: unknown
          0x02, //                            connect flags: clean session
          0x00, 0x3c, //                      keepalive 60
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectExactlyThenClose(p, [
        0x20, 0x02, // CONNACK, remaining length 2
        0x00, //       acknowledge flags: no session present
        0x01, //       return code 1: unacceptable protocol version
      ]);
    }));

  test('[MQTT-3.1.2-1] wrong protocol name is refused and closed', () =>
    guarded(tb, async () => {
      const mqtx = await Probe.open(tb.port, 4);
      mqtx.write(
        frame([
          0x10, 0x0c, //                      CONNECT, remaining length 12
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x58, // protocol name "MQTX"
          0x04, //                            protocol level 4
          0x02, //                            connect flags: clean session
          0x00, 0x3c, //                      keepalive 60
          0x00, 0x00, //                      client id ""
        ]),
      );
      const lower = await Probe.open(tb.port, 5);
      lower.write(
        frame([
          0x10, 0x0d, //                      CONNECT, remaining length 13
          0x00, 0x04, 0x6d, 0x71, 0x74, 0x74, // protocol name "mqtt": the name is case sensitive
          0x05, //                            protocol level 5
          0x02, //                            connect flags: clean start
          0x00, 0x3c, //                      keepalive 60
          0x00, //                            property length 0
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectClosedWithoutSession(mqtx);
      await expectClosedWithoutSession(lower);
    }));

  test('MQTT 3.1 (MQIsdp, level 3) CONNECT is accepted and the session works', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 3);
      p.write(
        frame([
          0x10, 0x11, //                                  CONNECT, remaining length 17
          0x00, 0x06, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70, // protocol name "MQIsdp"
          0x03, //                                        protocol level 3
          0x02, //                                        connect flags: clean session
          0x00, 0x3c, //                                  keepalive 60
          0x00, 0x03, 0x63, 0x33, 0x31, //                client id "c31" (3.1 needs 1-23 characters)
        ]),
      );
      await p.next(2);
      assert.deepEqual([...p.takeBytes()], [0x20, 0x02, 0x00, 0x00], 'CONNACK, return code 0 accepted');
      p.write(
        frame([
          0x82, 0x0a, //                        SUBSCRIBE (flags 0010), remaining length 10
          0x00, 0x01, //                        packet id 1
          0x00, 0x05, 0x6d, 0x33, 0x31, 0x2f, 0x74, // filter "m31/t"
          0x01, //                              requested QoS 1
        ]),
      );
      const suback = await p.next(9);
      assert.deepEqual(suback, { type: 9, packetId: 1, reasonCodes: [1] });
      p.write(
        frame([
          0x30, 0x08, //                        PUBLISH QoS 0, remaining length 8
          0x00, 0x05, 0x6d, 0x33, 0x31, 0x2f, 0x74, // topic "m31/t"
          0x78, //                              payload "x"
        ]),
      );
      const pub = await p.next(3);
      assert.ok(pub?.type === 3);
      assert.equal(pub.topic, 'm31/t');
      assert.equal(pub.payload.toString(), 'x');
      p.close();
    }));

  test('[MQTT-3.1.2-2] a protocol version the tenant disabled gets CONNACK 0x84', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x15, //                      CONNECT, remaining length 21
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x82, //                            connect flags: user name, clean start
          0x00, 0x3c, //                      keepalive 60
          0x00, //                            property length 0
          0x00, 0x00, //                      client id ""
          0x00, 0x06, 0x6e, 0x6f, 0x76, 0x35, 0x2f, 0x75, // user name "nov5/u": tenant nov5 (MQTT 5 off)
        ]),
      );
      await expectConnackRefusal(p, 0x84);
    }));
});

describe('3.1.2.3 connect flags', () => {
  test('[MQTT-3.1.2-3] CONNECT reserved flag set is malformed (CONNACK 0x81)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x0d, //                      CONNECT, remaining length 13
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x03, //                            connect flags: clean start + reserved bit 0
          0x00, 0x3c, //                      keepalive 60
          0x00, //                            property length 0
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectConnackRefusal(p, 0x81);
    }));

  test('[MQTT-3.1.2-3] 3.1.1: CONNECT reserved flag set is closed without CONNACK', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 4);
      p.write(
        frame([
          0x10, 0x0c, //                      CONNECT, remaining length 12
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x04, //                            protocol level 4
          0x03, //                            connect flags: clean session + reserved bit 0
          0x00, 0x3c, //                      keepalive 60
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectSilentClose(p);
    }));

  test('[MQTT-3.1.2-11] will QoS without the will flag is malformed (CONNACK 0x81)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x0d, //                      CONNECT, remaining length 13
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x0a, //                            connect flags: will QoS 1 (bits 4-3), clean start, no will flag
          0x00, 0x3c, //                      keepalive 60
          0x00, //                            property length 0
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectConnackRefusal(p, 0x81);
    }));

  test('[MQTT-3.1.2-13] will retain without the will flag is malformed (CONNACK 0x81)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x0d, //                      CONNECT, remaining length 13
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x22, //                            connect flags: will retain (bit 5), clean start, no will flag
          0x00, 0x3c, //                      keepalive 60
          0x00, //                            property length 0
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectConnackRefusal(p, 0x81);
    }));

  test('[MQTT-3.1.2-12] will QoS 3 is malformed (CONNACK 0x81)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x13, //                      CONNECT, remaining length 19
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x1e, //                            connect flags: will QoS 3 (0x18), will flag (0x04), clean start (0x02)
          0x00, 0x3c, //                      keepalive 60
          0x00, //                            property length 0
          0x00, 0x00, //                      client id ""
          0x00, //                            will property length 0
          0x00, 0x01, 0x77, //                will topic "w"
          0x00, 0x00, //                      will payload (empty)
        ]),
      );
      await expectConnackRefusal(p, 0x81);
    }));

  test('[MQTT-3.1.2-22] 3.1.1: password without user name is closed without CONNACK', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 4);
      p.write(
        frame([
          0x10, 0x10, //                      CONNECT, remaining length 16
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x04, //                            protocol level 4
          0x42, //                            connect flags: password (bit 6), clean session; no user name
          0x00, 0x3c, //                      keepalive 60
          0x00, 0x00, //                      client id ""
          0x00, 0x02, 0x70, 0x77, //          password "pw"
        ]),
      );
      await expectSilentClose(p);
    }));

  test('(3.1.2.9) MQTT 5 allows a password without a user name', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x11, //                      CONNECT, remaining length 17
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x42, //                            connect flags: password, clean start; no user name
          0x00, 0x3c, //                      keepalive 60
          0x00, //                            property length 0
          0x00, 0x00, //                      client id ""
          0x00, 0x02, 0x70, 0x77, //          password "pw"
        ]),
      );
      const ack = await p.next(2);
      assert.ok(ack?.type === 2);
      assert.equal(ack.reasonCode, 0);
      await expectAlive(p);
      p.close();
    }));
});

describe('3.1.3 client identifier', () => {
  test('[MQTT-3.1.3-8] 3.1.1: empty client id with clean session 0 gets CONNACK 0x02 (20 02 00 02)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 4);
      p.write(
        frame([
          0x10, 0x0c, //                      CONNECT, remaining length 12
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x04, //                            protocol level 4
          0x00, //                            connect flags: clean session 0
          0x00, 0x3c, //                      keepalive 60
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectExactlyThenClose(p, [
        0x20, 0x02, // CONNACK, remaining length 2
        0x00, //       acknowledge flags: no session present
        0x02, //       return code 2: identifier rejected
      ]);
    }));

  test('[MQTT-3.1.3-6] MQTT 5: empty client id is accepted and an identifier is assigned', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(CONNECT_V5);
      const ack = await p.next(2);
      assert.ok(ack?.type === 2);
      assert.equal(ack.reasonCode, 0);
      assert.ok((ack.properties?.assignedClientIdentifier ?? '').length > 0, '[MQTT-3.2.2-16] Assigned Client Identifier');
      p.close();
    }));
});

describe('3.1.2.11 CONNECT properties', () => {
  test('(3.1.2.11.3) Receive Maximum 0 in CONNECT is a protocol error (CONNACK 0x82)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x10, //                      CONNECT, remaining length 16
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x02, //                            connect flags: clean start
          0x00, 0x3c, //                      keepalive 60
          0x03, //                            property length 3
          0x21, 0x00, 0x00, //                Receive Maximum = 0
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectConnackRefusal(p, 0x82);
    }));

  test('(2.2.2.2) unknown property identifier in CONNECT is malformed (CONNACK 0x81)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x0f, //                      CONNECT, remaining length 15
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x02, //                            connect flags: clean start
          0x00, 0x3c, //                      keepalive 60
          0x02, //                            property length 2
          0x04, 0x00, //                      property 0x04: not defined by MQTT 5
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectConnackRefusal(p, 0x81);
    }));

  test('(2.2.2.2) a property CONNECT may not carry (Topic Alias) is malformed (CONNACK 0x81)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x10, //                      CONNECT, remaining length 16
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x02, //                            connect flags: clean start
          0x00, 0x3c, //                      keepalive 60
          0x03, //                            property length 3
          0x23, 0x00, 0x01, //                Topic Alias = 1: PUBLISH only
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectConnackRefusal(p, 0x81);
    }));

  test('(3.1.2.11.2) a duplicate property in CONNECT is a protocol error (CONNACK 0x82)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x17, //                      CONNECT, remaining length 23
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x02, //                            connect flags: clean start
          0x00, 0x3c, //                      keepalive 60
          0x0a, //                            property length 10
          0x11, 0x00, 0x00, 0x00, 0x0a, //    Session Expiry Interval = 10
          0x11, 0x00, 0x00, 0x00, 0x0a, //    Session Expiry Interval again
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectConnackRefusal(p, 0x82);
    }));

  test('(3.1.2.11.10) Authentication Data without an Authentication Method is a protocol error (CONNACK 0x82)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x12, //                      CONNECT, remaining length 18
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x02, //                            connect flags: clean start
          0x00, 0x3c, //                      keepalive 60
          0x05, //                            property length 5
          0x16, 0x00, 0x02, 0x61, 0x62, //    Authentication Data "ab", and no Authentication Method
          0x00, 0x00, //                      client id ""
        ]),
      );
      await expectConnackRefusal(p, 0x82);
    }));

  test('[MQTT-3.3.2-14] a will whose Response Topic has a wildcard is a protocol error (CONNACK 0x82)', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        frame([
          0x10, 0x1b, //                      CONNECT, remaining length 27
          0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
          0x05, //                            protocol level 5
          0x06, //                            connect flags: will, clean start
          0x00, 0x3c, //                      keepalive 60
          0x00, //                            property length 0
          0x00, 0x00, //                      client id ""
          0x07, //                            will property length 7
          0x08, 0x00, 0x04, 0x72, 0x2f, 0x2b, 0x2f, // Response Topic "r/+/" (a wildcard)
          0x00, 0x01, 0x77, //                will topic "w"
          0x00, 0x01, 0x78, //                will payload "x"
        ]),
      );
      await expectConnackRefusal(p, 0x82);
    }));
});
