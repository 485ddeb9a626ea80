/**
 * PacketDecoder.takeIncomplete: the bytes of a packet begun in one decoder, given to another (a
 * connection handed to the background process), decode there to the very packet the peer sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PacketDecoder } from '../../src/codec/decoder';
import { encodePacket } from '../../src/codec/encoder';
import type { Packet } from '../../src/codec/packets';

const packets: Packet[] = [
  { type: 3, topic: 'a/b', payload: Buffer.from('small'), qos: 1, packetId: 7, retain: false, dup: false },
  // A remaining length of three bytes, so a split can fall inside it.
  { type: 3, topic: 'big', payload: Buffer.alloc(20_000, 1), qos: 0, retain: true, dup: false },
  { type: 12 },
  { type: 8, packetId: 9, subscriptions: [{ filter: 'x/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 }] },
];

function decodeAll(decoder: PacketDecoder, ...chunks: Buffer[]): void {
  for (const c of chunks) assert.equal(decoder.push(c), undefined);
}

test('every split of a stream: what one decoder began, another finishes, and the packets are those sent', () => {
  const stream = Buffer.concat(packets.map((p) => encodePacket(p, 4)));
  const expected = packets.map((p) => encodePacket(p, 4).toString('hex'));
  const boundaries = new Set<number>();
  for (let at = 0, i = 0; i < packets.length; i++) boundaries.add((at += encodePacket(packets[i]!, 4).length));
  // Every byte of the small packets and of the big one's header, then strides through its body.
  const splits: number[] = [];
  for (let at = 1; at < stream.length; at += at < 40 ? 1 : 997) splits.push(at);
  let begun = 0;
  for (const at of splits) {
    const got: Packet[] = [];
    const first = new PacketDecoder({ onPacket: (p) => got.push(p) }, { protocolVersion: 4 });
    decodeAll(first, stream.subarray(0, at));
    const incomplete = first.takeIncomplete();
    assert.equal(incomplete === undefined, boundaries.has(at), `split at ${at}: a packet begun is ${incomplete === undefined ? 'missing' : 'invented'}`);
    if (incomplete !== undefined) begun++;
    assert.equal(first.takeIncomplete(), undefined, 'taken twice');
    const second = new PacketDecoder({ onPacket: (p) => got.push(p) }, { protocolVersion: 4 });
    decodeAll(second, ...(incomplete ? [incomplete] : []), stream.subarray(at));
    assert.deepEqual(got.map((p) => encodePacket(p, 4).toString('hex')), expected, `split at ${at}`);
  }
  assert.ok(begun > 30);
});

test('a remaining length sent in more bytes than needed is handed on as sent', () => {
  // PINGREQ with its remaining length 0 written in two bytes (0x80 0x00), split after the first.
  const got: Packet[] = [];
  const first = new PacketDecoder({ onPacket: (p) => got.push(p) }, { protocolVersion: 4 });
  first.push(Buffer.from([0xc0, 0x80]));
  const incomplete = first.takeIncomplete();
  assert.deepEqual([...incomplete!], [0xc0, 0x80]);
  const second = new PacketDecoder({ onPacket: (p) => got.push(p) }, { protocolVersion: 4 });
  second.push(Buffer.concat([incomplete!, Buffer.from([0x00])]));
  assert.deepEqual(got.map((p) => p.type), [12]);
});
