// Starting and stopping the brokers under comparison, each pinned to CPU 0, one fresh process per
// scenario, on a free loopback port.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BROKER_CPU = '0';
export const GENERATOR_CPU = '1';

/** A free TCP port on loopback: listen on 0, read it, close. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once a TCP connection to the port succeeds (the broker accepts); rejects after `ms`. */
export async function waitAccepting(port, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing accepts connections on port ${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Whether `chrt` (util-linux) can run a command under SCHED_IDLE here. */
const hasChrtIdle = spawnSync('chrt', ['--idle', '0', 'true']).status === 0;

/**
 * `argv` as a background load: under SCHED_IDLE (`chrt --idle 0`), so that it runs only when nothing
 * else on its CPU wants to (a woken normal process preempts it at once); `nice -n 19` where chrt is
 * missing. The noisy-neighbour scenario runs tenant A's flood generator like this, so that the
 * generator of the tenant being measured never waits for it.
 */
export function background(argv) {
  return hasChrtIdle ? ['chrt', '--idle', '0', ...argv] : ['nice', '-n', '19', ...argv];
}

/** How background() runs things here (for the report). */
export const BACKGROUND_POLICY = hasChrtIdle ? 'SCHED_IDLE (chrt --idle 0)' : 'nice -n 19 (chrt is missing)';

export function hasTaskset() {
  return spawnSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' }).status === 0;
}

function shellQuote(a) {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(argv) {
  return argv.map(shellQuote).join(' ');
}

/**
 * Spawns `argv` through `sh -c 'ulimit -n 20000; exec taskset -c <cpu> ...'`: the exec chain keeps
 * one pid, so the pid we hold is the broker's own (for /proc sampling).
 */
export function spawnPinned(argv, { cpu, pin, cwd, env, onLine }) {
  const cmd = (pin ? ['taskset', '-c', cpu, ...argv] : argv).map(shellQuote).join(' ');
  const script = `ulimit -n 20000 2>/dev/null || ulimit -n $(ulimit -Hn); exec ${cmd}`;
  const child = spawn('sh', ['-c', script], { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const feed = (chunk) => {
    out += chunk;
    let i;
    while ((i = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      onLine?.(line);
    }
  };
  child.stdout.setEncoding('utf8').on('data', feed);
  child.stderr.setEncoding('utf8').on('data', feed);
  return { child, shown: `sh -c ${shellQuote(script)}` };
}

export function stopProcess(child, ms = 10_000) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function versions(root) {
  const pkg = (p) => JSON.parse(readFileSync(p, 'utf8')).version;
  const mq = spawnSync('mosquitto', ['-h'], { encoding: 'utf8' });
  const mqv = /mosquitto version (\S+)/.exec(`${mq.stdout}${mq.stderr}`);
  let aedes;
  try {
    aedes = pkg(join(root, 'node_modules', 'aedes', 'package.json'));
  } catch {
    aedes = undefined;
  }
  return { ratatosk: pkg(join(root, 'package.json')), mosquitto: mqv ? mqv[1] : undefined, aedes };
}

/** Ratatosk's queue and window settings, matched to what Mosquitto is given. */
export const RATATOSK_TENANT_DEFAULTS = { inboxSize: 100_000, maxInflightOut: 64 };

/**
 * The brokers. start({ port, pin, ... }) resolves to { pid, child, commands, stop(), lines }.
 */
export function brokerKinds(root) {
  return {
    ratatosk: {
      name: 'Ratatosk',
      // `config`: more top-level settings for the config file (e.g. { fairness: { enabled: false } }).
      // `low`: run it as a background load (the noisy-neighbour control for a flood the kernel ranks last).
      async start({ port, pin, storage = 'memory', durability, dataDir, logLevel = 'warn', onLine, config: extra, low = false }) {
        const dir = mkdtempSync(join(tmpdir(), 'rtk-bench-'));
        const config = join(dir, 'ratatosk.json');
        const cfg = { host: '127.0.0.1', tenants: { default: RATATOSK_TENANT_DEFAULTS }, ...(extra ?? {}) };
        if (durability) cfg.durability = durability;
        writeFileSync(config, `${JSON.stringify(cfg, null, 2)}\n`);
        // The `ratatosk` command users run (bin/ratatosk: the broker's Node.js flags, chosen by the CPUs it gets).
        const command = [join(root, 'bin', 'ratatosk'), 'start', '--config', config, '--mqtt-port', String(port), '--ws-port', '0', '--storage', storage, '--log-level', logLevel];
        if (dataDir) command.push('--data-dir', dataDir);
        const argv = low ? background(command) : command;
        const lines = [];
        const p = spawnPinned(argv, { cpu: BROKER_CPU, pin, cwd: root, onLine: (l) => (lines.push(l), onLine?.(l)) });
        return finishStart(p, port, lines, [`# ${config}: ${JSON.stringify(cfg)}`, p.shown], () => rmSync(dir, { recursive: true, force: true }));
      },
    },
    mosquitto: {
      name: 'Mosquitto',
      // `cpu`, `low`: where it runs and whether as a background load (the noisy-neighbour control runs
      // one on the generator CPU).
      async start({ port, pin, cpu = BROKER_CPU, low = false }) {
        const dir = mkdtempSync(join(tmpdir(), 'mosq-bench-'));
        const config = join(dir, 'mosquitto.conf');
        const text = [
          `listener ${port} 127.0.0.1`,
          'allow_anonymous true',
          'max_queued_messages 100000',
          'max_inflight_messages 64',
          'set_tcp_nodelay true',
          'max_connections -1',
          'persistence false',
          'log_dest stderr',
          'log_type error',
          'log_type warning',
          '',
        ].join('\n');
        writeFileSync(config, text);
        const lines = [];
        const argv = low ? background(['mosquitto', '-c', config]) : ['mosquitto', '-c', config];
        const p = spawnPinned(argv, { cpu, pin, cwd: root, onLine: (l) => lines.push(l) });
        return finishStart(p, port, lines, [`# ${config}:\n#   ${text.trim().split('\n').join('\n#   ')}`, p.shown], () => rmSync(dir, { recursive: true, force: true }));
      },
    },
    aedes: {
      name: 'Aedes',
      async start({ port, pin }) {
        const lines = [];
        const p = spawnPinned(['node', join(root, 'bench', 'aedes-server.mjs'), String(port)], { cpu: BROKER_CPU, pin, cwd: root, onLine: (l) => lines.push(l) });
        return finishStart(p, port, lines, [p.shown], () => undefined);
      },
    },
  };
}

async function finishStart(p, port, lines, commands, cleanup) {
  const { child } = p;
  const exited = new Promise((_, reject) =>
    child.once('exit', (code, sig) => reject(new Error(`broker exited (${code ?? sig}) before accepting connections:\n${lines.slice(-20).join('\n')}`))),
  );
  exited.catch(() => undefined);
  await Promise.race([waitAccepting(port), exited]);
  return {
    pid: child.pid,
    child,
    lines,
    commands,
    async stop() {
      await stopProcess(child);
      cleanup();
    },
  };
}
