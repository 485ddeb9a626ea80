#!/usr/bin/env node
// The comparison runner behind `npm run bench`: every scenario against Ratatosk, Mosquitto and Aedes
// in one run, each broker a fresh process pinned to CPU 0, the generator (`ratatosk bench`) pinned to
// CPU 1; writes BENCHMARKS.md at the repository root and bench/last-run.json.
//
// Usage: node bench/run.mjs [--quick] [--only <scenario>[,<scenario>]] [--brokers ratatosk,mosquitto,aedes]
//        [--merge: keep the other scenarios of bench/last-run.json] [--render-only: rewrite BENCHMARKS.md from it]
//        [--results <file>: read and write the raw results there instead of bench/last-run.json]
//        [--repeat N: run each case of the noisy-neighbour scenario N times, report the median by B's p99]
//        [--fairness '{"intervalMs":5}': one more noisy-neighbour row with these fairness settings; repeatable]
//        [--configs fair,background: only these noisy-neighbour rows (ids as in bench/scenarios.mjs)]
//        [--cases alone,flood-qos0: only these noisy-neighbour cases]
//        (BENCH_QUICK=1 is --quick; `npm run bench -- --quick` builds first)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { background, BACKGROUND_POLICY, brokerKinds, commandLine, freePort, GENERATOR_CPU, hasTaskset, stopProcess, versions, waitAccepting } from './brokers.mjs';
import { scenarios, SWEEP_P99_LIMIT_US, SWEEP_RATES } from './scenarios.mjs';
import { writeMarkdown } from './markdown.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(ROOT, 'dist', 'src', 'main.js');
const MQTTLOAD_DIR = resolve(ROOT, '..', 'shared', 'bench');

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    only: { type: 'string' },
    brokers: { type: 'string' },
    out: { type: 'string' },
    merge: { type: 'boolean' },
    'render-only': { type: 'boolean' },
    results: { type: 'string' },
    repeat: { type: 'string' },
    fairness: { type: 'string', multiple: true },
    configs: { type: 'string' },
    cases: { type: 'string' },
  },
});
const quick = values.quick === true || process.env.BENCH_QUICK === '1';
const brokerIds = (values.brokers ?? 'ratatosk,mosquitto,aedes').split(',').map((s) => s.trim()).filter(Boolean);
const all = scenarios(quick);
const only = values.only ? values.only.split(',').map((s) => s.trim()) : undefined;
const selected = only ? all.filter((s) => only.some((o) => s.id === o || s.id.startsWith(o) || s.title.startsWith(`${o}.`))) : all;
const outFile = values.out ? resolve(values.out) : join(ROOT, 'BENCHMARKS.md');
const LAST = values.results ? resolve(values.results) : join(ROOT, 'bench', 'last-run.json');
const repeat = Number(values.repeat ?? '1');

function log(s) {
  process.stderr.write(`[bench] ${s}\n`);
}

function fail(s) {
  process.stderr.write(`bench: ${s}\n`);
  process.exit(1);
}

