/**
 * Framing over TCP: input split at every byte, many packets in one write, and random garbage. The
 * broker must decode whatever the chunking, answer in order, and never crash on noise.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Packet } from '../../src/codec/packets';
import { startBroker, type TestBroker } from '../helpers/broker';
import {
  CONNECT_V4,
  CONNECT_V5,
  PINGREQ,
  Probe,
  closeProbes,
  concat,
  connected,
  expectDisconnect,
  frame,
  guarded,
  hx,
  packet,
  sleep,
  str,
  writeByteByByte,
} from './util';

let tb: TestBroker;
before(async () => {
  tb = await startBroker();
});
after(async () => {
  closeProbes();
  await tb.stop();
});

describe('input split at every byte', () => {
  test('(2.1.4) MQTT 5 CONNECT + SUBSCRIBE + PUBLISH written one byte per write work', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      const bytes = concat(
        CONNECT_V5,
        frame([
          0x82, 0x0d, //                                    SUBSCRIBE, remaining length 13
          0x00, 0x01, //                                    packet id 1
          0x00, //                                          property length 0
          0x00, 0x07, 0x73, 0x70, 0x6c, 0x69, 0x74, 0x2f, 0x35, // filter "split/5"
          0x01, //                                          subscription options: QoS 1
        ]),
        frame([
          0x32, 0x11, //                                    PUBLISH QoS 1, remaining length 17
          0x00, 0x07, 0x73, 0x70, 0x6c, 0x69, 0x74, 0x2f, 0x35, // topic "split/5"
          0x00, 0x02, //                                    packet id 2
          0x00, //                                          property length 0
          0x68, 0x65, 0x6c, 0x6c, 0x6f, //                  payload "hello"
        ]),
      );
      await writeByteByByte(p, bytes);
      const connack = await p.next(2);
      assert.ok(connack?.type === 2 && connack.reasonCode === 0, 'CONNACK 0x00');
      const suback = await p.next(9);
      assert.ok(suback?.type === 9);
      assert.equal(suback.packetId, 1);
      assert.deepEqual(suback.reasonCodes, [1]);
      const puback = await p.next(4);
      assert.ok(puback?.type === 4);
      assert.equal(puback.packetId, 2);
      assert.equal(puback.reasonCode ?? 0, 0, 'PUBACK 0x00: a subscriber matched');
      const pub = await p.next(3);
      assert.ok(pub?.type === 3);
      assert.equal(pub.topic, 'split/5');
      assert.equal(pub.qos, 1);
      assert.equal(pub.payload.toString(), 'hello');
      p.close();
    }));

  test('(2.1.4) MQTT 3.1.1 CONNECT + SUBSCRIBE + PUBLISH written one byte per write work', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 4);
      const bytes = concat(
        CONNECT_V4,
        frame([
          0x82, 0x0c, //                                    SUBSCRIBE, remaining length 12
          0x00, 0x01, //                                    packet id 1
          0x00, 0x07, 0x73, 0x70, 0x6c, 0x69, 0x74, 0x2f, 0x34, // filter "split/4"
          0x01, //                                          requested QoS 1
        ]),
        frame([
          0x32, 0x10, //                                    PUBLISH QoS 1, remaining length 16
          0x00, 0x07, 0x73, 0x70, 0x6c, 0x69, 0x74, 0x2f, 0x34, // topic "split/4"
          0x00, 0x02, //                                    packet id 2
          0x68, 0x65, 0x6c, 0x6c, 0x6f, //                  payload "hello"
        ]),
      );
      await writeByteByByte(p, bytes);
      const connack = await p.next(2);
      assert.ok(connack?.type === 2 && connack.reasonCode === 0, 'CONNACK 0');
      const suback = await p.next(9);
      assert.ok(suback?.type === 9);
      assert.deepEqual(suback.reasonCodes, [1]);
      const puback = await p.next(4);
      assert.ok(puback?.type === 4);
      assert.equal(puback.packetId, 2);
      const pub = await p.next(3);
      assert.ok(pub?.type === 3);
      assert.equal(pub.topic, 'split/4');
      assert.equal(pub.payload.toString(), 'hello');
      p.close();
    }));
});

describe('many packets in one write', () => {
  test('[MQTT-4.6.0-2] CONNECT, 50 PUBLISH QoS 1 and PINGREQ in one buffer: CONNACK, 50 PUBACKs in order, PINGRESP', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      const publishes: Buffer[] = [];
      for (let id = 1; id <= 50; id++) {
        publishes.push(
          packet(
            0x32, //              PUBLISH QoS 1
            str('burst'), //      topic "burst"
            [0x00, id], //        packet id
            [0x00], //            property length 0
            Buffer.from(`m${id}`), // payload
          ),
        );
      }
      p.write(concat(CONNECT_V5, ...publishes, PINGREQ));
      const got: Packet[] = [];
      for (let i = 0; i < 52; i++) {
        const next = await p.next();
        if (next === undefined) assert.fail(`closed after ${got.length} packets`);
        got.push(next);
      }
      const shape = got.map((x) => (x.type === 4 ? `PUBACK ${x.packetId}` : x.type === 2 ? `CONNACK ${x.reasonCode}` : `type ${x.type}`));
      const expected = ['CONNACK 0', ...Array.from({ length: 50 }, (_, i) => `PUBACK ${i + 1}`), 'type 13'];
      assert.deepEqual(shape, expected);
      p.close();
    }));

  test('(4.13.1) a malformed packet pipelined behind a valid CONNECT gets CONNACK 0x00 then DISCONNECT 0x81', () =>
    guarded(tb, async () => {
      const p = await Probe.open(tb.port, 5);
      p.write(
        concat(
          CONNECT_V5, // a valid CONNECT...
          frame([
            0x36, 0x08, //                  ...then PUBLISH with QoS bits 11, remaining length 8
            0x00, 0x03, 0x61, 0x2f, 0x62, // topic "a/b"
            0x00, 0x01, //                  packet id 1
            0x00, //                        property length 0
          ]),
        ),
      );
      // CONNACK may carry an error only for an error in the CONNECT packet itself; an error in any
      // other packet is reported with DISCONNECT (section 4.13.1).
      const connack = await p.next();
      if (connack?.type !== 2) assert.fail(`expected CONNACK, got ${connack ? `packet type ${connack.type}` : 'a close'}`);
      assert.equal(connack.reasonCode, 0, `the valid CONNECT was answered with CONNACK ${hx(connack.reasonCode)}`);
      await expectDisconnect(p, 0x81);
    }));
});

describe('garbage', () => {
  /** Random bytes, half of them behind a plausible first byte and length so that decoding goes deeper. */
  const garbage = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 64 }),
    fc
      .tuple(fc.constantFrom(0x10, 0x30, 0x32, 0x34, 0x62, 0x82, 0xa2, 0xe0, 0xf0), fc.uint8Array({ minLength: 0, maxLength: 64 }))
      .map(([first, rest]) => Uint8Array.from([first, rest.length, ...rest])),
  );

  /** Writes each sample on its own connection; waits until the broker closed it or 300 ms passed. */
  async function feed(samples: Uint8Array[], afterConnect: boolean): Promise<void> {
    const baseline = tb.broker.connections.size;
    await Promise.all(
      samples.map(async (bytes) => {
        const p = afterConnect ? await connected(tb.port, 5) : await Probe.open(tb.port, 5);
        p.write(Buffer.from(bytes));
        await p.waitClosed(300).catch(() => undefined); // may be waiting for more bytes
        p.close();
      }),
    );
    // Every garbage connection is gone from the broker too: nothing leaked. (Fewer than before is
    // fine: a connection of an earlier test may have finished closing meanwhile.)
    for (let i = 0; i < 50 && tb.broker.connections.size > baseline; i++) await sleep(20);
    assert.ok(tb.broker.connections.size <= baseline, `connections left open in the broker: ${tb.broker.connections.size} after, ${baseline} before`);
  }

  test('10 random byte strings as the first bytes never crash the broker', () =>
    guarded(tb, async () => {
      const samples = fc.sample(garbage, { seed: 0x5eed, numRuns: 10 });
      assert.equal(samples.length, 10);
      await feed(samples, false);
    }));

  test('10 random byte strings after a valid CONNECT never crash the broker', () =>
    guarded(tb, async () => {
      const samples = fc.sample(garbage, { seed: 0xbad, numRuns: 10 });
      await feed(samples, true);
    }));
});
