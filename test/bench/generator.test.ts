/**
 * The load generator against a real Ratatosk broker in this process: exact accounting per
 * publisher/subscriber pair at QoS 0, 1 and 2 over MQTT 3.1.1 and 5, injected loss is reported as
 * loss, and the JSON output parses. Short fixed-rate runs, so the shared event loop is never busy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker';
import { runBench } from '../../src/bench/cli';
import { benchOptions, parseBenchArgs, type BenchOptions } from '../../src/bench/options';
import type { BenchReport } from '../../src/bench/report';
import { runGenerator } from '../../src/bench/run';
import { Histogram } from '../../src/bench/histogram';
import { makePlan, topicMatches } from '../../src/bench/plan';

const T = { timeout: 15_000 };
let tb: TestBroker;
before(async () => {
  // Queues as deep as the comparison runner gives every broker (Mosquitto's max_queued_messages):
  // at an unlimited rate the default of 1,000 drops QoS 1 messages by design.
  tb = await startBroker({ tenants: { default: { inboxSize: 100_000 } } });
});
after(() => tb.stop());

let run = 0;
function opts(o: Partial<BenchOptions>): BenchOptions {
  run++;
  return benchOptions({
    port: tb.port,
    pubs: 2,
    subs: 2,
    filter: 'wildcard',
    rate: 1000,
    duration: 1,
    drain: 3,
    coalesceUs: 0,
    prefix: `gen/${run}`,
    clientIdPrefix: `gen${run}-`,
    perPair: true,
    ...o,
  });
}

function assertExact(r: BenchReport): void {
  assert.deepEqual(r.errors, []);
  assert.equal(r.connect.ok, 4);
  assert.ok(r.sent > 500, `sent ${r.sent}`);
  assert.equal(r.pairs, 4, 'wildcard: every subscriber hears both publishers');
  const pairs = r.pairDetail ?? [];
  assert.equal(pairs.length, 4);
  for (const p of pairs) {
    assert.ok(p.sent > 0);
    assert.equal(p.delivered, p.sent, `pair pub ${p.pub} -> sub ${p.sub}`);
    assert.equal(p.duplicates, 0);
  }
  assert.equal(r.delivered, r.expected);
  assert.equal(r.delivered, 2 * r.sent);
  assert.equal(r.lost, 0);
  assert.equal(r.duplicates, 0);
  assert.equal(r.foreign + r.unexpected + r.protocolErrors, 0);
  const l = r.latencyUs;
  assert.ok(l.count > 0);
  assert.ok(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.p999 && l.p999 <= l.max, JSON.stringify(l));
  assert.ok(r.throughput.deliveredPerSec > 0 && r.throughput.sentPerSec > 0);
  assert.ok(r.self.cpuPct > 0);
}

describe('generator against Ratatosk', () => {
  for (const mqtt of [4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      test(`MQTT ${mqtt === 5 ? '5' : '3.1.1'} QoS ${qos}: sent == delivered per pair, no loss, no duplicates`, T, async () => {
        const r = await runGenerator(opts({ qos, mqtt, brokerPid: process.pid }));
        assertExact(r);
        if (qos > 0) {
          assert.equal(r.acknowledged, r.sent, 'every PUBLISH acknowledged');
          assert.equal(r.inflightLeft, 0);
          assert.equal(r.lostAfterAck, 0);
        }
        assert.ok(r.broker && r.broker.rssAfterKb !== undefined && r.broker.cpuPct !== undefined, 'broker figures from /proc');
      });
    }
  }

  test('--skip-every: the burnt sequence numbers come out as loss, per matching subscriber', T, async () => {
    const r = await runGenerator(opts({ qos: 1, skipEvery: 10 }));
    assert.ok(r.skipped > 0);
    assert.equal(r.lost, r.skipped * 2, 'each skipped message is lost to both subscribers');
    assert.equal(r.pairsShort, 4);
    assert.equal(r.delivered, r.sent * 2);
    for (const p of r.pairDetail ?? []) assert.equal(p.expected - p.delivered, p.expected - p.sent);
  });

  test('unlimited rate, own topics, exact filters, two workers: exact accounting', T, async () => {
    const r = await runGenerator(opts({ qos: 1, rate: 0, filter: 'exact', workers: 2, duration: 0.5 }));
    assert.equal(r.pairs, 2);
    assert.equal(r.lost, 0);
    assert.equal(r.delivered, r.sent);
    assert.equal(r.duplicates, 0);
  });

  test('stopped from outside: the window ends at the signal, accounting stays exact', T, async () => {
    const stop = new AbortController();
    const lines: string[] = [];
    let measuringAt = 0;
    const p = runGenerator(opts({ qos: 1, duration: 30, warmup: 0.2 }), (l) => {
      lines.push(l);
      if (l === 'measuring') measuringAt = Date.now();
    }, stop.signal);
    const t0 = Date.now();
    setTimeout(() => stop.abort(), 1200);
    const r = await p;
    assert.ok(Date.now() - t0 < 10_000, 'did not run the 30 s');
    assert.ok(measuringAt > 0 && lines.includes('stopped early'), lines.join(', '));
    assert.equal(r.stoppedEarly, true);
    assert.ok(r.measuredS > 0.3 && r.measuredS < 2, `measured ${r.measuredS} s`);
    assert.ok(r.warnings.some((w) => w.includes('stopped early')), r.warnings.join('; '));
    assertExact(r);
    assert.equal(r.acknowledged, r.sent);
    // Only the shortened window counts: ~1,000 msg/s sent, not the sent count over a longer window.
    assert.ok(r.throughput.sentPerSec > 600 && r.throughput.sentPerSec < 1400, `sent/s ${r.throughput.sentPerSec}`);
  });

  test('idle mode: connections, connect rate and broker memory per connection', T, async () => {
    const r = await runGenerator(opts({ idle: 50, duration: 0.2, brokerPid: process.pid }));
    assert.equal(r.mode, 'idle');
    assert.equal(r.connect.ok, 50);
    assert.ok(r.connect.ratePerSec > 0);
    assert.ok(r.broker?.rssPerConnBytes !== undefined);
  });

  test('username tenant/user, and the CLI prints JSON that parses', T, async () => {
    let out = '';
    let err = '';
    const code = await runBench(
      ['--port', String(tb.port), '-P', '1', '-S', '1', '-q', '1', '-r', '500', '-d', '0.5', '--username', 'tenantA/u', '--password', 'x', '--json', '--coalesce-us', '0'],
      { out: (s) => (out += s), err: (s) => (err += s) },
    );
    assert.equal(code, 0, err);
    const r = JSON.parse(out) as BenchReport;
    assert.equal(r.tool, 'ratatosk-bench');
    assert.equal(r.lost, 0);
    assert.ok(r.delivered > 0);
  });

  test('the CLI prints a table, and refuses bad options with exit code 2', T, async () => {
    let out = '';
    const code = await runBench(['--port', String(tb.port), '-P', '1', '-S', '1', '-r', '200', '-d', '0.3', '--coalesce-us', '0'], {
      out: (s) => (out += s),
      err: () => undefined,
    });
    assert.equal(code, 0);
    assert.match(out, /latency \(us\)\s+p50/);
    let err = '';
    assert.equal(await runBench(['--qos', '3'], { out: () => undefined, err: (s) => (err += s) }), 2);
    assert.match(err, /--qos/);
  });
});

describe('pieces', () => {
  test('histogram percentiles are within 1/128 and ordered', () => {
    const h = new Histogram();
    for (let i = 1; i <= 100_000; i++) h.add(i * 1000);
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const v = h.percentile(q);
      assert.ok(Math.abs(v - q * 1e8) / (q * 1e8) < 1 / 128, `q ${q}: ${v}`);
    }
    const g = new Histogram();
    g.merge(h.snapshot());
    assert.equal(g.percentile(0.5), h.percentile(0.5));
    assert.equal(g.count, 100_000);
  });

  test('plan: topic shapes and which publishers each subscriber hears', () => {
    const base = parseBenchArgs(['--prefix', 'p']) as BenchOptions;
    let p = makePlan({ ...base, pubs: 3, subs: 4, topics: 'own', filter: 'exact' });
    assert.deepEqual(p.subFilters, ['p/0', 'p/1', 'p/2', 'p/0']);
    assert.deepEqual([...p.fanout], [2, 1, 1]);
    assert.equal(p.pairs, 4);
    p = makePlan({ ...base, pubs: 3, subs: 2, topics: 'one', filter: 'wildcard' });
    assert.deepEqual(p.pubTopics, ['p/all', 'p/all', 'p/all']);
    assert.deepEqual(p.subFilters, ['p/#', 'p/#']);
    assert.equal(p.pairs, 6);
    p = makePlan({ ...base, pubs: 3, subs: 1, filterString: 'p/1' });
    assert.deepEqual([...(p.subMatches[0] ?? [])], [1]);
    assert.ok(topicMatches('a/+/c', 'a/b/c') && topicMatches('a/#', 'a') && !topicMatches('a/+', 'a/b/c'));
  });
});
