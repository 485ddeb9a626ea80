/**
 * Fair scheduling under saturation (src/tenant/fair-scheduler.ts, ARCHITECTURE.md section 4): tenant A
 * floods QoS 0 from 20 connections as fast as TCP takes it while tenant B publishes 200 msg/s at QoS 1
 * to its own subscriber.
 *
 * The broker runs on this thread; A's flood (test/tenancy/fixtures/flood-worker.ts) and B's clients
 * (fixtures/latency-worker.ts) run in worker threads of their own, so that neither the flood's own
 * work nor B's timers share the broker's event loop. Every change of A's and B's `fairPaused` is
 * recorded by a property trap on their Tenant objects (exact, where sampling would miss short pauses).
 *
 * Asserted: B loses nothing, A is paused (broker.fairness.pauses moves, A's fairPaused goes true), B is
 * never paused, and B's p99 latency stays under a generous bound. B's p50/p99 with and without the
 * flood are logged. What the broker holds of A's input stays about HELD_BYTES (at most twice that,
 * sampled every 2 ms) however many connections A floods from, and every one of A's connections is
 * read from during the run: the others wait in line, their input in the kernel, none left behind.
 *
 * Automatic placement is off here: these tests measure sharing inside one process, which is what a
 * tenant gets when it cannot move (TLS or WebSocket clients); moving is tested in
 * test/background/auto-placement.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { HELD_BYTES } from '../../src/tenant/read-line';
import type { Connection } from '../../src/connection/connection';
import type { Tenant } from '../../src/tenant/tenant';
import type { LatencyRun } from './fixtures/latency-worker';
import { ALICE, BOB, Harness, eventually, percentile, sleep, withTimeout } from './util';

const h = new Harness();
const IN_PROCESS = { background: { auto: { enabled: false } } };
before(() => h.start({ fairness: { enabled: true, intervalMs: 20, targetUtilization: 0.5 }, ...IN_PROCESS }));
after(() => h.stop());

/** The next message of a worker (rejects on its error or after `ms`). */
function nextMessage<X>(w: Worker, ms = 20_000): Promise<X> {
  return withTimeout(
    new Promise<X>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    }),
    ms,
    'worker answer',
  );
}

/** Counts the times `t.fairPaused` is set to true (replaces the field with an accessor). */
function trapPauses(t: Tenant): { count: number; restore: () => void } {
  const rec = { count: 0, restore: (): void => undefined };
  let value = t.fairPaused;
  Object.defineProperty(t, 'fairPaused', {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (v: boolean) => {
      if (v && !value) rec.count++;
      value = v;
    },
  });
  rec.restore = (): void => {
    Object.defineProperty(t, 'fairPaused', { configurable: true, enumerable: true, writable: true, value });
  };
  return rec;
}

/** Samples how many of a tenant's connections hold input, and counts the bytes each one reads. */
function watchInput(t: Tenant): {
  maxHolding: number;
  maxHeldBytes: number;
  samples: number;
  /** Samples in which a connection waited in line although deliveries to it awaited acknowledgements. */
  inLineAwaitingAcks: number;
  /** Samples in which some connection of the tenant waited in line. */
  withLine: number;
  readBytes: () => number[];
  stop: () => void;
} {
  const conns = [...t.connections] as Connection[];
  const bytes = conns.map(() => 0);
  conns.forEach((c, i) => {
    const onData = c.onData.bind(c);
    c.onData = (chunk: Buffer): void => {
      bytes[i]! += chunk.length;
      onData(chunk);
    };
  });
  const rec = { maxHolding: 0, maxHeldBytes: 0, samples: 0, inLineAwaitingAcks: 0, withLine: 0, readBytes: () => bytes.slice(), stop: (): void => undefined };
  const timer = setInterval(() => {
    let holding = 0;
    let held = 0;
    let inLine = 0;
    for (const c of conns) {
      if (c.waitingToRead) {
        inLine++;
        if ((c.session?.pendingCount ?? 0) > 0) rec.inLineAwaitingAcks++;
      }
      if (c.fairChunks === undefined) continue;
      holding++;
      for (const chunk of c.fairChunks) held += chunk.length;
    }
    if (inLine > 0) rec.withLine++;
    rec.samples++;
    rec.maxHolding = Math.max(rec.maxHolding, holding);
    rec.maxHeldBytes = Math.max(rec.maxHeldBytes, held);
  }, 2);
  rec.stop = (): void => {
    clearInterval(timer);
    for (const c of conns) delete (c as Partial<Connection>).onData;
  };
  return rec;
}

