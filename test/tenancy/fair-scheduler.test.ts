/**
 * The fair scheduler's turn slices (src/tenant/fair-scheduler.ts), driven directly: a heavy tenant
 * past its slice of a turn has the rest of its chunks held — split where the slice ends — and handled
 * in order two turns later, its connection paused meanwhile; a light tenant is never held and is
 * marked light; nothing is lost or handled twice; stop() hands back whatever is still held. Once
 * HELD_BYTES are held for a tenant, its other connections wait in line, paused, and read again a few
 * at a time: what is held stays about HELD_BYTES however many connections flood.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FairScheduler, type FairTenant, type Pausable } from '../../src/tenant/fair-scheduler';
import { HELD_BYTES, LINE_STEP } from '../../src/tenant/read-line';

class FakeConn implements Pausable {
  fairChunks: Buffer[] | undefined = undefined;
  waitingToRead = false;
  inputBlocked = false;
  session: { pendingCount: number } | undefined = undefined;
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
    fairHeldBytes: 0,
    fairWaiting: undefined,
    fairAdmit: 0,
    fairReading: undefined,
    fairSwept: false,
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

/** Shows `s` a busy loop with both tenants active (`warm` of A brings 200 kB, `quiet` of B 50 B): slices apply from then on. */
function warmUp(s: FairScheduler, a: FairTenant, b: FairTenant, warm: FakeConn, quiet: FakeConn): void {
  s.tick();
  warm.read(s, a, pattern(200_000));
  quiet.read(s, b, pattern(50));
  busy(25);
  s.tick();
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
  warmUp(s, a, b, a1, b1);
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
    // The loop waits (idles) for the rest of the interval: long enough that the work before it stays
    // well under half the interval even when other processes take the CPU from it (the test suite
    // runs files in parallel; at 25 ms this failed now and then).
    await new Promise((r) => setTimeout(r, 150));
    s.tick();
    a1.read(s, a, big);
    assert.equal(a1.bytes().length, 400_000, 'not busy: nothing held');
    assert.equal(a.turnPaused, false);
    assert.equal(b.fairLight, false);
    s.stop();
  });
});

/** A connection of a simulated client that has `total` bytes to send, `chunk` at a time, read whenever it is not paused. */
class Sender extends FakeConn {
  sent = 0;
  constructor(
    readonly total: number,
    readonly chunk: number,
    readonly start: number,
  ) {
    super();
  }
  /** What libuv does in a turn for a readable socket that is not paused: read what the client sent. */
  poll(s: FairScheduler, t: FairTenant): void {
    if (this.paused || this.sent >= this.total) return;
    const n = Math.min(this.chunk, this.total - this.sent);
    this.read(s, t, pattern(n, this.start + this.sent));
    this.sent += n;
  }
  done(): boolean {
    return this.bytes().equals(pattern(this.total, this.start));
  }
}

/** Tenants A (with `senders`) and B on a scheduler that has seen a busy loop with both active. */
async function loadedWith(senders: Sender[]): Promise<{ s: FairScheduler; a: FairTenant; b: FairTenant; b1: FakeConn }> {
  await new Promise((r) => setTimeout(r, 1));
  const s = new FairScheduler(OPTIONS);
  const warm = new FakeConn();
  const b1 = new FakeConn();
  const a = tenant('A', [warm, ...senders]);
  const b = tenant('B', [b1]);
  warmUp(s, a, b, warm, b1);
  a.connections.delete(warm);
  // Only turn slices here: no shares (they would pause A until a next tick that these tests do not run).
  a.fairAllowance = Infinity;
  b.fairAllowance = Infinity;
  return { s, a, b, b1 };
}

/** Bytes held for these connections. */
const heldBytes = (conns: FakeConn[]): number => conns.reduce((n, c) => n + (c.fairChunks ?? []).reduce((m, b) => m + b.length, 0), 0);

/** What may be held at most: HELD_BYTES, and a 64 KiB read of each connection let read since. */
const HELD_BOUND = HELD_BYTES + 2 * LINE_STEP * 65_536;