// ---- prerequisites ----------------------------------------------------------------------------
const kinds = brokerKinds(ROOT);
for (const b of brokerIds) if (!kinds[b]) fail(`unknown broker '${b}' (ratatosk, mosquitto, aedes)`);
if (selected.length === 0) fail(`no scenario matches --only ${values.only} (${all.map((s) => s.id).join(', ')})`);
if (!Number.isInteger(repeat) || repeat < 1 || repeat > 20) fail(`--repeat: expected an integer in [1, 20], got '${values.repeat}'`);
if (!values['render-only'] && values.merge && existsSync(LAST)) {
  const prevQuick = JSON.parse(readFileSync(LAST, 'utf8')).quick;
  if (prevQuick !== quick) fail(`--merge: ${LAST} holds a ${prevQuick ? 'quick' : 'full'} run and this one is ${quick ? 'quick' : 'full'}; use --results <another file>`);
}
if (!values['render-only'] && !existsSync(MAIN)) fail(`${MAIN} is missing: build first (npm run build)`);
// Scenarios for Ratatosk alone need neither Mosquitto nor Aedes.
const needed = selected.every((s) => s.ratatoskOnly) ? brokerIds.filter((b) => b === 'ratatosk') : brokerIds;
if (!values['render-only'] && needed.includes('mosquitto') && spawnSync('sh', ['-c', 'command -v mosquitto']).status !== 0) {
  if (process.getuid?.() === 0) {
    log('installing the Debian package mosquitto');
    const r = spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto'], { stdio: 'inherit' });
    if (r.status !== 0) fail('apt-get install mosquitto failed');
  } else {
    fail('mosquitto is not installed and this is not root: apt-get install mosquitto, or run with --brokers ratatosk,aedes');
  }
}
if (!values['render-only'] && needed.includes('aedes') && !existsSync(join(ROOT, 'node_modules', 'aedes'))) fail('aedes is not installed: npm install');
const cores = availableParallelism();
const pin = hasTaskset() && cores >= 2;
if (!pin) log(`WARNING: ${cores < 2 ? 'fewer than 2 CPUs' : 'taskset missing'}: brokers and generator are NOT pinned`);
let mqttload;
if (existsSync(join(MQTTLOAD_DIR, 'mqttload.c'))) {
  const r = spawnSync('make', ['-s'], { cwd: MQTTLOAD_DIR, encoding: 'utf8' });
  if (r.status === 0 && existsSync(join(MQTTLOAD_DIR, 'mqttload'))) mqttload = join(MQTTLOAD_DIR, 'mqttload');
  else log(`mqttload did not build: ${r.stderr}`);
}

// ---- running things ----------------------------------------------------------------------------
let clientSeq = 0;

/**
 * Starts a generator (ours or mqttload) pinned to the generator CPU, optionally as a background load
 * (`low`: see background() in brokers.mjs).
 * `onLine` sees its stderr line by line (our generator's -v progress: 'connected …', 'measuring',
 * 'draining', '[1.0 s] sent …'). Returns the child and a promise of its JSON and command line.
 */
function startTool(argv, { low, onLine } = {}) {
  const scheduled = low ? background(argv) : argv;
  const full = pin ? ['taskset', '-c', GENERATOR_CPU, ...scheduled] : scheduled;
  const load = Math.round(loadavg()[0] * 100) / 100;
  const child = spawn(full[0], full.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const result = new Promise((resolvePromise) => {
    let out = '';
    let err = '';
    let partial = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c) => {
      err += c;
      if (!onLine) return;
      partial += c;
      let i;
      while ((i = partial.indexOf('\n')) >= 0) {
        onLine(partial.slice(0, i));
        partial = partial.slice(i + 1);
      }
    });
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      let json;
      try {
        json = JSON.parse(line);
      } catch {
        json = undefined;
      }
      const command = commandLine(full);
      // -v progress lines are not worth keeping; anything else on stderr is.
      const stderr = err.split('\n').filter((l) => l.trim() && !/^(\[\d|connected |measuring$|draining$|stopped early$)/.test(l)).join('\n') || undefined;
      if (json === undefined) resolvePromise({ command, load, error: `exit ${code}: ${(err || out).trim().split('\n').slice(-5).join(' | ')}` });
      else resolvePromise({ command, load, report: json, stderr });
    });
  });
  return { child, result };
}

/** Runs a generator to its end; resolves to its JSON and the command. */
function runTool(argv, opts) {
  return startTool(argv, opts).result;
}

function genArgs(port, pid, args) {
  const prefix = `b${(++clientSeq).toString(36)}-`;
  return ['node', MAIN, 'bench', '--host', '127.0.0.1', '--port', String(port), '-b', String(pid), '--client-id-prefix', prefix, '--prefix', `bench/${prefix}`, '--json', ...args];
}

async function withBroker(id, opts, fn) {
  const port = await freePort();
  const b = await kinds[id].start({ port, pin, ...opts });
  try {
    return await fn(b, port);
  } finally {
    await b.stop();
  }
}

/** One generator run against a fresh broker. */
async function once(id, args, opts = {}) {
  try {
    return await withBroker(id, opts, async (b, port) => {
      const r = await runTool(genArgs(port, b.pid, args));
      return { ...r, broker: b.commands };
    });
  } catch (err) {
    return { error: String(err.message ?? err) };
  }
}

