/**
 * The generator's report: its shape (also the JSON output) and the table printed for people.
 */
export interface LatencySummary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface PairCount {
  pub: number;
  sub: number;
  /** Messages the publisher sent (its sequence numbers less the skipped ones). */
  sent: number;
  /** Sequence numbers the publisher used: what the subscriber should have seen, skipped ones included. */
  expected: number;
  delivered: number;
  duplicates: number;
}

export interface BenchReport {
  tool: 'ratatosk-bench';
  label: string;
  host: string;
  port: number;
  mqtt: '3.1.1' | '5';
  mode: 'pubsub' | 'idle';
  config: {
    pubs: number;
    subs: number;
    topics: string;
    filter: string;
    qos: number;
    size: number;
    rateTarget: number;
    duration: number;
    warmup: number;
    count: number;
    workers: number;
    inflight: number;
    persistent: boolean;
    offlineSubs: boolean;
    idle: number;
  };
  /** Seconds of the measured window (publishing after the warmup; the hold time in idle mode). */
  measuredS: number;
  sent: number;
  skipped: number;
  acknowledged: number;
  nacked: number;
  inflightLeft: number;
  /** Deliveries the plan calls for: for every pair, the publisher's sequence numbers. */
  expected: number;
  /** New deliveries (duplicates excluded). */
  delivered: number;
  /** Every PUBLISH received, duplicates and foreign ones included. */
  received: number;
  lost: number;
  lossPct: number;
  /** QoS 1/2: messages acknowledged to the publisher but never delivered. */
  lostAfterAck: number;
  duplicates: number;
  pairs: number;
  pairsShort: number;
  foreign: number;
  unexpected: number;
  protocolErrors: number;
  closedAfterReady: number;
  /** --reconnect: connections that connected again after the broker closed them, and QoS 1/2 messages in flight then. */
  reconnects: number;
  abandoned: number;
  /** Fixed rate: most messages a publisher was ever behind its schedule. */
  behindMax: number;
  throughput: {
    /** Messages sent during the measured window, per second. */
    sentPerSec: number;
    /** Deliveries received during the measured window, per second. */
    deliveredPerSec: number;
    ackedPerSec: number;
  };
  /** End-to-end latency in microseconds of messages sent in the measured window. */
  latencyUs: LatencySummary;
  connect: {
    attempted: number;
    ok: number;
    failed: number;
    elapsedS: number;
    ratePerSec: number;
    concurrency: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    /** CPU % of one core during the connect phase. */
    selfCpuPct: number;
    brokerCpuPct?: number;
  };
  self: { cpuPct: number; userPct: number; sysPct: number; rssKb: number; workers: number };
  broker?: {
    pid: number;
    cpuPct?: number;
    rssBeforeKb?: number;
    rssAfterKb?: number;
    rssPeakKb?: number;
    rssPerConnBytes?: number;
  };
  drainS: number;
  /** Publishing was ended before --duration by a signal (SIGINT/SIGTERM) or an aborted stop signal. */
  stoppedEarly: boolean;
  warnings: string[];
  errors: string[];
  pairDetail?: PairCount[];
}

function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return String(n);
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** The report as a table for a terminal. */
export function formatReport(r: BenchReport): string {
  const rows: [string, string][] = [];
  const c = r.config;
  const add = (k: string, v: string): void => {
    rows.push([k, v]);
  };
  add('target', `${r.host}:${r.port} MQTT ${r.mqtt}${r.label ? ` (${r.label})` : ''}`);
  if (r.mode === 'idle') {
    add('mode', `idle: ${fmt(c.idle)} connections held ${fmt(r.measuredS, 1)} s`);
  } else {
    add(
      'shape',
      `${c.pubs} pub -> ${c.subs} sub${c.offlineSubs ? ' (offline, persistent)' : c.persistent ? ' (persistent)' : ''}, topics ${c.topics}, filter ${c.filter}, QoS ${c.qos}, ${c.size} B, ` +
        `${c.rateTarget > 0 ? `${fmt(c.rateTarget)} msg/s` : 'unlimited'}, ${fmt(r.measuredS, 1)} s${c.warmup > 0 ? ` (+${c.warmup} s warmup)` : ''}`,
    );
    add('sent', `${fmt(r.sent)}${r.skipped ? ` (+${fmt(r.skipped)} skipped)` : ''}   ${fmt(r.throughput.sentPerSec)} msg/s`);
    if (c.qos > 0) add('acknowledged', `${fmt(r.acknowledged)}   ${fmt(r.throughput.ackedPerSec)} msg/s${r.nacked ? `, ${fmt(r.nacked)} refused` : ''}`);
    add('delivered', `${fmt(r.delivered)} of ${fmt(r.expected)} expected   ${fmt(r.throughput.deliveredPerSec)} msg/s`);
    add('lost', `${fmt(r.lost)} (${fmt(r.lossPct, 3)} %)${c.qos > 0 ? `, after ack ${fmt(r.lostAfterAck)}` : ''}, pairs short ${fmt(r.pairsShort)} of ${fmt(r.pairs)}`);
    add('duplicates', fmt(r.duplicates));
    const l = r.latencyUs;
    add(
      'latency (us)',
      `p50 ${fmt(l.p50)}  p90 ${fmt(l.p90)}  p99 ${fmt(l.p99)}  p99.9 ${fmt(l.p999)}  max ${fmt(l.max)}  (n=${fmt(l.count)})`,
    );
  }
  const k = r.connect;
  add(
    'connect',
    `${fmt(k.ok)}/${fmt(k.attempted)} in ${fmt(k.elapsedS, 3)} s = ${fmt(k.ratePerSec)} /s (${k.concurrency} in flight), p50 ${fmt(k.p50Ms, 2)} ms p99 ${fmt(k.p99Ms, 2)} ms`,
  );
  add('generator cpu', `${fmt(r.self.cpuPct, 1)} % of a core (user ${fmt(r.self.userPct, 1)}, sys ${fmt(r.self.sysPct, 1)}), ${r.self.workers} thread(s), rss ${fmt(r.self.rssKb / 1024)} MiB`);
  const b = r.broker;
  if (b) {
    const parts = [`pid ${b.pid}`];
    if (b.cpuPct !== undefined) parts.push(`cpu ${fmt(b.cpuPct, 1)} %`);
    if (b.rssAfterKb !== undefined) parts.push(`rss ${fmt(b.rssAfterKb / 1024, 1)} MiB (before ${fmt((b.rssBeforeKb ?? 0) / 1024, 1)}, peak ${fmt((b.rssPeakKb ?? 0) / 1024, 1)})`);
    if (b.rssPerConnBytes !== undefined) parts.push(`${fmt(b.rssPerConnBytes)} B/connection`);
    add('broker', parts.join(', '));
  }
  for (const w of r.warnings) add('warning', w);
  for (const e of r.errors) add('error', e);
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, v]) => `${key.padEnd(width)}  ${v}`).join('\n') + '\n';
}
