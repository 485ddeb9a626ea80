/**
 * Outgoing PUBLISH templates (src/connection/publish-encoder.ts, template-ring.ts): every delivery of
 * a message is byte for byte the packet the encoder would write for it (packet id, DUP, version),
 * whether it was encoded, copied from the template or encoded again because the template ring moved
 * on; small templates are always copied out of the ring, large payloads are never copied.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodePacket } from '../../src/codec/encoder';
import type { ProtocolVersion, PublishPacket, QoS } from '../../src/codec/packets';
import { writeShared, type ByteOut } from '../../src/connection/publish-encoder';
import { MAX_RING_TEMPLATE, templateRing } from '../../src/connection/template-ring';
import { Message } from '../../src/routing/message';

/** Records writes by reference and appends as copies (as a socket's batched output does). */
class Out implements ByteOut {
  readonly pieces: { bytes: Buffer; copied: boolean }[] = [];
  private last = Buffer.alloc(0);
  write(b: Buffer): void {
    this.pieces.push({ bytes: b, copied: false });
  }
  append(b: Buffer): number {
    this.last = Buffer.from(b);
    this.pieces.push({ bytes: this.last, copied: true });
    return 0;
  }
  get tail(): Buffer {
    return this.last;
  }
  all(): Buffer {
    return Buffer.concat(this.pieces.map((p) => p.bytes));
  }
}

function expected(msg: Message, version: ProtocolVersion, qos: QoS, packetId: number, dup: boolean): Buffer {
  const p: PublishPacket = { type: 3, topic: msg.topic, payload: msg.payload, qos, retain: false, dup: qos > 0 && dup };
  if (qos > 0) p.packetId = packetId;
  return encodePacket(p, version);
}

function deliver(msg: Message, version: ProtocolVersion, qos: QoS, packetId: number, dup = false): Out {
  const out = new Out();
  const n = writeShared(msg, version, qos, false, packetId, dup, 1 << 20, out);
  assert.equal(n, out.all().length);
  return out;
}

const message = (payloadSize: number, qos: QoS = 1): Message => new Message('a/b', Buffer.alloc(payloadSize, 7), qos, false, undefined, 0, 'c');

describe('PUBLISH templates', () => {
  for (const version of [4, 5] as const) {
    test(`v${version}: the first delivery and every copy are the packet for that delivery (packet id, DUP)`, () => {
      const msg = message(64);
      assert.deepEqual(deliver(msg, version, 1, 1).all(), expected(msg, version, 1, 1, false));
      assert.deepEqual(deliver(msg, version, 1, 0xabcd, true).all(), expected(msg, version, 1, 0xabcd, true));
      assert.deepEqual(deliver(msg, version, 1, 7).all(), expected(msg, version, 1, 7, false), 'DUP cleared again');
      assert.deepEqual(deliver(msg, version, 0, 0).all(), expected(msg, version, 0, 0, false));
      assert.deepEqual(deliver(msg, version, 0, 0).all(), expected(msg, version, 0, 0, false));
    });
  }

  test('a small template is always copied out of the ring, never handed over by reference', () => {
    const msg = message(64, 0);
    for (let i = 0; i < 3; i++) {
      const out = deliver(msg, 4, 0, 0);
      assert.ok(out.pieces.every((p) => p.copied), `delivery ${i} was written by reference`);
    }
  });

  test('after the ring wraps, a later delivery encodes again and is still right', () => {
    const msg = message(100);
    deliver(msg, 4, 1, 1);
    const generation = templateRing.generation;
    // Fill the ring round until it wraps, writing over every byte of it.
    while (templateRing.generation === generation) templateRing.take(MAX_RING_TEMPLATE).fill(0xee);
    templateRing.take(MAX_RING_TEMPLATE).fill(0xee);
    assert.deepEqual(deliver(msg, 4, 1, 2).all(), expected(msg, 4, 1, 2, false));
    assert.deepEqual(deliver(msg, 4, 0, 0).all(), expected(msg, 4, 0, 0, false));
  });

  test('a large payload is not in the ring and not copied per subscriber', () => {
    const msg = message(MAX_RING_TEMPLATE * 4);
    const first = deliver(msg, 4, 0, 0);
    assert.deepEqual(first.all(), expected(msg, 4, 0, 0, false));
    const second = deliver(msg, 4, 0, 0);
    assert.equal(second.pieces[0]!.copied, false, 'QoS 0: the template itself');
    assert.equal(second.pieces[0]!.bytes, first.pieces[0]!.bytes, 'the same Buffer for every QoS 0 subscriber');
    const q1 = deliver(msg, 4, 1, 9);
    deliver(msg, 4, 1, 10);
    const q1again = deliver(msg, 4, 1, 11);
    assert.deepEqual(q1again.all(), expected(msg, 4, 1, 11, false));
    assert.equal(q1again.pieces.length, 2, 'a patched header, then the payload');
    assert.equal(q1again.pieces[1]!.copied, false);
    assert.equal(q1again.pieces[1]!.bytes.buffer, q1.pieces[0]!.bytes.buffer, 'the payload is a view of the template');
  });
});