function brief(r) {
  if (!r || r.error) return `ERROR ${r?.error ?? ''}`;
  const x = r.report;
  if (x.mode === 'idle') return `${x.connect.ok} conns, ${Math.round(x.connect.ratePerSec)} conn/s, ${x.broker?.rssPerConnBytes ?? '?'} B/conn`;
  return `sent ${Math.round(x.throughput.sentPerSec)}/s delivered ${Math.round(x.throughput.deliveredPerSec)}/s loss ${x.lossPct.toFixed(3)}% p50 ${x.latencyUs.p50} us p99 ${x.latencyUs.p99} us broker cpu ${x.broker?.cpuPct?.toFixed(0)}% gen cpu ${x.self.cpuPct.toFixed(0)}%`;
}

// ---- the matrix --------------------------------------------------------------------------------
if (values['render-only']) {
  // Re-render BENCHMARKS.md from bench/last-run.json without running anything.
  const prev = JSON.parse(readFileSync(LAST, 'utf8'));
  writeMarkdown(outFile, prev, { root: ROOT, quick: prev.quick, pin: prev.pinned, sweepRates: SWEEP_RATES, p99Limit: SWEEP_P99_LIMIT_US, all: scenarios(prev.quick).filter((s) => prev.scenarios[s.id]) });
  log(`wrote ${outFile} from ${LAST}`);
  process.exit(0);
}
const results = {
  quick,
  pinned: pin,
  started: new Date().toISOString(),
  machine: machine(),
  versions: versions(ROOT),
  brokers: needed,
  scenarios: {},
};

for (const sc of selected) {
  log(sc.title);
  const res = (results.scenarios[sc.id] = { title: sc.title, what: sc.what, metric: sc.metric, byBroker: {} });
  if (sc.sweep) {
    for (const id of brokerIds) {
      const points = [];
      for (const rate of SWEEP_RATES) {
        const r = await once(id, sc.sweep(rate));
        points.push({ rate, ...r });
        log(`  ${id} ${rate}/s: ${brief(r)}`);
        const x = r.report;
        // Go on past a failing rate (a latency tail can be noise), unless the broker is clearly past its limit.
        if (!x || x.lossPct > 1 || x.latencyUs.p50 >= SWEEP_P99_LIMIT_US || x.throughput.deliveredPerSec < 0.9 * rate) break;
      }
      const ok = points.filter((p) => p.report && p.report.latencyUs.p99 < SWEEP_P99_LIMIT_US && p.report.lost === 0);
      res.byBroker[id] = { points, best: ok.length ? ok[ok.length - 1].rate : 0 };
    }
  } else if (sc.id === 'persistent') {
    if (!brokerIds.includes('ratatosk')) continue;
    res.byBroker.ratatosk = await persistent(sc);
  } else if (sc.noisy) {
    if (!brokerIds.includes('ratatosk')) continue;
    res.byBroker.ratatosk = await noisy(sc);
  } else {
    for (const id of brokerIds) {
      if (sc.ratatoskOnly && id !== 'ratatosk') continue;
      const r = await once(id, sc.args);
      log(`  ${id}: ${brief(r)}`);
      const entry = (res.byBroker[id] = { main: r });
      if (sc.crossCheck && mqttload && id !== 'aedes') {
        const c = await withBroker(id, {}, async (b, port) => runTool([mqttload, '-h', '127.0.0.1', '-p', String(port), '-b', String(b.pid), ...sc.crossCheck])).catch((e) => ({ error: String(e) }));
        entry.crossCheck = c;
        log(`  ${id} (mqttload): ${c.error ? c.error : `delivered ${Math.round(c.report.recv_rate_window)}/s, mqttload cpu ${c.report.self.cpu_pct}%`}`);
      }
      if (sc.ratatoskExtra && id === 'ratatosk') {
        entry.extra = [];
        for (const n of sc.ratatoskExtra) {
          const args = sc.args.map((a, i) => (sc.args[i - 1] === '--idle' ? String(n) : a));
          const x = await once(id, args);
          entry.extra.push({ conns: n, ...x });
          log(`  ratatosk ${n} idle: ${brief(x)}`);
        }
      }
    }
  }
}