describe('fair scheduler: the line of connections waiting to read', () => {
  test('once HELD_BYTES are held the other connections wait in line, paused; every byte arrives, in order, and what is held stays bounded', async () => {
    const senders = Array.from({ length: 24 }, (_, i) => new Sender(400_000, 65_536, i * 7));
    const { s, a, b, b1 } = await loadedWith(senders);
    // One turn in which every socket is readable: the slice runs out and chunks are held ...
    for (const c of senders) c.poll(s, a);
    const held = heldBytes(senders);
    assert.ok(held >= HELD_BYTES && held < HELD_BYTES + 65_536, `reads stop once ${HELD_BYTES} bytes are held (${held})`);
    assert.equal(a.fairHeldBytes, held, 'the tenant counts what is held');
    const waiting = senders.filter((c) => c.waitingToRead);
    assert.ok(waiting.length >= senders.length - 6, `the rest wait in line (${waiting.length} of ${senders.length})`);
    for (const c of waiting) {
      assert.equal(c.paused, true, 'a connection in line is paused (its input stays in the kernel)');
      assert.equal(c.fairChunks, undefined);
      assert.equal(c.sent, 0, 'it read nothing');
    }
    assert.equal(a.fairWaiting?.length, waiting.length);
    let maxHeld = 0;
    for (let turns = 0; turns < 20_000 && !senders.every((c) => c.done()); turns++) {
      for (const c of senders) c.poll(s, a);
      b1.read(s, b, pattern(20));
      maxHeld = Math.max(maxHeld, heldBytes(senders));
      assert.equal(a.fairHeldBytes, heldBytes(senders), 'the count of held bytes does not drift');
      await nextTurn();
    }
    for (const [i, c] of senders.entries()) assert.ok(c.done(), `connection ${i} got ${c.bytes().length} of ${c.total} bytes (or out of order)`);
    assert.ok(maxHeld <= HELD_BOUND, `at most ${HELD_BOUND} bytes held at once (saw ${maxHeld}; 24 connections could hold ${24 * 65_536})`);
    assert.equal(b1.paused, false, 'B never waits in line');
    // The flood is over: the line empties and every connection reads again.
    for (let i = 0; i < 20 && a.fairWaiting !== undefined; i++) await nextTurn();
    assert.equal(a.fairWaiting, undefined);
    for (const c of senders) {
      assert.equal(c.paused, false);
      assert.equal(c.waitingToRead, false);
    }
    assert.equal(a.fairHeldBytes, 0);
    s.stop();
  });

  test('the line is served oldest first: no connection waits while later ones read again and again', async () => {
    const senders = Array.from({ length: 12 }, (_, i) => new Sender(10_000_000, 65_536, i));
    const { s, a } = await loadedWith(senders);
    const reads = senders.map(() => 0);
    const poll = (): void => {
      for (const [i, c] of senders.entries()) {
        const before = c.sent;
        c.poll(s, a);
        if (c.sent > before) reads[i]!++;
      }
    };
    for (let turn = 0; turn < 600; turn++) {
      poll();
      await nextTurn();
    }
    assert.ok(a.fairWaiting !== undefined, 'a line formed');
    const least = Math.min(...reads);
    const most = Math.max(...reads);
    assert.ok(least > 0, `every connection read (reads per connection: ${reads.join(' ')})`);
    assert.ok(most <= 2 * least + 2, `reads are shared evenly (${reads.join(' ')})`);
    s.stop();
  });

  test('a connection whose deliveries await acknowledgements never waits in line', async () => {
    const senders = Array.from({ length: 12 }, (_, i) => new Sender(1_000_000, 65_536, i));
    const subscriber = new Sender(1_000_000, 100, 0);
    subscriber.session = { pendingCount: 3 }; // deliveries in flight: its PUBACKs are what they wait for
    const { s, a } = await loadedWith([...senders, subscriber]);
    for (let turn = 0; turn < 200; turn++) {
      for (const c of senders) c.poll(s, a);
      subscriber.poll(s, a);
      assert.equal(subscriber.waitingToRead, false, `turn ${turn}: the subscriber is in line`);
      await nextTurn();
    }
    assert.ok(a.fairWaiting !== undefined, 'the others did form a line');
    const most = Math.max(...senders.map((c) => c.sent / c.chunk));
    assert.ok(subscriber.sent / subscriber.chunk >= most, `the subscriber read ${subscriber.sent / subscriber.chunk} times, a flooding connection up to ${most}`);
    s.stop();
  });

  test('once less is held, the line empties a few connections at a time, more each turn, until all read again', async () => {
    // Five connections flood and fill HELD_BYTES; 36 more have a little each to send.
    const big = Array.from({ length: 5 }, (_, i) => new Sender(65_536, 65_536, i));
    const small = Array.from({ length: 36 }, (_, i) => new Sender(200, 200, i));
    const senders = [...big, ...small];
    const { s, a } = await loadedWith(senders);
    for (const c of senders) c.poll(s, a);
    assert.equal(a.fairWaiting?.length, 36, 'the small senders wait in line behind the held chunks');
    const reading: number[] = [];
    for (let i = 0; i < 200 && !senders.every((c) => c.done() && !c.paused); i++) {
      await nextTurn();
      for (const c of senders) c.poll(s, a);
      reading.push(senders.filter((c) => !c.paused).length);
    }
    assert.equal(a.fairWaiting, undefined, `the line emptied (connections reading, turn by turn: ${reading.join(' ')})`);
    const steps = reading.filter((n, i) => n > 0 && (i === 0 || n !== reading[i - 1]));
    assert.ok(steps.length >= 3, `taken back in several growing steps, not all at once (${reading.join(' ')})`);
    for (const c of senders) {
      assert.ok(c.done(), 'every byte arrived');
      assert.equal(c.paused, false);
    }
    assert.equal(a.fairHeldBytes, 0);
    s.stop();
  });

  test('stop() and the end of slicing let every waiting connection read again', async () => {
    for (const end of ['stop', 'idle'] as const) {
      const senders = Array.from({ length: 10 }, (_, i) => new Sender(200_000, 65_536, i));
      const { s, a } = await loadedWith(senders);
      for (const c of senders) c.poll(s, a);
      assert.ok((a.fairWaiting?.length ?? 0) > 0);
      const waiting = senders.filter((c) => c.waitingToRead);
      if (end === 'stop') {
        s.stop();
      } else {
        // Slices stay on for half a second after the loop was last busy; then a tick ends them.
        a.turnPaused = true; // (as if in the middle of its turns: only the end of slicing lets the line go)
        await new Promise((r) => setTimeout(r, 550));
        s.tick();
      }
      for (const c of waiting) {
        assert.equal(c.paused, false, `${end}: a connection that waited reads again`);
        assert.equal(c.waitingToRead, false);
      }
      assert.equal(a.fairWaiting, undefined, end);
      s.stop();
    }
  });

  test('line.leave: a connection in line about to await acknowledgements reads again at once; its place in line is passed over', async () => {
    const senders = Array.from({ length: 10 }, (_, i) => new Sender(200_000, 65_536, i));
    const { s, a } = await loadedWith(senders);
    for (const c of senders) c.poll(s, a);
    const waiting = senders.filter((c) => c.waitingToRead);
    assert.ok(waiting.length >= 3);
    const leaver = waiting[1]!;
    s.line.leave(leaver);
    assert.equal(leaver.paused, false, 'it reads again at once');
    assert.equal(leaver.waitingToRead, false);
    for (let i = 0; i < 5_000 && !senders.every((c) => c.done()); i++) {
      for (const c of senders) c.poll(s, a);
      await nextTurn();
    }
    for (const [i, c] of senders.entries()) assert.ok(c.done(), `connection ${i} got every byte, in order`);
    s.stop();
  });

  test('forget: what is held for a connection that closed no longer counts, and the line moves on', async () => {
    const senders = Array.from({ length: 5 }, (_, i) => new Sender(65_536, 65_536, i));
    const quiet = Array.from({ length: 10 }, (_, i) => new Sender(100, 100, i));
    const { s, a } = await loadedWith([...senders, ...quiet]);
    for (const c of [...senders, ...quiet]) c.poll(s, a);
    assert.ok(a.fairHeldBytes >= HELD_BYTES);
    assert.equal(quiet.filter((c) => c.waitingToRead).length, 10);
    // The flooding clients go away (say, taken over) while the tenant is paused in its turns.
    for (const c of senders) {
      c.closed = true;
      s.forget(a, c);
    }
    assert.equal(a.fairHeldBytes, 0, 'nothing counts as held any more');
    for (let i = 0; i < 40 && !quiet.every((c) => c.done() && !c.paused); i++) {
      await nextTurn();
      for (const c of quiet) c.poll(s, a);
    }
    for (const c of quiet) {
      assert.ok(c.done(), 'the connections in line read again');
      assert.equal(c.paused, false);
    }
    s.stop();
  });

  test('input held for connections blocked for another reason does not keep the line shut: each interval lets some read', async () => {
    const senders = Array.from({ length: 5 }, (_, i) => new Sender(65_536, 65_536, i));
    const quiet = Array.from({ length: 8 }, (_, i) => new Sender(100, 100, i));
    const { s, a, b, b1 } = await loadedWith([...senders, ...quiet]);
    for (const c of [...senders, ...quiet]) c.poll(s, a);
    for (const c of senders) c.inputBlocked = true; // say, their subscriber fell behind
    for (let i = 0; i < 10; i++) await nextTurn();
    assert.equal(quiet.filter((c) => c.paused).length, 8, 'the line waits while the held input is blocked');
    // Intervals end (the loop stays shared with B, so slices stay on).
    for (let i = 0; i < 2; i++) {
      b1.read(s, b, pattern(50));
      busy(12);
      s.tick();
      a.fairAllowance = Infinity;
      b.fairAllowance = Infinity;
      for (let j = 0; j < 3; j++) {
        await nextTurn();
        for (const c of quiet) c.poll(s, a);
      }
    }
    const read = quiet.filter((c) => c.done()).length;
    assert.ok(read >= 2 * LINE_STEP, `${read} of 8 connections in line read after two intervals`);
    s.stop();
  });

  test('no line forms while the loop is not sliced, however much is held for connections blocked for another reason', async () => {
    const { s, a } = await fresh();
    const publishers = Array.from({ length: 5 }, () => new FakeConn());
    const a2 = new FakeConn();
    for (const c of [...publishers, a2]) a.connections.add(c);
    // An idle loop: no slices. Backpressure leaves undecoded input with the scheduler (holdFirst).
    s.tick();
    for (const c of publishers) s.holdFirst(a, c, pattern(65_536));
    assert.ok(a.fairHeldBytes >= HELD_BYTES);
    assert.equal(a2.paused, false, 'the tenant\'s other connection goes on reading');
    assert.equal(a.fairWaiting, undefined);
    s.stop();
  });
});
