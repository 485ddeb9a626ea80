/**
 * Starting the background process: under `chrt --idle 0` (every thread of it SCHED_IDLE); where
 * `chrt` is missing or may not do that (a sandbox that forbids sched_setscheduler), at the lowest
 * nice level, which only lowers its share of the CPU.
 */
import { fork, spawnSync, type ChildProcess, type ForkOptions } from 'node:child_process';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log';
import { findCommand } from '../util/find-command';

/** `chrt` when it may set SCHED_IDLE here (probed once: the probe blocks). */
let idleScheduler: string | null | undefined;

function chrtIdle(): string | null {
  if (idleScheduler === undefined) {
    const chrt = findCommand('chrt');
    idleScheduler = chrt !== undefined && spawnSync(chrt, ['--idle', '0', 'true'], { stdio: 'ignore' }).status === 0 ? chrt : null;
  }
  return idleScheduler;
}

export function spawnBackground(log: Logger): ChildProcess {
  const entry = join(__dirname, 'background-main.js');
  // The broker's Node.js options carry over (bin/ratatosk's garbage-collector settings); test-runner,
  // inspector and watch options do not. And its garbage collection runs on its main thread only:
  // with V8's parallel collector (helper threads, SCHED_IDLE like the rest of it), a neighbour's
  // p99 beside a flood was 2.7 ms instead of 0.54 ms (noisy-neighbour bench, one run each; why
  // idle-class threads delay another process so is not understood).
  const execArgv = process.execArgv.filter((a) => !/^--(test|inspect|watch|experimental-test|eval|print)/.test(a));
  if (!execArgv.includes('--single-threaded-gc')) execArgv.push('--single-threaded-gc');
  const options: ForkOptions = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' };
  const chrt = chrtIdle();
  if (chrt !== null) {
    return fork(entry, [], { ...options, execPath: chrt, execArgv: ['--idle', '0', process.execPath, ...execArgv] });
  }
  const child = fork(entry, [], { ...options, execArgv });
  log.warn('chrt --idle is not available: the background process runs at nice 19 instead of SCHED_IDLE');
  try {
    if (child.pid !== undefined) setPriority(child.pid, 19);
  } catch {
    // it exited already: its exit is handled where it was started
  }
  return child;
}
