/**
 * PacketDecoder behaviour beyond single packets: halting, protocol version changes, buffered bytes,
 * and decodeOne.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  PacketDecoder,
  decodeOne,
  isDecodeError,
  type Packet,
  type PacketSink,
} from '../../src/codec/index';
import fc from 'fast-check';
import { CollectingSink, decodeChunks, hex } from './helpers';

const MQTT = '00 04 4d 51 54 54';
const CONNECT_V5 = `10 0d ${MQTT} 05 02 00 3c 00 00 00`;
const CONNECT_V3 = `10 0e 00 06 4d 51 49 73 64 70 03 02 00 3c 00 00`;
// PUBLISH QoS 0, topic 't', MQTT 5: property block with Topic Alias 2, payload 'x'
const PUBLISH_V5 = '30 08 00 01 74 03 23 00 02 78';

describe('protocol version', () => {
  test('defaults to 4 and follows a valid CONNECT', () => {
    const sink = new CollectingSink();
    const decoder = new PacketDecoder(sink);
    assert.equal(decoder.protocolVersion, 4);
    assert.equal(decoder.push(hex(CONNECT_V5 + PUBLISH_V5)), undefined);
    assert.equal(decoder.protocolVersion, 5);
    assert.deepEqual(sink.packets[1], {
      type: 3, topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 2 },
    });
    assert.equal(decoder.push(hex(CONNECT_V3)), undefined);
    assert.equal(decoder.protocolVersion, 3);
  });

  test('the same PUBLISH bytes mean something else in 3.1.1 (no property block)', () => {
    const run = decodeChunks([hex(PUBLISH_V5)], 4);
    assert.equal(run.error, undefined);
    assert.deepEqual((run.packets[0] as { payload: Buffer }).payload, hex('03 23 00 02 78'));
  });

  test('is set from a CONNECT whose level is valid even if the rest is malformed', () => {
    const run = decodeChunks([hex(`10 0d ${MQTT} 05 03 00 3c 00 00 00`)], 4); // reserved flag set
    assert.equal(run.error?.code, 'RTK_DECODE_CONNECT_FLAGS');
    assert.equal(run.decoder.protocolVersion, 5);
    const bad = decodeChunks([hex(`10 0d ${MQTT} 05 02 00 3c 00 00 05`)], 4); // truncated
    assert.equal(bad.error?.code, 'RTK_DECODE_TRUNCATED');
    assert.equal(bad.decoder.protocolVersion, 5);
  });

  test('is not set from a CONNECT with an unknown name or level', () => {
    const run = decodeChunks([hex(`10 0c 00 04 4d 51 54 58 05 02 00 3c 00 00`)], 4);
    assert.equal(run.error?.code, 'RTK_DECODE_PROTOCOL_NAME');
    assert.equal(run.decoder.protocolVersion, 4);
    const level = decodeChunks([hex(`10 0c ${MQTT} 03 02 00 3c 00 00`)], 5);
    assert.equal(level.decoder.protocolVersion, 5);
  });

  test('a CONNECT too large to buffer still gives its version when its start is at hand', () => {
    const run = decodeChunks([hex(`10 ff 7f ${MQTT} 05 02`)], 4, 1000);
    assert.equal(run.error?.code, 'RTK_DECODE_PACKET_TOO_LARGE');
    assert.equal(run.decoder.protocolVersion, 5);
    const split = decodeChunks([hex('10 ff 7f 00')], 4, 1000);
    assert.equal(split.error?.code, 'RTK_DECODE_PACKET_TOO_LARGE');
    assert.equal(split.decoder.protocolVersion, 4);
  });
});

describe('halt', () => {
  class HaltingSink implements PacketSink {
    readonly packets: Packet[] = [];
    decoder: PacketDecoder | undefined;
    constructor(private readonly after: number) {}
    onPacket(packet: Packet): void {
      this.packets.push(packet);
      if (this.packets.length === this.after) this.decoder?.halt();
    }
  }

  test('from inside onPacket stops after the current packet; later pushes do nothing', () => {
    const sink = new HaltingSink(2);
    const decoder = new PacketDecoder(sink);
    sink.decoder = decoder;
    assert.equal(decoder.push(hex('c0 00 d0 00 c0 00 d0 00')), undefined);
    assert.deepEqual(sink.packets.map((p) => p.type), [12, 13]);
    assert.equal(decoder.push(hex('c0 00')), undefined);
    assert.equal(sink.packets.length, 2);
  });

  test('on a packet completed across chunks', () => {
    const sink = new HaltingSink(1);
    const decoder = new PacketDecoder(sink);
    sink.decoder = decoder;
    assert.equal(decoder.push(hex('30 05 00 01')), undefined);
    assert.equal(decoder.push(hex('74 68 69 c0 00')), undefined);
    assert.equal(sink.packets.length, 1);
  });

  test('an error after a halt is not reported', () => {
    const sink = new HaltingSink(1);
    const decoder = new PacketDecoder(sink);
    sink.decoder = decoder;
    assert.equal(decoder.push(hex('c0 00 00 00')), undefined);
  });
});

describe('buffering', () => {
  test('bufferedBytes counts the incomplete packet, header included', () => {
    const sink = new CollectingSink();
    const decoder = new PacketDecoder(sink);
    assert.equal(decoder.bufferedBytes, 0);
    decoder.push(hex('c0 00 30'));
    assert.equal(decoder.bufferedBytes, 1);
    decoder.push(hex('85'));
    assert.equal(decoder.bufferedBytes, 2);
    decoder.push(hex('01 00 01'));
    assert.equal(decoder.bufferedBytes, 5);
    decoder.push(Buffer.alloc(131, 0x61));
    assert.equal(decoder.bufferedBytes, 0);
    assert.equal(sink.packets.length, 2);
    assert.equal((sink.packets[1] as { topic: string }).topic, 'a');
  });

  test('packets before an error are delivered, the error stops the rest', () => {
    const run = decodeChunks([hex('c0 00 d0 00 00 00 c0 00')], 4);
    assert.deepEqual(run.packets.map((p) => p.type), [12, 13]);
    assert.equal(run.error?.code, 'RTK_DECODE_PACKET_TYPE');
  });

  test('an empty chunk changes nothing', () => {
    const run = decodeChunks([hex('30'), Buffer.alloc(0), hex('02 00'), Buffer.alloc(0), hex('00')], 4);
    assert.equal(run.error, undefined);
    assert.equal(run.packets.length, 1);
  });
});

describe('decodeOne', () => {
  test('decodes one whole packet', () => {
    assert.deepEqual(decodeOne(hex('40 02 00 05'), 4), { type: 4, packetId: 5 });
  });

  test('reports missing and extra bytes', () => {
    const short = decodeOne(hex('40 02 00'), 4);
    assert.ok(isDecodeError(short) && short.code === 'RTK_DECODE_TRUNCATED');
    const long = decodeOne(hex('40 02 00 05 c0 00'), 4);
    assert.ok(isDecodeError(long) && long.code === 'RTK_DECODE_TRAILING_BYTES');
    const empty = decodeOne(Buffer.alloc(0), 4);
    assert.ok(isDecodeError(empty) && empty.code === 'RTK_DECODE_TRUNCATED');
  });

  test('applies maxPacketSize', () => {
    const big = decodeOne(hex('40 02 00 05'), 4, 3);
    assert.ok(isDecodeError(big) && big.code === 'RTK_DECODE_PACKET_TOO_LARGE' && big.reasonCode === 0x95);
  });
});

describe('yieldAfterPacket', () => {
  // Ten QoS 0 PUBLISHes (topic 't', payload one byte: 0..9), 6 bytes each.
  const publishes = Buffer.concat(Array.from({ length: 10 }, (_, i) => hex(`30 04 00 01 74 0${i}`)));
  // One with a 2-byte remaining length (payload 200 bytes), to yield inside the slow path too.
  const big = Buffer.concat([hex('30 cb 01 00 01 74'), Buffer.alloc(200, 7)]);

  /** Yields after every `every`-th packet; pushes every rest back until nothing is left. */
  class YieldingSink implements PacketSink {
    readonly packets: Packet[] = [];
    decoder!: PacketDecoder;
    constructor(private readonly every: number) {}
    onPacket(packet: Packet): void {
      this.packets.push(packet);
      if (this.packets.length % this.every === 0) this.decoder.yieldAfterPacket();
    }
  }

  function run(chunks: Buffer[], every: number): { packets: Packet[]; yields: number } {
    const sink = new YieldingSink(every);
    const decoder = new PacketDecoder(sink);
    sink.decoder = decoder;
    let yields = 0;
    for (const chunk of chunks) {
      let next: Buffer | undefined = chunk;
      while (next !== undefined) {
        assert.equal(decoder.push(next), undefined);
        next = decoder.takeRest();
        if (next !== undefined) yields++;
      }
    }
    return { packets: sink.packets, yields };
  }

  test('push returns after the packet, leaving the rest of the chunk for takeRest', () => {
    const sink = new YieldingSink(3);
    const decoder = new PacketDecoder(sink);
    sink.decoder = decoder;
    assert.equal(decoder.push(publishes), undefined);
    assert.equal(sink.packets.length, 3);
    const rest = decoder.takeRest();
    assert.deepEqual(rest, publishes.subarray(18));
    assert.equal(decoder.takeRest(), undefined, 'takeRest gives the rest once');
  });

  test('a yield after the last packet of a chunk leaves nothing and does not carry over', () => {
    const sink = new YieldingSink(10);
    const decoder = new PacketDecoder(sink);
    sink.decoder = decoder;
    assert.equal(decoder.push(publishes), undefined);
    assert.equal(decoder.takeRest(), undefined);
    assert.equal(decoder.push(publishes), undefined);
    assert.equal(sink.packets.length, 20, 'the next push decodes everything (until the 20th yields)');
  });

  test('every packet comes once and in order, whatever the chunking and the yields', () => {
    const stream = Buffer.concat([publishes, big, publishes]);
    const expected = run([stream], 1000).packets;
    assert.equal(expected.length, 21);
    for (const every of [1, 2, 7]) {
      for (const size of [1, 5, 6, 13, stream.length]) {
        const chunks: Buffer[] = [];
        for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
        const r = run(chunks, every);
        assert.deepEqual(r.packets, expected, `every ${every}, chunks of ${size}`);
        if (size === stream.length) assert.ok(r.yields >= Math.floor(21 / every) - 1, `yielded ${r.yields} times`);
      }
    }
  });
});