function describeRun(r: LatencyRun): string {
  const l = r.latencies;
  return `sent ${r.sent}, received ${r.received}, p50 ${percentile(l, 50).toFixed(1)} ms, p99 ${percentile(l, 99).toFixed(1)} ms, max ${(l.at(-1) ?? NaN).toFixed(1)} ms`;
}

describe('fairness', () => {
  test('a flooding tenant is paused; the other tenant loses nothing, keeps its latency and is never paused', { timeout: 60_000 }, async () => {
    const fairness = h.broker.fairness;
    assert.ok(fairness, 'broker.fairness is not set although fairness is enabled');
    const b = new Worker(join(__dirname, 'fixtures', 'latency-worker.js'), { workerData: { port: h.port, username: BOB, topic: 'fair/b' } });
    let flood: Worker | undefined;
    const traps: { count: number; restore: () => void }[] = [];
    let input: ReturnType<typeof watchInput> | undefined;
    try {
      assert.equal(await nextMessage(b), 'ready');
      const quiet = await (b.postMessage({ run: { rate: 200, ms: 1500 } }), nextMessage<LatencyRun>(b));
      console.log(`# B alone:       ${describeRun(quiet)}`);
      assert.equal(quiet.received, quiet.sent, 'B lost messages without any flood');

      flood = new Worker(join(__dirname, 'fixtures', 'flood-worker.js'), {
        workerData: { port: h.port, connections: 20, username: ALICE, topic: 'flood/a', payloadSize: 32 },
      });
      assert.equal(await nextMessage(flood), 'ready');
      await eventually(() => h.broker.tenant('tenantA')?.usage.connections === 20, () => 'the flood is not connected');
      const tenantA = h.broker.tenant('tenantA')!;
      const tenantB = h.broker.tenant('tenantB')!;
      const trapA = trapPauses(tenantA);
      const trapB = trapPauses(tenantB);
      traps.push(trapA, trapB);
      await sleep(300); // the flood saturates the loop; the scheduler measures it
      input = watchInput(tenantA);
      const pausesBefore = fairness.pauses;
      const inA = tenantA.usage.messagesIn;
      const started = performance.now();
      const loaded = await (b.postMessage({ run: { rate: 200, ms: 2500 } }), nextMessage<LatencyRun>(b));
      const seconds = (performance.now() - started) / 1000;
      const flooded = tenantA.usage.messagesIn - inA;
      const pauses = fairness.pauses - pausesBefore;
      console.log(`# B under flood: ${describeRun(loaded)}`);
      const slow = loaded.series.map((l, n) => [n, l] as const).filter(([, l]) => l > 100);
      if (slow.length > 0) {
        // Stalls show as runs of sequence numbers whose latency falls by 5 ms (one send interval) each.
        const starts = slow.filter(([n], i) => i === 0 || slow[i - 1]![0] !== n - 1).map(([n, l]) => `#${n}:${l.toFixed(0)}ms`);
        console.log(`# B: ${slow.length} messages over 100 ms, in stalls starting at ${starts.join(' ')}`);
      }
      console.log(
        `# A flooded ${flooded} messages (${(flooded / seconds / 1000).toFixed(0)} k/s); fairness pauses ${pauses}, ` +
          `enforced intervals ${fairness.enforcedIntervals}; A paused ${trapA.count} times, B paused ${trapB.count} times`,
      );
      assert.ok(flooded > 0, 'the flood did not reach the broker');
      assert.equal(loaded.duplicates, 0, 'B got duplicates');
      assert.equal(loaded.received, loaded.sent, `B lost ${loaded.sent - loaded.received} of ${loaded.sent} messages`);
      assert.ok(pauses > 0, 'the flooding tenant A was never paused (broker.fairness.pauses did not move)');
      assert.ok(trapA.count > 0, "A's fairPaused never went true");
      assert.equal(trapB.count, 0, 'B was paused although it stayed within its share');
      input.stop();
      const read = input.readBytes();
      console.log(
        `# A's input held: at most ${input.maxHolding} of 20 connections, ${(input.maxHeldBytes / 1024).toFixed(0)} KiB (${input.samples} samples); ` +
          `read per connection ${(Math.min(...read) / 1e6).toFixed(2)}-${(Math.max(...read) / 1e6).toFixed(2)} MB`,
      );
      assert.ok(input.samples > 100, `too few samples of A's held input (${input.samples})`);
      assert.ok(input.maxHeldBytes <= 2 * HELD_BYTES, `${input.maxHeldBytes} bytes of A's input held at once`);
      assert.ok(Math.min(...read) > 0, `one of A's connections was never read from (bytes per connection: ${read.join(' ')})`);
      const p99 = percentile(loaded.latencies, 99);
      assert.ok(p99 < 200, `B's p99 latency under flood is ${p99.toFixed(1)} ms (alone: ${percentile(quiet.latencies, 99).toFixed(1)} ms)`);
    } finally {
      input?.stop();
      for (const t of traps) t.restore();
      if (flood) {
        flood.postMessage('stop');
        await nextMessage(flood, 3000).catch(() => undefined);
        await flood.terminate();
      }
      b.postMessage('stop');
      await nextMessage(b, 3000).catch(() => undefined);
      await b.terminate();
    }
  });
});

