/**
 * The fair scheduler's turn slices (src/tenant/fair-scheduler.ts), driven directly: a heavy tenant
 * past its slice of a turn has the rest of its chunks held — split where the slice ends — and handled
 * in order two turns later, its connection paused meanwhile; a light tenant is never held and is
 * marked light; nothing is lost or handled twice; stop() hands back whatever is still held.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FairScheduler, type FairTenant, type Pausable } from '../../src/tenant/fair-scheduler';

class FakeConn implements Pausable {
  fairChunks: Buffer[] | undefined = undefined;
  inputBlocked = false;
  closed = false;
  paused = false;
  pauses = 0;
  readonly got: Buffer[] = [];
  pauseForFairness(): void {
    this.paused = true;
    this.pauses++;
  }
  resumeFromFairness(): void {
    this.paused = false;
  }
  consumeHeld(chunk: Buffer): void {
    this.got.push(chunk);
  }
  /** What a connection does with a chunk it reads: handles the part the scheduler lets through. */
  read(s: FairScheduler, t: FairTenant, chunk: Buffer): void {
    const now = s.admit(t, this, chunk);
    if (now !== undefined) this.got.push(now);
  }
  bytes(): Buffer {
    return Buffer.concat(this.got);
  }
}

function tenant(id: string, conns: FakeConn[]): FairTenant {
  return {
    id,
    fairBytes: 0,
    fairAllowance: Infinity,
    fairPaused: false,
    turnBytes: 0,
    turnMs: 0,
    turnPaused: false,
    fairLight: false,
    fairHeld: undefined,
    connections: new Set(conns),
    settings: { fairnessWeight: 1 },
  };
}

/** A chunk whose bytes count up from `start` (mod 256), so order and duplicates show. */
function pattern(length: number, start = 0): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (start + i) & 0xff;
  return b;
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

const OPTIONS = { intervalMs: 20, targetUtilization: 0.85, sliceUtilization: 0.5, sliceMs: 0.25, soloSliceMs: 1 };

/** A new scheduler and tenants A and B with a connection each (utilization reads 0 until the loop has run a turn). */
async function fresh(): Promise<{ s: FairScheduler; a: FairTenant; b: FairTenant; a1: FakeConn; b1: FakeConn }> {
  await new Promise((r) => setTimeout(r, 1));
  const a1 = new FakeConn();
  const b1 = new FakeConn();
  return { s: new FairScheduler(OPTIONS), a: tenant('A', [a1]), b: tenant('B', [b1]), a1, b1 };
}

/** A scheduler that has seen a busy loop with two active tenants: slices apply from now on. */
async function loaded(): Promise<{ s: FairScheduler; a: FairTenant; b: FairTenant; a1: FakeConn; a2: FakeConn; b1: FakeConn }> {
  // Event-loop utilization reads 0 until the loop has run a turn.
  await new Promise((r) => setTimeout(r, 1));
  const s = new FairScheduler(OPTIONS);
  const a1 = new FakeConn();
  const a2 = new FakeConn();
  const b1 = new FakeConn();
  const a = tenant('A', [a1, a2]);
  const b = tenant('B', [b1]);
  s.tick();
  a1.read(s, a, pattern(200_000));
  b1.read(s, b, pattern(50));
  busy(25);
  s.tick();
  a1.got.length = 0;
  b1.got.length = 0;
  return { s, a, b, a1, a2, b1 };
}

