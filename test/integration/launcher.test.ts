/**
 * bin/ratatosk, the command `npm start` and the package's bin run: it must replace itself with the
 * Node.js process (same pid, so signals and process monitors reach the broker) and pass the
 * garbage-collector flags the broker is tuned for — a small young generation always, single-threaded
 * collection only when one CPU is available — unless RATATOSK_NODE_FLAGS says otherwise.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { freePort, sleep } from '../storage/broker-process';

const LAUNCHER = resolve(__dirname, '../../../bin/ratatosk');

function accepting(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

/** Starts the broker through the launcher, returns the Node.js arguments of the process it became. */
async function launch(prefix: string[], env: NodeJS.ProcessEnv, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ args: string[]; exitCode: number | null }> {
  const port = await freePort();
  const argv = [...prefix, LAUNCHER, 'start', '--mqtt-port', String(port), '--ws-port', '0', '--storage', 'memory', '--log-level', 'warn'];
  const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 15_000;
    while (!(await accepting(port))) {
      assert.ok(Date.now() < deadline, `the broker did not accept on ${port}: ${output}`);
      assert.equal(child.exitCode, null, `the launcher exited: ${output}`);
      await sleep(50);
    }
    // The pid spawn saw is the broker itself: the launcher exec'd Node.js.
    const args = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    child.kill(signal);
    return { args, exitCode: await exited };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

function cpus(prefix: string[]): number {
  const r = spawnSync(prefix.length > 0 ? prefix[0]! : 'nproc', prefix.length > 0 ? [...prefix.slice(1), 'nproc'] : [], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

describe('bin/ratatosk', () => {
  test('execs Node.js with a 2 MB young generation, a 32 MB initial old generation; single-threaded GC only on one CPU', async () => {
    const { args, exitCode } = await launch([], {});
    assert.match(args[0]!, /node$/, `the process is Node.js itself: ${args.join(' ')}`);
    assert.ok(args.includes('--max-semi-space-size=2'), args.join(' '));
    assert.ok(args.includes('--initial-old-space-size=32'), args.join(' '));
    assert.equal(args.includes('--single-threaded-gc'), cpus([]) === 1, args.join(' '));
    assert.ok(args.some((a) => a.endsWith('dist/src/main.js')), args.join(' '));
    assert.equal(exitCode, 0, 'SIGTERM reached the broker, which shut down cleanly');
  });

  test('SIGHUP (a closed terminal) shuts the broker down cleanly too', async () => {
    const { exitCode } = await launch([], {}, 'SIGHUP');
    assert.equal(exitCode, 0, 'SIGHUP reached the broker, which shut down cleanly');
  });

  test('pinned to one CPU, collects garbage on the event-loop thread alone', { skip: hasTaskset ? false : 'taskset (util-linux) is not installed' }, async () => {
    assert.equal(cpus(['taskset', '-c', '0']), 1);
    const { args } = await launch(['taskset', '-c', '0'], {});
    assert.ok(args.includes('--single-threaded-gc'), args.join(' '));
    assert.ok(args.includes('--max-semi-space-size=2'), args.join(' '));
  });

  test('RATATOSK_NODE_FLAGS replaces the flags', async () => {
    const { args } = await launch([], { RATATOSK_NODE_FLAGS: '--max-old-space-size=512' });
    assert.ok(args.includes('--max-old-space-size=512'), args.join(' '));
    assert.ok(!args.includes('--max-semi-space-size=2'), args.join(' '));
    assert.ok(!args.includes('--initial-old-space-size=32'), args.join(' '));
    const blank = await launch([], { RATATOSK_NODE_FLAGS: '' });
    assert.deepEqual(blank.args.filter((a) => a.startsWith('--') && !a.startsWith('--mqtt') && !a.startsWith('--ws') && !a.startsWith('--storage') && !a.startsWith('--log')), []);
  });

  test('with its log pipe closed (the reader went away), SIGTERM still stops the broker, exit code 0', async () => {
    const port = await freePort();
    const child = spawn(LAUNCHER, ['start', '--host', '127.0.0.1', '--mqtt-port', String(port), '--ws-port', '0', '--storage', 'memory'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    try {
      const deadline = Date.now() + 15_000;
      while (!(await accepting(port))) {
        assert.ok(Date.now() < deadline && child.exitCode === null, 'the broker did not start');
        await sleep(50);
      }
      child.stdout.destroy();
      await sleep(200);
      child.kill('SIGTERM');
      const result = await Promise.race([exited, sleep(5000).then(() => 'still running after 5 s')]);
      assert.deepEqual(result, { code: 0, signal: null });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('a plugin that refuses its config block: exit code 2 and one line naming the key, no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtk-launch-'));
    try {
      writeFileSync(join(dir, 'picky.js'), "exports.create = () => { throw new Error('users: expected a mapping of user names'); };\n");
      writeFileSync(join(dir, 'ratatosk.json'), JSON.stringify({ plugins: { throttler: { module: './picky.js' } } }));
      const r = spawnSync(LAUNCHER, ['start', '--config', join(dir, 'ratatosk.json'), '--mqtt-port', '0', '--ws-port', '0', '--storage', 'memory'], { encoding: 'utf8', timeout: 15_000 });
      assert.equal(r.status, 2, `exit ${r.status}: ${r.stderr}`);
      assert.match(r.stderr, /plugins\.throttler\.module: .*picky\.js: factory failed: users: expected a mapping of user names/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'a stack trace');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a SIGTERM while the broker is still starting (a plugin loading) stops it cleanly once started, exit code 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtk-launch-'));
    try {
      // A throttler plugin that takes a second to load, and says when it starts.
      writeFileSync(
        join(dir, 'slow.js'),
        "exports.create = async () => { process.stderr.write('slow plugin loading\\n'); await new Promise((r) => setTimeout(r, 1000)); return { hasResource: () => true }; };\n",
      );
      writeFileSync(join(dir, 'ratatosk.json'), JSON.stringify({ plugins: { throttler: { module: './slow.js' } } }));
      const port = await freePort();
      const argv = [LAUNCHER, 'start', '--config', join(dir, 'ratatosk.json'), '--mqtt-port', String(port), '--ws-port', '0', '--storage', 'memory', '--log-level', 'info'];
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
      try {
        const deadline = Date.now() + 15_000;
        while (!output.includes('slow plugin loading')) {
          assert.ok(Date.now() < deadline && child.exitCode === null, `the plugin did not start loading: ${output}`);
          await sleep(20);
        }
        child.kill('SIGTERM');
        const { code, signal } = await exited;
        assert.deepEqual({ code, signal }, { code: 0, signal: null }, `killed by the signal instead of shutting down: ${output}`);
        assert.match(output, /shutting down/);
        assert.match(output, /Ratatosk started/, 'it finished starting, then stopped');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