describe('topic reuse', () => {
  /** A QoS 0 PUBLISH (3.1.1) of `topic` bytes with payload 'p'. */
  function publish(topic: Buffer): Buffer {
    return Buffer.concat([Buffer.from([0x30, 2 + topic.length + 1, 0, topic.length]), topic, Buffer.from('p')]);
  }
  function topicsOf(chunks: Buffer[]): (string | undefined)[] {
    const run = decodeChunks(chunks, 4);
    return [...run.packets.map((p) => (p as { topic: string }).topic), run.error?.code];
  }

  test('the same ASCII topic again is the very same string; a different topic of the same length is decoded anew', () => {
    const sink = new CollectingSink();
    const decoder = new PacketDecoder(sink);
    assert.equal(decoder.push(Buffer.concat([publish(Buffer.from('a/b1')), publish(Buffer.from('a/b1')), publish(Buffer.from('a/b2'))])), undefined);
    const [t1, t2, t3] = sink.packets.map((p) => (p as { topic: string }).topic);
    assert.equal(t1, 'a/b1');
    assert.ok(Object.is(t1, t2));
    assert.equal(t3, 'a/b2');
  });

  test('invalid UTF-8 whose bytes equal the characters of the previous (non-ASCII) topic is still refused', () => {
    // 'é/x' is C3 A9 2F 78; the lone byte E9 (é in latin1) followed by '/x' is not UTF-8.
    assert.deepEqual(topicsOf([publish(Buffer.from('é/x')), publish(Buffer.from([0xe9, 0x2f, 0x78]))]), ['é/x', 'RTK_DECODE_INVALID_UTF8']);
  });

  test('a NUL byte is refused even where the previous topic had a character', () => {
    assert.deepEqual(topicsOf([publish(Buffer.from('ab')), publish(Buffer.from([0x61, 0x00]))]), ['ab', 'RTK_DECODE_INVALID_UTF8']);
  });

  test('any sequence of topics decodes as if nothing were reused', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom('a', 'a/b', 'é', 'a/é', 'x/y/z'), fc.string({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 })), { maxLength: 20 }), (topics) => {
        const sink = new CollectingSink();
        const decoder = new PacketDecoder(sink);
        for (const t of topics) {
          const bytes = typeof t === 'string' ? Buffer.from(t) : Buffer.from(t);
          const fresh = decodeOne(publish(bytes), 4);
          const err = decoder.push(publish(bytes));
          if (isDecodeError(fresh)) {
            assert.equal(err?.code, fresh.code);
            return;
          }
          assert.equal(err, undefined);
          assert.equal((sink.packets.at(-1) as { topic: string }).topic, (fresh as { topic: string }).topic);
        }
      }),
      { numRuns: 300 },
    );
  });
});
