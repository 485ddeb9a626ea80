/**
 * MQTT 3.1.1 where it differs from MQTT 5: the server has no DISCONNECT packet, so every protocol
 * violation is answered by closing the network connection without a single byte; and a connection
 * closed without a client DISCONNECT (by the client or by the server) publishes the will.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker';
import { CONNECT_V4, closeProbes, connected, expectSilentClose, frame, guarded, packet, Probe, str } from './util';

let tb: TestBroker;
before(async () => {
  tb = await startBroker();
});
after(async () => {
  closeProbes();
  await tb.stop();
});

describe('3.1.1: violations close without a DISCONNECT packet', () => {
  const CASES: [string, number[]][] = [
    [
      '[MQTT-3.1.0-2] 3.1.1: a second CONNECT',
      [...CONNECT_V4],
    ],
    [
      '[MQTT-2.2.2-2] 3.1.1: PUBREL with flags 0000',
      [
        0x60, 0x02, // PUBREL with flags 0000 (must be 0010), remaining length 2
        0x00, 0x01, // packet id 1
      ],
    ],
    [
      '[MQTT-3.3.1-4] 3.1.1: PUBLISH with QoS 3',
      [
        0x36, 0x07, //                  PUBLISH with QoS bits 11, remaining length 7
        0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
        0x00, 0x01, //                  packet id 1
      ],
    ],
    [
      '[MQTT-3.8.3-3] 3.1.1: SUBSCRIBE with no topic filter',
      [
        0x82, 0x02, // SUBSCRIBE, remaining length 2
        0x00, 0x01, // packet id 1; no payload
      ],
    ],
    [
      '[MQTT-3.3.2-2] 3.1.1: wildcard in a PUBLISH topic',
      [
        0x30, 0x05, //                  PUBLISH QoS 0, remaining length 5
        0x00, 0x03, 0x61, 0x2f, 0x23, // topic "a/#"
      ],
    ],
    [
      '[MQTT-1.5.3-1] 3.1.1: ill-formed UTF-8 in a topic',
      [
        0x30, 0x05, //                  PUBLISH QoS 0, remaining length 5
        0x00, 0x03, 0x61, 0xff, 0x62, // topic "a", 0xFF, "b"
      ],
    ],
    [
      '(2.2.1) 3.1.1: packet type 15 (AUTH exists only in MQTT 5)',
      [
        0xf0, 0x00, // type 15, remaining length 0
      ],
    ],
  ];
  for (const [name, bytes] of CASES) {
    test(`${name} is closed without any reply`, () =>
      guarded(tb, async () => {
        const p = await connected(tb.port, 4);
        p.write(frame(bytes));
        await expectSilentClose(p);
      }));
  }
});

describe('3.1.1: the will and the end of the connection', () => {
  /** A 3.1.1 CONNECT (clean session, empty client id) with a QoS 0 will on `topic`. */
  function connectWithWill(topic: string): Buffer {
    return packet(
      0x10, //                            CONNECT
      [0x00, 0x04, 0x4d, 0x51, 0x54, 0x54], // protocol name "MQTT"
      [0x04], //                          protocol level 4
      [0x06], //                          connect flags: will flag (bit 2), clean session (bit 1)
      [0x00, 0x3c], //                    keepalive 60
      [0x00, 0x00], //                    client id ""
      str(topic), //                      will topic
      str('gone'), //                     will message
    );
  }

  async function connectedWithWill(topic: string): Promise<Probe> {
    const p = await Probe.open(tb.port, 4);
    p.write(connectWithWill(topic));
    const ack = await p.next(2);
    assert.ok(ack?.type === 2 && ack.reasonCode === 0, 'CONNACK 0');
    p.takeBytes();
    return p;
  }

  test('[MQTT-3.1.2-8] 3.1.1: a client that closes without DISCONNECT has its will published', () =>
    guarded(tb, async (bystander) => {
      const topic = `${bystander.prefix}/will-close`;
      const p = await connectedWithWill(topic);
      p.close(); // TCP close, no DISCONNECT packet
      assert.equal(await bystander.waitFor(topic), 'gone');
    }));

  test('[MQTT-3.1.2-8] 3.1.1: a connection the server closes for a violation publishes the will', () =>
    guarded(tb, async (bystander) => {
      const topic = `${bystander.prefix}/will-violation`;
      const p = await connectedWithWill(topic);
      p.write(frame([0x60, 0x02, 0x00, 0x01])); // PUBREL with reserved flags 0000: malformed
      await expectSilentClose(p);
      assert.equal(await bystander.waitFor(topic), 'gone');
    }));

  test('[MQTT-3.1.2-10] 3.1.1: DISCONNECT discards the will and the server closes silently', () =>
    guarded(tb, async (bystander) => {
      const topic = `${bystander.prefix}/will-disconnect`;
      const p = await connectedWithWill(topic);
      p.write(frame([0xe0, 0x00])); // DISCONNECT, remaining length 0
      await expectSilentClose(p);
      await bystander.assertServed(); // a message published after the close has arrived...
      assert.deepEqual(
        bystander.messages.filter((m) => m.topic === topic),
        [],
        '...and no will before it',
      );
    }));
});
