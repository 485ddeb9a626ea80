/**
 * The batched writer (src/transport/socket-writer.ts): what one turn queued reaches the sink at its
 * end, every byte once and in order; a lone buffer goes as it is; many small ones are copied into
 * chunks of at most 64 KB; large ones (shared payloads) are never copied; `append` returns where its
 * copy is, so it can be patched; chunks of 4 KB and more are reused once the sink has written them, and
 * never while it may still read them.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BatchedWriter, MAX_CHUNK, OWN_WRITE_SIZE, spareChunkCount, type ByteSink } from '../../src/transport/socket-writer';

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A sink that records each write, the order of cork/uncork, and holds completion until told. */
class RecordingSink implements ByteSink {
  readonly writes: Buffer[] = [];
  readonly pending: ((err?: Error | null) => void)[] = [];
  corked = 0;
  writableLength = 0;
  constructor(private readonly corkable = true) {
    if (!corkable) {
      this.cork = undefined;
      this.uncork = undefined;
    }
  }
  /** The buffers themselves, as a socket holds them until it has written them. */
  readonly held: Buffer[] = [];
  write(data: Buffer, done?: (err?: Error | null) => void): void {
    // A copy of what the sink saw at the moment it was handed over.
    this.writes.push(Buffer.from(data));
    this.held.push(data);
    if (done) this.pending.push(done);
  }
  cork?(): void {
    this.corked++;
  }
  uncork?(): void {
    this.corked--;
  }
  /** The sink has written everything: completion callbacks run. */
  complete(err?: Error): void {
    for (const cb of this.pending.splice(0)) cb(err ?? null);
  }
  all(): Buffer {
    return Buffer.concat(this.writes);
  }
}

class TestWriter extends BatchedWriter {
  constructor(readonly out: RecordingSink) {
    super();
  }
  protected get sink(): ByteSink {
    return this.out;
  }
  write(b: Buffer): void {
    this.queueBytes(b);
  }
}

function filled(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (seed * 31 + i) & 0xff;
  return b;
}

