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
 * flood are logged.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Tenant } from '../../src/tenant/tenant';
import type { LatencyRun } from './fixtures/latency-worker';
import { ALICE, BOB, Harness, eventually, percentile, sleep, withTimeout } from './util';

const h = new Harness();
before(() => h.start({ fairness: { enabled: true, intervalMs: 20, targetUtilization: 0.5 } }));
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
      const p99 = percentile(loaded.latencies, 99);
      assert.ok(p99 < 200, `B's p99 latency under flood is ${p99.toFixed(1)} ms (alone: ${percentile(quiet.latencies, 99).toFixed(1)} ms)`);
    } finally {
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
