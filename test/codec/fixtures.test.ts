import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeOne,
  encodePacket,
  encodedLength,
  encodePublishHeader,
  type ProtocolVersion,
  type PublishPacket,
} from '../../src/codec/index';
import { ALL_FIXTURES, V3_FIXTURES, V4_FIXTURES, V5_FIXTURES, type Fixture } from './fixtures';
import { decodeChunks, detached, hex, spaced, splitAt } from './helpers';

function label(fx: Fixture): string {
  return `[v${fx.version}] ${fx.name}`;
}

describe('fixtures: decode and encode', () => {
  for (const fx of ALL_FIXTURES) {
    test(`${label(fx)} decodes`, () => {
      assert.deepEqual(decodeOne(fx.bytes, fx.version), fx.packet);
    });
    if (fx.decodeOnly !== true) {
      test(`${label(fx)} encodes back to the same bytes`, () => {
        const bytes = encodePacket(fx.packet, fx.version);
        assert.equal(spaced(bytes), spaced(fx.bytes));
        assert.equal(encodedLength(fx.packet, fx.version), fx.bytes.length);
      });
    }
  }
});

describe('fixtures: any split gives the same packets', () => {
  for (const fx of ALL_FIXTURES) {
    test(`${label(fx)} split in two at every byte, and byte by byte`, () => {
      for (let cut = 1; cut < fx.bytes.length; cut++) {
        const run = decodeChunks(detached(splitAt(fx.bytes, [cut])), fx.version);
        assert.equal(run.error, undefined, `cut at ${cut}`);
        assert.deepEqual(run.packets, [fx.packet], `cut at ${cut}`);
        assert.equal(run.decoder.bufferedBytes, 0);
      }
      const bytewise = [...fx.bytes].map((byte) => Buffer.from([byte]));
      const run = decodeChunks(bytewise, fx.version);
      assert.equal(run.error, undefined);
      assert.deepEqual(run.packets, [fx.packet]);
    });
  }

  const perVersion: Array<[ProtocolVersion, Fixture[]]> = [[3, V3_FIXTURES], [4, V4_FIXTURES], [5, V5_FIXTURES]];
  for (const [version, fixtures] of perVersion) {
    test(`v${version}: every fixture concatenated in one chunk, and in chunks of 7 bytes`, () => {
      const all = Buffer.concat(fixtures.map((fx) => fx.bytes));
      const expected = fixtures.map((fx) => fx.packet);
      const whole = decodeChunks([all], version);
      assert.equal(whole.error, undefined);
      assert.deepEqual(whole.packets, expected);
      const cuts = Array.from({ length: Math.ceil(all.length / 7) }, (_, i) => i * 7);
      const sevens = decodeChunks(detached(splitAt(all, cuts)), version);
      assert.equal(sevens.error, undefined);
      assert.deepEqual(sevens.packets, expected);
    });
  }
});

/** Whether `view` lies inside the memory of `chunk` (small Buffers share pooled ArrayBuffers, so
 *  comparing `.buffer` alone proves nothing). */
function inside(view: Uint8Array, chunk: Uint8Array): boolean {
  return view.buffer === chunk.buffer && view.byteOffset >= chunk.byteOffset &&
    view.byteOffset + view.length <= chunk.byteOffset + chunk.length;
}

function overlaps(view: Uint8Array, chunk: Uint8Array): boolean {
  return view.buffer === chunk.buffer && view.byteOffset < chunk.byteOffset + chunk.length &&
    chunk.byteOffset < view.byteOffset + view.length;
}

describe('zero copy', () => {
  // QoS 1 PUBLISH, packet id 7, Correlation Data 01 02, payload 'hi!'
  const publish = hex('32 0e 00 01 74 00 07 05 09 00 02 01 02 68 69 21');

  test('a PUBLISH in one chunk has its payload and binary properties as views of the chunk', () => {
    const chunk = Buffer.concat([hex('c0 00'), publish, hex('d0 00')]);
    const { packets, error } = decodeChunks([chunk], 5);
    assert.equal(error, undefined);
    const p = packets[1] as PublishPacket;
    assert.equal(p.payload.toString(), 'hi!');
    assert.ok(inside(p.payload, chunk));
    assert.equal(p.payload.byteOffset, chunk.byteOffset + 2 + publish.length - 3);
    assert.ok(inside(p.properties!.correlationData!, chunk));
    // Writing into the chunk shows through the view: it is not a copy.
    chunk[2 + publish.length - 1] = 0x3f;
    assert.equal(p.payload.toString(), 'hi?');
  });

  test('a PUBLISH whose header straddles chunks but whose body does not is still a view', () => {
    const first = Buffer.from(publish.subarray(0, 1));
    const second = Buffer.from(publish.subarray(1));
    const { packets } = decodeChunks([first, second], 5);
    const p = packets[0] as PublishPacket;
    assert.ok(inside(p.payload, second));
  });

  test('a PUBLISH straddling chunks is copied once and survives reuse of the chunks', () => {
    for (let cut = 3; cut < publish.length; cut++) {
      const a = Buffer.from(publish.subarray(0, cut));
      const c = Buffer.from(publish.subarray(cut));
      const run = decodeChunks([a], 5);
      a.fill(0xee); // the transport may reuse its read buffer once push() returned
      assert.equal(run.decoder.push(c), undefined);
      c.fill(0xee);
      const p = run.packets[0] as PublishPacket;
      assert.equal(p.payload.toString(), 'hi!', `cut at ${cut}`);
      assert.deepEqual(p.properties?.correlationData, Buffer.from([1, 2]));
      assert.ok(!overlaps(p.payload, a) && !overlaps(p.payload, c));
    }
  });

  test('a large straddling body grows as it arrives and decodes whole', () => {
    const payload = Buffer.alloc(300_000, 0x61);
    const bytes = encodePacket({ type: 3, topic: 'big', payload, qos: 0, retain: false, dup: false }, 4);
    const cuts = [1, 2, 3, 1000, 70_000, 70_001, 200_000];
    const run = decodeChunks(detached(splitAt(bytes, cuts)), 4);
    assert.equal(run.error, undefined);
    assert.deepEqual((run.packets[0] as PublishPacket).payload, payload);
  });
});

describe('encodePublishHeader', () => {
  test('header + payload is the whole packet, and the packet id offset points at the id', () => {
    const cases: Array<[PublishPacket, ProtocolVersion]> = [
      [{ type: 3, topic: 'a/b', payload: Buffer.from('x'.repeat(130)), qos: 1, retain: false, dup: false, packetId: 0x0102 }, 4],
      [{ type: 3, topic: 'é', payload: Buffer.from('y'), qos: 2, retain: true, dup: true, packetId: 0xfffe, properties: { contentType: 'c' } }, 5],
      [{ type: 3, topic: 't', payload: Buffer.alloc(20_000), qos: 0, retain: false, dup: false }, 5],
    ];
    for (const [p, version] of cases) {
      const { header, packetIdOffset } = encodePublishHeader(p, version);
      assert.deepEqual(Buffer.concat([header, p.payload]), encodePacket(p, version));
      if (p.qos === 0) assert.equal(packetIdOffset, -1);
      else assert.equal(header.readUInt16BE(packetIdOffset), p.packetId);
    }
  });
});
