/**
 * Property tests: every packet of every version survives encode → decode (whole, split at random
 * points, and in sequences), encodedLength is exact, and encodePublishHeader agrees with encodePacket.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import {
  decodeOne,
  encodePacket,
  encodePublishHeader,
  encodedLength,
  type ProtocolVersion,
  type PublishPacket,
} from '../../src/codec/index';
import * as arb from './arbitraries';
import { decodeChunks, detached, normalise, splitAt } from './helpers';

const VERSIONS: ProtocolVersion[] = [3, 4, 5];
const cuts = fc.array(fc.nat({ max: 400 }), { maxLength: 5 });

describe('round trip', () => {
  for (const version of VERSIONS) {
    test(`v${version}: decode(encode(p)) equals p, whole and split anywhere; encodedLength is exact`, () => {
      fc.assert(
        fc.property(arb.packet(version), cuts, (packet, points) => {
          const bytes = encodePacket(packet, version);
          assert.equal(encodedLength(packet, version), bytes.length);
          const expected = normalise(packet, version);
          assert.deepEqual(decodeOne(bytes, version), expected);
          const run = decodeChunks(detached(splitAt(bytes, points.map((p) => p % bytes.length))), version);
          assert.equal(run.error, undefined);
          assert.deepEqual(run.packets, [expected]);
          // The normal form is a fixed point: it encodes to the very same bytes.
          assert.deepEqual(encodePacket(expected, version), bytes);
        }),
        { numRuns: 3000 },
      );
    });

    test(`v${version}: sequences of packets in random chunks`, () => {
      fc.assert(
        fc.property(fc.array(arb.packet(version), { minLength: 1, maxLength: 8 }), cuts, (packets, points) => {
          const stream = Buffer.concat(packets.map((p) => encodePacket(p, version)));
          const run = decodeChunks(detached(splitAt(stream, points.map((p) => p % stream.length))), version);
          assert.equal(run.error, undefined);
          assert.deepEqual(run.packets, packets.map((p) => normalise(p, version)));
          assert.equal(run.decoder.bufferedBytes, 0);
        }),
        { numRuns: 500 },
      );
    });

    test(`v${version}: encodePublishHeader + payload equals encodePacket; the packet id sits at packetIdOffset`, () => {
      fc.assert(
        fc.property(arb.publish(version), (packet) => {
          const p = packet as PublishPacket;
          const { header, packetIdOffset } = encodePublishHeader(p, version);
          assert.deepEqual(Buffer.concat([header, p.payload]), encodePacket(p, version));
          if (p.qos === 0) {
            assert.equal(packetIdOffset, -1);
          } else {
            assert.equal(header.readUInt16BE(packetIdOffset), p.packetId);
            // patching the id in a copy of the header gives the packet with that id
            const copy = Buffer.from(header);
            copy.writeUInt16BE(0xabcd, packetIdOffset);
            assert.deepEqual(Buffer.concat([copy, p.payload]), encodePacket({ ...p, packetId: 0xabcd }, version));
          }
        }),
        { numRuns: 500 },
      );
    });
  }

  test('large payloads: remaining lengths of 2, 3 and 4 bytes', () => {
    for (const size of [127, 128, 16_383, 16_384, 2_097_151, 2_097_152]) {
      const packet: PublishPacket = { type: 3, topic: 't', payload: Buffer.alloc(size, 7), qos: 1, retain: false, dup: false, packetId: 1 };
      const bytes = encodePacket(packet, 5);
      assert.equal(bytes.length, encodedLength(packet, 5));
      const run = decodeChunks(detached(splitAt(bytes, [1, 2, 3, 4, 5, Math.floor(bytes.length / 2)])), 5);
      assert.equal(run.error, undefined);
      assert.deepEqual(run.packets, [packet]);
    }
  });

  test('the encoder skips properties the packet may not carry, and MQTT 5 fields before 5', () => {
    const will = { willDelayInterval: 5, contentType: 'c' };
    const publish: PublishPacket = { type: 3, topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false, properties: will };
    assert.deepEqual(decodeOne(encodePacket(publish, 5), 5), { ...publish, properties: { contentType: 'c' } });
    assert.deepEqual(decodeOne(encodePacket(publish, 4), 4), { type: 3, topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false });
    assert.deepEqual([...encodePacket({ type: 4, packetId: 1, reasonCode: 0x10, properties: { reasonString: 'x' } }, 4)], [0x40, 2, 0, 1]);
    assert.deepEqual([...encodePacket({ type: 14, reasonCode: 0x8e }, 4)], [0xe0, 0]);
    assert.deepEqual([...encodePacket({ type: 11, packetId: 1, reasonCodes: [0x11] }, 4)], [0xb0, 2, 0, 1]);
    assert.throws(() => encodePacket({ type: 15 }, 4), RangeError);
    // DUP is never written on QoS 0 (it would be malformed)
    assert.equal(encodePacket({ ...publish, dup: true }, 4)[0], 0x30);
  });
});