describe('fairness: a flood from many connections', () => {
  const many = new Harness();
  before(() => many.start({ fairness: { enabled: true }, ...IN_PROCESS }));
  after(() => many.stop());

  test('with the default settings, what is held of a flood from 80 connections stays about HELD_BYTES, every connection is read from, and a subscriber of the flooding tenant is never kept in line while its acknowledgements are awaited', { timeout: 60_000 }, async () => {
    const flood = new Worker(join(__dirname, 'fixtures', 'flood-worker.js'), {
      workerData: { port: many.port, connections: 80, username: ALICE, topic: 'flood/many', payloadSize: 32 },
    });
    let b: Worker | undefined;
    let a: Worker | undefined;
    let input: ReturnType<typeof watchInput> | undefined;
    try {
      assert.equal(await nextMessage(flood), 'ready');
      const tenantA = many.broker.tenant('tenantA')!;
      await eventually(() => tenantA.usage.connections === 80, () => 'the flood is not connected');
      // A QoS 1 publisher and subscriber of A itself, beside its flood; and B.
      a = new Worker(join(__dirname, 'fixtures', 'latency-worker.js'), { workerData: { port: many.port, username: ALICE, topic: 'acks/many' } });
      assert.equal(await nextMessage(a), 'ready');
      b = new Worker(join(__dirname, 'fixtures', 'latency-worker.js'), { workerData: { port: many.port, username: BOB, topic: 'fair/many' } });
      assert.equal(await nextMessage(b), 'ready');
      await sleep(300);
      input = watchInput(tenantA);
      // B keeps the loop shared by two tenants (slices apply) while the flood goes on.
      const [run, runA] = await Promise.all([
        (b.postMessage({ run: { rate: 200, ms: 2000 } }), nextMessage<LatencyRun>(b)),
        (a.postMessage({ run: { rate: 100, ms: 2000 } }), nextMessage<LatencyRun>(a)),
      ]);
      input.stop();
      const read = input.readBytes();
      console.log(
        `# A's input held: at most ${input.maxHolding} of 80 connections, ${(input.maxHeldBytes / 1024).toFixed(0)} KiB (${input.samples} samples); ` +
          `read per connection ${(Math.min(...read) / 1e6).toFixed(2)}-${(Math.max(...read) / 1e6).toFixed(2)} MB; B: ${describeRun(run)}`,
      );
      assert.ok(input.samples > 100, `too few samples of A's held input (${input.samples})`);
      assert.ok(input.maxHeldBytes <= 2 * HELD_BYTES, `${input.maxHeldBytes} bytes of A's input held at once (80 connections)`);
      assert.ok(Math.min(...read) > 0, `one of A's connections was never read from (bytes per connection: ${read.join(' ')})`);
      assert.equal(run.received, run.sent, `B lost ${run.sent - run.received} of ${run.sent} messages`);
      console.log(`# A's own QoS 1 pair: ${describeRun(runA)}; samples with a line ${input.withLine}`);
      assert.ok(input.withLine > 0, 'no connection of A ever waited in line');
      assert.equal(input.inLineAwaitingAcks, 0, 'a connection of A waited in line while deliveries to it awaited acknowledgements');
      assert.equal(runA.received, runA.sent, `A's QoS 1 subscriber lost ${runA.sent - runA.received} of ${runA.sent} messages`);
    } finally {
      input?.stop();
      flood.postMessage('stop');
      await nextMessage(flood, 3000).catch(() => undefined);
      await flood.terminate();
      for (const w of [a, b]) {
        if (!w) continue;
        w.postMessage('stop');
        await nextMessage(w, 3000).catch(() => undefined);
        await w.terminate();
      }
    }
  });
});