results.finished = new Date().toISOString();
if (values.merge && existsSync(LAST)) {
  // Keep the other scenarios of the last run; replace the ones just run.
  const prev = JSON.parse(readFileSync(LAST, 'utf8'));
  if (prev.quick === quick) {
    for (const [k, v] of Object.entries(results.scenarios)) prev.scenarios[k] = { ...v, rerun: results.started };
    Object.assign(results, { ...prev, finished: results.finished, scenarios: prev.scenarios });
  }
}
const shown = all.filter((s) => results.scenarios[s.id]);
writeFileSync(LAST, `${JSON.stringify(results, null, 1)}\n`);
writeMarkdown(outFile, results, { root: ROOT, quick, pin, mqttload: mqttload !== undefined, sweepRates: SWEEP_RATES, p99Limit: SWEEP_P99_LIMIT_US, all: shown });
log(`wrote ${outFile} and ${LAST}`);

// ---- scenario 7 ---------------------------------------------------------------------------------
async function persistent(sc) {
  const out = { durability: {}, restart: undefined };
  for (const durability of ['sync', 'relaxed']) {
    const dataDir = mkdtempSync(join(tmpdir(), 'rtk-bench-data-'));
    const r = await once('ratatosk', sc.args, { storage: 'lmdb', durability, dataDir });
    rmSync(dataDir, { recursive: true, force: true });
    out.durability[durability] = r;
    log(`  lmdb ${durability}: ${r.error ? r.error : `${Math.round(r.report.throughput.ackedPerSec)} msg/s acknowledged (durably queued), broker cpu ${r.report.broker?.cpuPct?.toFixed(0)}%`}`);
  }
  // Restart with queued messages: fill offline sessions, stop the broker, time the next start.
  const dataDir = mkdtempSync(join(tmpdir(), 'rtk-bench-data-'));
  try {
    const port = await freePort();
    const first = await kinds.ratatosk.start({ port, pin, storage: 'lmdb', durability: 'relaxed', dataDir, logLevel: 'info' });
    const fill = await runTool(genArgs(port, first.pid, sc.fill));
    const tStop = Date.now();
    await stopProcess(first.child, 60_000);
    const stopMs = Date.now() - tStop;
    let restoredLine;
    const t0 = Date.now();
    let tRestored;
    const port2 = await freePort();
    const startP = kinds.ratatosk.start({
      port: port2,
      pin,
      storage: 'lmdb',
      durability: 'relaxed',
      dataDir,
      logLevel: 'info',
      onLine: (l) => {
        if (tRestored === undefined && l.includes('sessions restored')) {
          tRestored = Date.now() - t0;
          restoredLine = l;
        }
      },
    });
    const second = await startP;
    await waitAccepting(port2);
    const acceptMs = Date.now() - t0;
    const rssKb = readRss(second.pid);
    await second.stop();
    let restored;
    try {
      restored = JSON.parse(restoredLine);
    } catch {
      restored = undefined;
    }
    out.restart = {
      fill,
      queued: fill.report ? fill.report.acknowledged : undefined,
      stopMs,
      restoredMs: tRestored,
      acceptMs,
      restored: restored ? { sessions: restored.sessions, messages: restored.messages, ms: restored.ms } : undefined,
      rssKb,
      commands: second.commands,
    };
    log(`  restart with ${out.restart.queued} queued: sessions restored after ${tRestored} ms (${restored?.messages} messages), accepting after ${acceptMs} ms`);
    first.stop().catch(() => undefined);
  } catch (err) {
    out.restart = { error: String(err.message ?? err) };
    log(`  restart: ERROR ${out.restart.error}`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  return out;
}

// ---- scenario 8 ---------------------------------------------------------------------------------
/**
 * Noisy neighbour: per broker config (fair scheduling on and off) and per case (B alone, B while A
 * floods QoS 0, B while A floods QoS 1), a fresh broker; A's generator (a background load) floods until its
 * 'measuring' line, then B's generator runs its fixed-rate load to the end, then A is stopped with
 * SIGINT (so A's figures cover B's whole run). With --repeat N every case runs N times, interleaved,
 * and the run with the median B p99 is the headline.
 */
async function noisy(sc) {
  // Peer rows only for the brokers this run compares (--brokers).
  const only = values.configs?.split(',').map((s) => s.trim());
  const N = { ...sc.noisy, configs: sc.noisy.configs.filter((c) => (!c.broker || brokerIds.includes(c.broker)) && (!only || only.includes(c.id))) };
  for (const f of values.fairness ?? []) {
    let fairness;
    try {
      fairness = JSON.parse(f);
    } catch {
      fail(`--fairness: not JSON: ${f}`);
    }
    const id = `fair-${Object.entries(fairness).map(([k, v]) => `${k}-${v}`).join('-')}`;
    N.configs.push({ id, label: `fair scheduling ${JSON.stringify(fairness).replace(/"/g, '')}`, config: { fairness } });
  }
  const out = { repeat, target: N.target, busyRate: N.busyRate, floodPolicy: BACKGROUND_POLICY, configs: {} };
  for (const cfg of N.configs) {
    out.configs[cfg.id] = { label: cfg.label, broker: cfg.broker ?? 'ratatosk', config: cfg.config, cases: {} };
    for (const c of cases(cfg)) out.configs[cfg.id].cases[c.id] = { label: c.label, control: c.hog === true || c.floodElsewhere !== undefined, separate: c.separate === true, low: c.low === true, runs: [] };
  }
  function cases(cfg) {
    const onlyCases = values.cases?.split(',').map((s) => s.trim());
    return N.cases.filter((c) => (!c.configs || c.configs.includes(cfg.id)) && (!onlyCases || onlyCases.includes(c.id)));
  }
  for (let k = 0; k < repeat; k++) {
    for (const cfg of N.configs) {
      for (const c of cases(cfg)) {
        const r = await noisyCase(N, cfg, c);
        out.configs[cfg.id].cases[c.id].runs.push(r);
        log(`  ${cfg.id} ${c.id}${repeat > 1 ? ` #${k + 1}` : ''}: ${noisyBrief(r)}`);
      }
    }
  }
  for (const cfg of N.configs) {
    for (const c of cases(cfg)) {
      const e = out.configs[cfg.id].cases[c.id];
      const ok = e.runs.map((r, i) => ({ i, p99: r.b?.report?.latencyUs.p99 })).filter((x) => x.p99 !== undefined);
      ok.sort((a, b) => a.p99 - b.p99);
      e.pick = ok.length ? ok[Math.floor((ok.length - 1) / 2)].i : 0;
    }
  }
  return out;
}

async function noisyCase(N, cfg, c) {
  try {
    // Ratatosk logs at info: its automatic placement says when it moved a tenant (reported against B's window).
    return await withBroker(cfg.broker ?? 'ratatosk', cfg.broker ? {} : { config: cfg.config, logLevel: 'info' }, async (b, port) => {
      const out = { broker: b.commands, loadBefore: Math.round(loadavg()[0] * 100) / 100 };
      let flood;
      let hog;
      let elsewhere;
      try {
        if (c.hog) {
          // A busy loop on the generator CPU, scheduled as the flood generator is.
          const argv = background(['node', '-e', 'for(;;){}']);
          hog = spawn(pin ? 'taskset' : argv[0], pin ? ['-c', GENERATOR_CPU, ...argv] : argv.slice(1), { stdio: 'ignore' });
          out.hog = commandLine(pin ? ['taskset', '-c', GENERATOR_CPU, ...argv] : argv);
          await sleep(300);
        }
        if (c.floodElsewhere) {
          // A's generator floods a Mosquitto of its own, in the background on the generator CPU: the load A puts on
          // CPU 1 (its generator, its sockets' kernel work) without any of A's work on the broker.
          const elsewherePort = await freePort();
          // (`separate`: a second Ratatosk on the broker CPU instead, sharing only the CPU with the measured one.)
          const broker = c.separate ? await kinds.ratatosk.start({ port: elsewherePort, pin, low: c.low === true }) : await kinds.mosquitto.start({ port: elsewherePort, pin, cpu: GENERATOR_CPU, low: true });
          elsewhere = { port: elsewherePort, broker };
          out.elsewhere = elsewhere.broker.commands;
        }
        const floodArgv = c.flood ?? c.floodElsewhere;
        if (floodArgv) {
          let flooding = false;
          let ended;
          const target = elsewhere ? { port: elsewhere.port, pid: elsewhere.broker.pid } : { port, pid: b.pid };
          flood = startTool(genArgs(target.port, target.pid, floodArgv), { low: true, onLine: (l) => l === 'measuring' && (flooding = true) });
          flood.result.then((r) => (ended = r));
          const deadline = Date.now() + 120_000;
          while (!flooding && ended === undefined && Date.now() < deadline) await sleep(20);
          if (!flooding) throw new Error(`tenant A's generator is not flooding: ${ended?.error ?? 'no measuring line within 120 s'}`);
        }
        let s0;
        let s1;
        const bStart = Date.now();
        let measuredFrom;
        out.b = await runTool(genArgs(port, b.pid, N.b), {
          onLine: (l) => {
            if (l === 'measuring') {
              s0 = cpuTimes();
              measuredFrom = Date.now();
            } else if (l === 'draining') s1 = cpuTimes();
          },
        });
        // Tenant moves (automatic placement), in seconds from the start of B's measured window.
        out.moves = movesIn(b.lines, measuredFrom ?? bStart);
        out.cpuBusyPct = cpuBusy(s0, s1);
        out.loadAfter = Math.round(loadavg()[0] * 100) / 100;
      } finally {
        if (hog) hog.kill('SIGKILL');
        if (flood) {
          flood.child.kill('SIGINT');
          const t = setTimeout(() => flood.child.kill('SIGKILL'), 30_000);
          out.a = await flood.result;
          clearTimeout(t);
        }
        if (elsewhere) await elsewhere.broker.stop();
      }
      return out;
    });
  } catch (err) {
    return { error: String(err.message ?? err) };
  }
}

/** `tenant moved` lines of a Ratatosk log: who went where, in seconds from `from` (ms since the epoch). */
function movesIn(lines, from) {
  const out = [];
  for (const l of lines ?? []) {
    if (!l.includes('"tenant moved"')) continue;
    try {
      const j = JSON.parse(l.slice(l.indexOf('{')));
      out.push({ tenantId: j.tenantId, to: j.to, atS: Math.round((Date.parse(j.time) - from) / 100) / 10 });
    } catch {
      // not JSON
    }
  }
  return out;
}

function noisyBrief(r) {
  if (r.error) return `ERROR ${r.error}`;
  const x = r.b?.report;
  const a = r.a?.report;
  const bs = x
    ? `B p50 ${x.latencyUs.p50} p99 ${x.latencyUs.p99} max ${x.latencyUs.max} us, sent ${x.sent} lost ${x.lost} (after PUBACK ${x.lostAfterAck}), broker cpu ${x.broker?.cpuPct?.toFixed(0)}%, B gen cpu ${x.self.cpuPct.toFixed(0)}%`
    : `B ERROR ${r.b?.error}`;
  const as = r.a ? (a ? `; A delivered ${Math.round(a.throughput.deliveredPerSec)}/s sent ${Math.round(a.throughput.sentPerSec)}/s, A gen cpu ${a.self.cpuPct.toFixed(0)}%` : `; A ERROR ${r.a.error}`) : '';
  const cpu = r.cpuBusyPct ? `; cpu0/cpu1 busy ${r.cpuBusyPct.map((v) => v.toFixed(0)).join('/')}%` : '';
  const moves = r.moves?.length ? `; moved ${r.moves.map((m) => `${m.tenantId}→${m.to} at ${m.atS} s`).join(', ')}` : '';
  return `${bs}${as}${cpu}${moves}; load ${r.loadBefore}`;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Busy and total jiffies of every CPU, from /proc/stat. */
function cpuTimes() {
  try {
    const lines = readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d+ /.test(l));
    return lines.map((l) => {
      const v = l.trim().split(/\s+/).slice(1).map(Number);
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
      const idle = v[3] + (v[4] ?? 0);
      return { busy: total - idle, total };
    });
  } catch {
    return undefined;
  }
}

/** % busy of every CPU between two cpuTimes() samples (everything on it: broker, generators, others). */
function cpuBusy(a, b) {
  if (!a || !b || a.length !== b.length) return undefined;
  return a.map((x, i) => {
    const dt = b[i].total - x.total;
    return dt > 0 ? Math.round(((b[i].busy - x.busy) / dt) * 1000) / 10 : 0;
  });
}

function readRss(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function machine() {
  let cpu = 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    // not Linux
  }
  return { cpu, cores: cores, memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, kernel: release(), node: process.version };
}
