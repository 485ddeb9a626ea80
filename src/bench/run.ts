/**
 * The orchestrator: starts one engine per thread, connects, runs the measured window, drains, and
 * merges what the engines counted into one report (loss per publisher/subscriber pair, latency,
 * throughput, CPU of the generator and of the broker).
 */
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { makeClock, newEpoch } from './clock';
import type { ConnectResult, EngineResult, Progress } from './engine';
import { localEngine, workerEngine, type EngineHandle } from './handle';
import { Histogram } from './histogram';
import type { BenchOptions } from './options';
import { makePlan } from './plan';
import { procCpuSeconds, procRssKb, selfCpuSeconds } from './proc';
import type { BenchReport, LatencySummary, PairCount } from './report';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface CpuMark {
  t: number;
  self: { user: number; system: number };
  broker: number | undefined;
}

/**
 * Runs the generator. `stop`, once aborted, ends publishing (and the measured window) early; the
 * report then covers the shortened window (`stoppedEarly`). The CLI aborts it on SIGINT/SIGTERM.
 */
export async function runGenerator(o: BenchOptions, log: (line: string) => void = () => undefined, stop?: AbortSignal): Promise<BenchReport> {
  const epoch = newEpoch();
  const now = makeClock(epoch);
  const magic = (0x4d514c44 ^ randomInt(0, 0x7fffffff)) >>> 0;
  const workers = o.workers;
  const handles: EngineHandle[] = [];
  for (let w = 0; w < workers; w++) {
    const init = { options: o, worker: w, workers, epoch, magic };
    handles.push(workers === 1 ? localEngine(init) : workerEngine(init));
  }
  const plan = makePlan(o);
  const pid = o.brokerPid;
  const mark = (): CpuMark => ({ t: now(), self: selfCpuSeconds(), broker: pid === undefined ? undefined : procCpuSeconds(pid) });
  const pct = (a: CpuMark, b: CpuMark, pick: (m: CpuMark) => number | undefined): number | undefined => {
    const x = pick(a);
    const y = pick(b);
    if (x === undefined || y === undefined || b.t <= a.t) return undefined;
    return ((y - x) / ((b.t - a.t) / 1e9)) * 100;
  };
  const rssBefore = pid === undefined ? undefined : procRssKb(pid);
  let rssPeak = rssBefore;
  const sampleRss = (): number | undefined => {
    if (pid === undefined) return undefined;
    const r = procRssKb(pid);
    if (r !== undefined && (rssPeak === undefined || r > rssPeak)) rssPeak = r;
    return r;
  };

  // Connect.
  const c0 = mark();
  const perEngine = Math.max(1, Math.ceil(o.concurrency / workers));
  const connects: ConnectResult[] = await Promise.all(handles.map((h) => h.connect(perEngine)));
  const c1 = mark();
  const conn = { attempted: 0, ok: 0, failed: 0, firstNs: Infinity, lastNs: 0 };
  for (const r of connects) {
    conn.attempted += r.attempted;
    conn.ok += r.ok;
    conn.failed += r.failed;
    if (r.firstNs > 0) conn.firstNs = Math.min(conn.firstNs, r.firstNs);
    conn.lastNs = Math.max(conn.lastNs, r.lastNs);
  }
  log(`connected ${conn.ok}/${conn.attempted}${conn.failed ? ` (${conn.failed} failed)` : ''}`);

  // Run.
  const t0 = now() + 50e6;
  const measureStart = t0 + o.warmup * 1e9;
  let end = measureStart + o.duration * 1e9;
  await Promise.all(handles.map((h) => h.start({ t0, measureStart, end })));
  while (stop?.aborted !== true && now() < measureStart) await sleep(Math.min(50, Math.max(1, (measureStart - now()) / 1e6)));
  const m0 = mark();
  log('measuring');
  let lastVerbose = now();
  let stoppedEarly = false;
  for (;;) {
    const t = now();
    if (t >= end) break;
    if (stop?.aborted === true) {
      // Stopped from outside: the measured window ends now, for every engine.
      end = Math.max(measureStart, t);
      stoppedEarly = true;
      await Promise.all(handles.map((h) => h.stopPublishing(end)));
      log('stopped early');
      break;
    }
    await sleep(Math.min(50, Math.max(1, (end - t) / 1e6)));
    sampleRss();
    if (o.count > 0 && o.idle === 0) {
      const ps = await Promise.all(handles.map((h) => h.progress()));
      if (ps.every((p) => p.pubsDone || p.pubIndex.length === 0) && ps.some((p) => p.pubsDone)) {
        end = Math.max(measureStart + 1, ...ps.map((p) => p.lastBuildNs));
        await Promise.all(handles.map((h) => h.stopPublishing()));
        break;
      }
    }
    if (o.verbose && now() - lastVerbose >= 1e9) {
      lastVerbose = now();
      const ps = await Promise.all(handles.map((h) => h.progress()));
      log(`[${((now() - t0) / 1e9).toFixed(1)} s] sent ${sum(ps, (p) => p.sent)} acked ${sum(ps, (p) => p.acked)} received ${sum(ps, (p) => p.received)}`);
    }
  }
  const m1 = mark();
  log('draining');
  const rssAfter = sampleRss();

  // Drain.
  const drainStart = now();
  let progress: Progress[] = [];
  let drainTimedOut = false;
  if (o.idle === 0) {
    for (;;) {
      progress = await Promise.all(handles.map((h) => h.progress()));
      const pending = sum(progress, (p) => p.pending);
      let expected = 0;
      if (!o.offlineSubs) for (const p of progress) p.pubIndex.forEach((i, k) => (expected += (p.pubSeq[k] as number) * (plan.fanout[i] as number)));
      const unique = sum(progress, (p) => p.unique);
      const lastRx = Math.max(end, ...progress.map((p) => p.lastRxNs));
      const t = now();
      if (pending === 0 && unique >= expected) break;
      if (pending === 0 && t - lastRx > o.drainIdle * 1e9) break;
      if (t - drainStart > o.drain * 1e9) {
        drainTimedOut = pending > 0 || unique < expected;
        break;
      }
      await sleep(20);
    }
  }
  const drainS = (now() - drainStart) / 1e9;
  const results: EngineResult[] = await Promise.all(handles.map((h) => h.finish()));

  return buildReport(o, plan, results, {
    conn,
    connectCpu: { self: pct(c0, c1, (m) => m.self.user + m.self.system), broker: pct(c0, c1, (m) => m.broker) },
    measuredS: (m1.t - m0.t) / 1e9,
    selfCpu: {
      total: pct(m0, m1, (m) => m.self.user + m.self.system) ?? 0,
      user: pct(m0, m1, (m) => m.self.user) ?? 0,
      sys: pct(m0, m1, (m) => m.self.system) ?? 0,
    },
    brokerCpu: pct(m0, m1, (m) => m.broker),
    rss: { before: rssBefore, after: rssAfter, peak: rssPeak },
    drainS,
    drainTimedOut,
    stoppedEarly,
  });
}