describe('fair scheduler: turn slices', () => {
  test('a busy loop with two active tenants: the quiet one is light, the flood is not', async () => {
    const { s, a, b } = await loaded();
    assert.equal(b.fairLight, true, 'B brought 50 bytes of 200,050');
    assert.equal(a.fairLight, false);
    s.stop();
    assert.equal(b.fairLight, false, 'stop() clears light marks');
  });

  test('past its slice a tenant is held, split where the slice ends, and handled in order two turns later', async () => {
    const { s, a, b, a1, a2, b1 } = await loaded();
    const first = pattern(30_000);
    const second = pattern(7_000, 30_000 & 0xff);
    a1.read(s, a, first);
    const let1 = a1.bytes().length;
    assert.ok(let1 > 0 && let1 < first.length, `the chunk is split at the slice (${let1} of ${first.length} now)`);
    assert.equal(a.turnPaused, true);
    assert.equal(a1.paused, true, 'the connection with held bytes is paused');
    a1.read(s, a, second);
    a2.read(s, a, pattern(500));
    assert.equal(a2.got.length, 0, 'past the slice, a whole chunk is held');
    assert.equal(a2.paused, true);
    b1.read(s, b, pattern(100));
    assert.equal(b1.bytes().length, 100, 'B is never held');
    assert.equal(b1.paused, false);

    await nextTurn();
    assert.equal(a1.bytes().length, let1, 'nothing held is handled in the next turn: it belongs to the others');
    await nextTurn();
    assert.ok(a1.bytes().length > let1, 'held bytes are handled in the turn after');

    for (let i = 0; i < 400 && (a.fairHeld !== undefined || a.turnPaused); i++) await nextTurn();
    assert.deepEqual(a1.bytes(), Buffer.concat([first, second]), 'A1 got every byte once, in order');
    assert.deepEqual(a2.bytes(), pattern(500));
    assert.equal(a1.fairChunks, undefined);
    assert.equal(a1.paused, false, 'resumed once its held chunks were handled');
    assert.equal(a2.paused, false);
    s.stop();
  });

  test('a connection with held chunks keeps its order even after its tenant may read again', async () => {
    const { s, a, a1 } = await loaded();
    a1.read(s, a, pattern(20_000));
    assert.equal(a.turnPaused, true);
    // Two turns pass: the tenant may read again, but a1 still has held bytes; a new chunk queues behind.
    await nextTurn();
    await nextTurn();
    a1.read(s, a, pattern(10, 20_000 & 0xff));
    for (let i = 0; i < 400 && a.fairHeld !== undefined; i++) await nextTurn();
    assert.deepEqual(a1.bytes(), pattern(20_010));
    s.stop();
  });

  test('stop() hands every held chunk to its connection', async () => {
    const { s, a, a1, a2 } = await loaded();
    a1.read(s, a, pattern(50_000));
    a2.read(s, a, pattern(3_000));
    assert.ok(a1.bytes().length < 50_000);
    s.stop();
    assert.deepEqual(a1.bytes(), pattern(50_000));
    assert.deepEqual(a2.bytes(), pattern(3_000));
    assert.equal(a1.paused, false);
    assert.equal(a2.paused, false);
    assert.equal(a.fairHeld, undefined);
  });

  test('a connection blocked for another reason keeps its held chunks; the others go on; unblocked() resumes it', async () => {
    const { s, a, a1, a2 } = await loaded();
    a1.read(s, a, pattern(20_000));
    a2.read(s, a, pattern(4_000));
    a1.inputBlocked = true; // say, a subscriber it feeds fell behind
    const before = a1.bytes().length;
    for (let i = 0; i < 20; i++) await nextTurn();
    assert.equal(a1.bytes().length, before, 'a blocked connection is not fed behind its back');
    assert.deepEqual(a2.bytes(), pattern(4_000), 'the tenant\'s other connection went on');
    assert.equal(a1.paused, true);
    a1.inputBlocked = false;
    s.unblocked(a);
    for (let i = 0; i < 20 && a.fairHeld !== undefined; i++) await nextTurn();
    assert.deepEqual(a1.bytes(), pattern(20_000));
    assert.equal(a1.paused, false);
    s.stop();
  });

  test('holdFirst puts undecoded input ahead of what is already held; a closed connection drops its chunks', async () => {
    const { s, a, a1, a2 } = await loaded();
    a1.read(s, a, pattern(20_000, 10)); // split: the end is held
    const handled = a1.bytes().length;
    s.holdFirst(a, a1, pattern(10)); // what the decoder left when it yielded: it came first
    a2.read(s, a, pattern(100));
    a2.closed = true;
    for (let i = 0; i < 40 && a.fairHeld !== undefined; i++) await nextTurn();
    assert.deepEqual(a1.bytes().subarray(handled), Buffer.concat([pattern(10), pattern(20_000, 10).subarray(handled)]));
    assert.equal(a2.bytes().length, 0, 'nothing is handled for a closed connection');
    assert.equal(a.fairHeld, undefined);
    s.stop();
  });

  test('time counts as well as bytes: a tenant past sliceMs of real work waits for its next turn', async () => {
    const { s, a, a1 } = await loaded();
    a1.read(s, a, pattern(100)); // far below the byte slice
    assert.equal(a.turnPaused, false);
    s.spent(a, 0.3); // but it took 0.3 ms (sliceMs 0.25)
    assert.equal(a.turnPaused, true);
    a1.read(s, a, pattern(100, 100));
    assert.equal(a1.bytes().length, 100, 'the next chunk is held');
    for (let i = 0; i < 10 && a.fairHeld !== undefined; i++) await nextTurn();
    assert.deepEqual(a1.bytes(), pattern(200));
    s.stop();
  });

  test('a busy loop with one active tenant slices it at soloSliceMs: a tenant that starts sending is not stuck behind it', async () => {
    const { s, a, b, a1, b1 } = await fresh();
    s.tick();
    a1.read(s, a, pattern(200_000));
    busy(25);
    s.tick();
    a1.got.length = 0;
    assert.equal(a.fairLight, false, 'a lone tenant is never light');
    // A lone flood: a few megabytes arrive in one turn (the reads libuv does for a readable socket).
    const flood = pattern(4_000_000);
    a1.read(s, a, flood);
    const now = a1.bytes().length;
    assert.ok(now > 0 && now < flood.length, `the lone flood is sliced (${now} of ${flood.length} bytes in this turn)`);
    assert.equal(a.turnPaused, true);
    // B starts sending: it is not held, and A's held bytes wait for later turns.
    b1.read(s, b, pattern(60));
    assert.equal(b1.bytes().length, 60, 'B is handled in this turn');
    for (let i = 0; i < 20_000 && (a.fairHeld !== undefined || a.turnPaused); i++) await nextTurn();
    assert.deepEqual(a1.bytes(), flood, 'A got every byte once, in order');
    s.stop();
  });

  test('an idle loop never slices', async () => {
    const { s, a, b, a1, b1 } = await fresh();
    s.tick();
    const big = pattern(200_000);
    a1.read(s, a, big);
    b1.read(s, b, pattern(50));
    // The loop waits (idles) for the rest of the interval.
    await new Promise((r) => setTimeout(r, 25));
    s.tick();
    a1.read(s, a, big);
    assert.equal(a1.bytes().length, 400_000, 'not busy: nothing held');
    assert.equal(a.turnPaused, false);
    assert.equal(b.fairLight, false);
    s.stop();
  });
});