describe('BatchedWriter', () => {
  test('a lone buffer reaches the sink at the end of the turn as it is', async () => {
    const w = new TestWriter(new RecordingSink());
    const b = filled(80, 1);
    w.write(b);
    assert.equal(w.out.writes.length, 0, 'nothing before the end of the turn');
    assert.equal(w.pendingBytes, 80);
    await nextTurn();
    assert.deepEqual(w.out.writes, [b]);
    assert.equal(w.pendingBytes, 0);
  });

  test('thousands of small writes reach the sink as a few chunks of at most 64 KB, in order', async () => {
    const w = new TestWriter(new RecordingSink());
    const parts: Buffer[] = [];
    for (let i = 0; i < 5000; i++) {
      const b = filled(70 + (i % 20), i);
      parts.push(b);
      w.write(b);
    }
    await nextTurn();
    const expected = Buffer.concat(parts);
    assert.deepEqual(w.out.all(), expected, 'every byte once, in order');
    assert.ok(w.out.writes.length <= Math.ceil(expected.length / (MAX_CHUNK / 2)) + 1, `${w.out.writes.length} writes for ${expected.length} bytes`);
    for (const piece of w.out.writes) assert.ok(piece.length <= MAX_CHUNK);
    assert.equal(w.out.corked, 0, 'corked and uncorked once');
  });

  test('a large buffer is handed over by reference between copied runs of small ones', async () => {
    const seen: Buffer[] = [];
    const sink = new RecordingSink();
    sink.write = (data: Buffer): void => {
      seen.push(data);
    };
    const w = new TestWriter(sink);
    const small1 = filled(100, 1);
    const large = filled(OWN_WRITE_SIZE * 2, 2);
    const small2 = filled(100, 3);
    w.write(small1);
    w.write(filled(100, 4));
    w.write(large);
    w.write(small2);
    await nextTurn();
    assert.equal(seen.length, 3);
    assert.equal(seen[1], large, 'the very same Buffer object: not copied');
    assert.deepEqual(Buffer.concat(seen), Buffer.concat([small1, filled(100, 4), large, small2]));
  });

  test('append copies, returns the offset in tail, and the patch is what the sink gets', async () => {
    const w = new TestWriter(new RecordingSink());
    w.write(filled(10, 1));
    const template = Buffer.from([0x32, 5, 0, 1, 0x61, 0, 0, 0xaa, 0xbb]);
    const at = w.append(template);
    assert.ok(at >= 0);
    w.tail[at + 5] = 0x12;
    w.tail[at + 6] = 0x34;
    assert.deepEqual(template, Buffer.from([0x32, 5, 0, 1, 0x61, 0, 0, 0xaa, 0xbb]), 'the template itself is untouched');
    await nextTurn();
    assert.deepEqual(w.out.all(), Buffer.concat([filled(10, 1), Buffer.from([0x32, 5, 0, 1, 0x61, 0x12, 0x34, 0xaa, 0xbb])]));
  });

  test('full-size chunks are reused only after the sink has written them, and not after an error', async () => {
    const sink = new RecordingSink();
    const w = new TestWriter(sink);
    // Enough small writes for the writer to reach full-size chunks.
    const fill = (): void => {
      for (let i = 0; i < 4000; i++) w.write(filled(100, i));
    };
    fill();
    await nextTurn();
    fill();
    await nextTurn();
    assert.ok(sink.pending.length > 0, 'full-size chunks were handed over with a completion callback');
    // Not yet written: more turns must not reuse (and overwrite) what the sink still holds.
    fill();
    await nextTurn();
    sink.held.forEach((b, i) => assert.deepEqual(b, sink.writes[i], `write ${i} changed while the sink held it`));
    const before = spareChunkCount();
    sink.complete();
    assert.ok(spareChunkCount() > before, 'chunks return once written');
    fill();
    await nextTurn();
    const spare = spareChunkCount();
    sink.complete(new Error('EPIPE'));
    assert.equal(spareChunkCount(), spare, 'a failed write gives nothing back');
  });

  test('chunks smaller than 64 KB are reused too, once written: a steady flow allocates no new ones', async () => {
    const sink = new RecordingSink();
    const w = new TestWriter(sink);
    // About 10 KB a turn: after the first turn every turn starts with a 16 KB chunk.
    const turn = async (): Promise<void> => {
      for (let i = 0; i < 100; i++) w.write(filled(100, i));
      await nextTurn();
      sink.complete();
    };
    await turn();
    await turn();
    const chunksOf = (from: number): Set<ArrayBufferLike> => new Set(sink.held.slice(from).filter((b) => b.buffer.byteLength === 16 * 1024).map((b) => b.buffer));
    const before = sink.held.length;
    for (let i = 0; i < 20; i++) await turn();
    const used = chunksOf(before);
    assert.ok(used.size >= 1, 'no 16 KB chunk was used');
    assert.ok(used.size <= 2, `20 turns of the same size used ${used.size} different 16 KB chunks`);
    assert.deepEqual(Buffer.concat(sink.writes.slice(before)), Buffer.concat(Array.from({ length: 20 }, () => Array.from({ length: 100 }, (_, i) => filled(100, i))).flat()));
  });

  test('a sink that cannot cork (WebSocket) gets one write per turn', async () => {
    const w = new TestWriter(new RecordingSink(false));
    const parts = Array.from({ length: 3000 }, (_, i) => filled(90, i));
    for (const p of parts) w.write(p);
    await nextTurn();
    assert.equal(w.out.writes.length, 1);
    assert.deepEqual(w.out.all(), Buffer.concat(parts));
  });

  test('small writes between large ones go on filling one chunk', async () => {
    const w = new TestWriter(new RecordingSink());
    const expected: Buffer[] = [];
    for (let i = 0; i < 100; i++) {
      const header = filled(30, i);
      const payload = filled(OWN_WRITE_SIZE + 1000, i);
      expected.push(header, payload);
      w.write(header);
      w.write(payload);
    }
    await nextTurn();
    assert.deepEqual(w.out.all(), Buffer.concat(expected));
    const small = new Set(w.out.held.filter((b) => b.length < OWN_WRITE_SIZE).map((b) => b.buffer));
    assert.ok(small.size <= 2, `the 100 headers went into ${small.size} chunks`);
  });

  test('the first chunk of a turn is sized by what the last turn copied', async () => {
    const w = new TestWriter(new RecordingSink());
    for (let i = 0; i < 3000; i++) w.write(filled(100, i));
    await nextTurn();
    // A busy turn, then a quiet one (which still starts large), then one sized by the quiet one.
    for (let turn = 0; turn < 2; turn++) {
      for (let i = 0; i < 50; i++) w.write(filled(100, i));
      await nextTurn();
    }
    const last = w.out.held.at(-1)!;
    assert.equal(last.length, 5000);
    assert.ok(last.buffer.byteLength <= 8192, `a 5,000-byte turn held a chunk of ${last.buffer.byteLength} bytes`);
  });

  test('a sink that cannot cork gets a lone large buffer as it is', async () => {
    const w = new TestWriter(new RecordingSink(false));
    const big = filled(OWN_WRITE_SIZE * 2, 1);
    w.write(big);
    await nextTurn();
    assert.equal(w.out.held.length, 1);
    assert.equal(w.out.held[0], big);
  });

  test('after discard() nothing reaches the sink', async () => {
    const w = new TestWriter(new RecordingSink());
    w.write(filled(100, 1));
    w.write(filled(100, 2));
    w.discard();
    assert.equal(w.append(filled(5, 3)), -1);
    await nextTurn();
    assert.equal(w.out.writes.length, 0);
  });

  test('any mix of sizes, appends and turns: the sink gets every byte once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.record({ size: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 300, max: 40_000 })), append: fc.boolean() }), { maxLength: 60 }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (turns) => {
          const w = new TestWriter(new RecordingSink());
          const expected: Buffer[] = [];
          let seed = 0;
          for (const turn of turns) {
            for (const { size, append } of turn) {
              const b = filled(size, seed++);
              expected.push(Buffer.from(b));
              if (append) w.append(b);
              else w.write(b);
            }
            await nextTurn();
          }
          w.out.complete();
          assert.deepEqual(w.out.all(), Buffer.concat(expected));
        },
      ),
      { numRuns: 60 },
    );
  });
});
