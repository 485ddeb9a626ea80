/**
 * Fuzzing: random bytes, and random mutations of valid packets, never make push() throw. They give
 * packets or a DecodeError, after which the decoder is dead. Whatever is accepted re-encodes to
 * something that decodes to the same packet.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { encodePacket, type Packet, type ProtocolVersion } from '../../src/codec/index';
import * as arb from './arbitraries';
import { decodeChunks, normalise, splitAt } from './helpers';

const cuts = fc.array(fc.nat({ max: 300 }), { maxLength: 4 });

/** Decodes `bytes` split at `points`; checks the decoder's contract whatever happens. */
function decodeSafely(bytes: Buffer, version: ProtocolVersion, points: number[]): Packet[] {
  const run = decodeChunks(splitAt(bytes, points), version); // must not throw
  if (run.error !== undefined) {
    assert.match(run.error.code, /^RTK_DECODE_/);
    // Malformed, Protocol Error, Unsupported Protocol Version, Topic Alias invalid (alias 0), Packet Too Large.
    assert.ok([0x81, 0x82, 0x84, 0x94, 0x95].includes(run.error.reasonCode), `reason code 0x${run.error.reasonCode.toString(16)}`);
    assert.equal(run.decoder.push(Buffer.from([0xc0, 0])), run.error);
  }
  return run.packets;
}

/** Every accepted packet survives another trip through the encoder. */
function checkStable(packets: Packet[], version: ProtocolVersion): void {
  let v = version;
  for (const p of packets) {
    if (p.type === 1) v = p.protocolVersion; // a CONNECT switches the decoder's version
    const again = decodeChunks([encodePacket(p, v)], v);
    assert.equal(again.error, undefined);
    assert.deepEqual(again.packets.map((q) => normalise(q, v)), [normalise(p, v)]);
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), value: fc.constant(0) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), value: fc.constant(0) }),
);

type Mutation = { kind: 'set' | 'flip' | 'insert' | 'delete' | 'truncate'; at: number; value: number };

function mutate(bytes: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(bytes);
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'set': b[at] = m.value; break;
      case 'flip': b[at] = (b[at] as number) ^ (1 << m.value); break;
      case 'insert': b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)]); break;
      case 'delete': b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]); break;
      case 'truncate': b = b.subarray(0, at); break;
    }
  }
  return b;
}

describe('fuzz', () => {
  test('random bytes never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), arb.version, cuts, (raw, version, points) => {
        checkStable(decodeSafely(Buffer.from(raw), version, points), version);
      }),
      { numRuns: 10000 },
    );
  });

  test('random bytes behind a plausible first byte never throw', () => {
    const first = fc.integer({ min: 1, max: 15 }).chain((type) => fc.integer({ min: 0, max: 15 }).map((f) => (type << 4) | f));
    fc.assert(
      fc.property(first, fc.integer({ min: 0, max: 60 }), fc.uint8Array({ maxLength: 60 }), arb.version, cuts, (b0, len, body, version, points) => {
        const bytes = Buffer.concat([Buffer.from([b0, len]), body]);
        checkStable(decodeSafely(bytes, version, points), version);
      }),
      { numRuns: 10000 },
    );
  });

  test('mutations of valid packets never throw', () => {
    fc.assert(
      fc.property(
        arb.version.chain((v) => fc.tuple(fc.constant(v), fc.array(arb.packet(v), { minLength: 1, maxLength: 3 }))),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        cuts,
        ([version, packets], mutations, points) => {
          const bytes = mutate(Buffer.concat(packets.map((p) => encodePacket(p, version))), mutations);
          checkStable(decodeSafely(bytes, version, points), version);
        },
      ),
      { numRuns: 8000 },
    );
  });
});