function sum<T>(xs: T[], f: (x: T) => number): number {
  let s = 0;
  for (const x of xs) s += f(x);
  return s;
}

interface RunFacts {
  conn: { attempted: number; ok: number; failed: number; firstNs: number; lastNs: number };
  connectCpu: { self: number | undefined; broker: number | undefined };
  measuredS: number;
  selfCpu: { total: number; user: number; sys: number };
  brokerCpu: number | undefined;
  rss: { before: number | undefined; after: number | undefined; peak: number | undefined };
  drainS: number;
  drainTimedOut: boolean;
  stoppedEarly: boolean;
}

function latencySummary(h: Histogram): LatencySummary {
  const us = (ns: number): number => Math.round(ns / 100) / 10;
  return {
    count: h.count,
    min: h.count ? us(h.min) : 0,
    p50: us(h.percentile(0.5)),
    p90: us(h.percentile(0.9)),
    p99: us(h.percentile(0.99)),
    p999: us(h.percentile(0.999)),
    max: us(h.max),
    mean: us(h.mean()),
  };
}

function buildReport(o: BenchOptions, plan: ReturnType<typeof makePlan>, results: EngineResult[], f: RunFacts): BenchReport {
  const pubSeq = new Float64Array(o.pubs);
  const pubSkipped = new Float64Array(o.pubs);
  const pubInflight = new Float64Array(o.pubs);
  const latency = new Histogram();
  const connectLatency = new Histogram();
  const tot: Record<string, number> = {};
  const errors: string[] = [];
  for (const r of results) {
    r.pubIndex.forEach((i, k) => {
      pubSeq[i] = r.pubSeq[k] as number;
      pubSkipped[i] = r.pubSkipped[k] as number;
      pubInflight[i] = r.pubInflight[k] as number;
    });
    latency.merge(r.latency);
    connectLatency.merge(r.connectLatency);
    for (const [k, v] of Object.entries(r.counters)) tot[k] = k === 'behindMax' ? Math.max(tot[k] ?? 0, v) : (tot[k] ?? 0) + v;
    for (const e of r.errors) if (errors.length < 10) errors.push(e);
  }
  const t = (k: string): number => tot[k] ?? 0;
  let expected = 0;
  let delivered = 0;
  let lost = 0;
  let lostAfterAck = 0;
  let pairsShort = 0;
  const detail: PairCount[] = [];
  if (!o.offlineSubs) {
    for (const r of results) {
      r.subIndex.forEach((j, k) => {
        const unique = r.subUnique[k] as Float64Array;
        const dups = r.subDups[k] as Float64Array;
        const matches = plan.subMatches[j] ?? null;
        const n = matches === null ? o.pubs : matches.length;
        for (let s = 0; s < n; s++) {
          const i = matches === null ? s : (matches[s] as number);
          const e = pubSeq[i] as number;
          const u = unique[s] as number;
          expected += e;
          delivered += u;
          if (u < e) {
            lost += e - u;
            pairsShort++;
          }
          const acked = e - (pubInflight[i] as number);
          if (o.qos > 0 && acked > u) lostAfterAck += acked - u;
          if (o.perPair) detail.push({ pub: i, sub: j, sent: e - (pubSkipped[i] as number), expected: e, delivered: u, duplicates: dups[s] as number });
        }
      });
    }
  }
  const ms = f.measuredS > 0 ? f.measuredS : 1;
  const connElapsed = f.conn.lastNs > f.conn.firstNs ? (f.conn.lastNs - f.conn.firstNs) / 1e9 : 0;
  const warnings: string[] = [];
  const cores = Math.min(o.workers, availableParallelism());
  if (f.selfCpu.total >= 90 * cores) warnings.push(`the generator used ${f.selfCpu.total.toFixed(0)} % CPU: it may be the bottleneck (try --workers on a machine with spare cores)`);
  if (f.conn.failed > 0) warnings.push(`${f.conn.failed} of ${f.conn.attempted} connections failed`);
  if (f.stoppedEarly) warnings.push(`stopped early (signal) after ${f.measuredS.toFixed(1)} s of the ${o.duration} s measured window`);
  if (f.drainTimedOut) warnings.push(`draining stopped after ${o.drain} s with acknowledgements or deliveries outstanding`);
  if (t('closedAfterReady') > 0) warnings.push(`${t('closedAfterReady')} connections were closed by the broker during the run`);
  if (t('reconnects') > 0) warnings.push(`${t('reconnects')} connections connected again after the broker closed them (${t('abandoned')} QoS 1/2 messages in flight then)`);
  if (t('unknownAcks') > 0) warnings.push(`${t('unknownAcks')} acknowledgements for unknown packet ids`);
  const mem = process.memoryUsage();
  const report: BenchReport = {
    tool: 'ratatosk-bench',
    label: o.label,
    host: o.host,
    port: o.port,
    mqtt: o.mqtt === 5 ? '5' : '3.1.1',
    mode: o.idle > 0 ? 'idle' : 'pubsub',
    config: {
      pubs: o.idle > 0 ? 0 : o.pubs,
      subs: o.idle > 0 ? 0 : o.subs,
      topics: o.topics,
      filter: o.filterString ?? o.filter,
      qos: o.qos,
      size: o.size,
      rateTarget: o.rate,
      duration: o.duration,
      warmup: o.warmup,
      count: o.count,
      workers: o.workers,
      inflight: o.inflight,
      persistent: o.persistent,
      offlineSubs: o.offlineSubs,
      idle: o.idle,
    },
    measuredS: f.measuredS,
    sent: t('sent'),
    skipped: t('skipped'),
    acknowledged: t('acked'),
    nacked: t('nacked'),
    inflightLeft: pubInflight.reduce((a, b) => a + b, 0),
    expected,
    delivered,
    received: t('received'),
    lost,
    lossPct: expected > 0 ? (lost / expected) * 100 : 0,
    lostAfterAck,
    duplicates: t('duplicates'),
    pairs: o.offlineSubs ? 0 : plan.pairs,
    pairsShort,
    foreign: t('foreign'),
    unexpected: t('unexpected'),
    protocolErrors: t('protocolErrors'),
    closedAfterReady: t('closedAfterReady'),
    reconnects: t('reconnects'),
    abandoned: t('abandoned'),
    behindMax: t('behindMax'),
    throughput: {
      sentPerSec: t('sentWindow') / ms,
      deliveredPerSec: t('receivedWindow') / ms,
      ackedPerSec: t('ackedWindow') / ms,
    },
    latencyUs: latencySummary(latency),
    connect: {
      attempted: f.conn.attempted,
      ok: f.conn.ok,
      failed: f.conn.failed,
      elapsedS: connElapsed,
      ratePerSec: connElapsed > 0 ? f.conn.ok / connElapsed : 0,
      concurrency: o.concurrency,
      p50Ms: connectLatency.percentile(0.5) / 1e6,
      p99Ms: connectLatency.percentile(0.99) / 1e6,
      maxMs: connectLatency.max / 1e6,
      selfCpuPct: f.connectCpu.self ?? 0,
    },
    self: { cpuPct: f.selfCpu.total, userPct: f.selfCpu.user, sysPct: f.selfCpu.sys, rssKb: Math.round(mem.rss / 1024), workers: o.workers },
    drainS: f.drainS,
    stoppedEarly: f.stoppedEarly,
    warnings,
    errors,
  };
  if (f.connectCpu.broker !== undefined) report.connect.brokerCpuPct = f.connectCpu.broker;
  if (o.brokerPid !== undefined) {
    const b: NonNullable<BenchReport['broker']> = { pid: o.brokerPid };
    if (f.brokerCpu !== undefined) b.cpuPct = f.brokerCpu;
    if (f.rss.before !== undefined) b.rssBeforeKb = f.rss.before;
    if (f.rss.after !== undefined) b.rssAfterKb = f.rss.after;
    if (f.rss.peak !== undefined) b.rssPeakKb = f.rss.peak;
    if (o.idle > 0 && f.rss.before !== undefined && f.rss.after !== undefined && f.conn.ok > 0) {
      b.rssPerConnBytes = Math.round(((f.rss.after - f.rss.before) * 1024) / f.conn.ok);
    }
    report.broker = b;
  }
  if (o.perPair) report.pairDetail = detail;
  return report;
}
