/**
 * Starting the background process, then ranking it last: once it is ready, every thread of it goes
 * to SCHED_IDLE (`chrt --idle -a -p 0`); where `chrt` is missing or may not do that (a sandbox that
 * forbids sched_setscheduler), to the lowest nice level, which only lowers its share of the CPU.
 * It starts at normal priority: on a CPU that a flood keeps busy, an idle-class process would
 * hardly get to start, and the flood is what it is started for.
 */
import { execFile, fork, spawnSync, type ChildProcess, type ForkOptions } from 'node:child_process';
import { readdirSync } from 'node:fs';
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

export function spawnBackground(): ChildProcess {
  const entry = join(__dirname, 'background-main.js');
  // The broker's Node.js options carry over (bin/ratatosk's garbage-collector settings); test-runner,
  // inspector and watch options do not. And its garbage collection runs on its main thread only:
  // with V8's parallel collector (helper threads, SCHED_IDLE like the rest of it), a neighbour's
  // p99 beside a flood was 2.7 ms instead of 0.54 ms (noisy-neighbour bench, one run each; why
  // idle-class threads delay another process so is not understood).
  const execArgv = process.execArgv.filter((a) => !/^--(test|inspect|watch|experimental-test|eval|print)/.test(a));
  if (!execArgv.includes('--single-threaded-gc')) execArgv.push('--single-threaded-gc');
  const options: ForkOptions = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced', execArgv };
  return fork(entry, [], options);
}

/**
 * Ranks a started background process last: SCHED_IDLE for every thread it has (threads it starts
 * later inherit it), or nice 19 for each where that is not allowed. Resolves when done.
 */
export async function rankLast(pid: number, log: Logger): Promise<void> {
  const chrt = chrtIdle();
  if (chrt !== null) {
    const ok = await new Promise<boolean>((resolve) => execFile(chrt, ['--idle', '-a', '-p', '0', String(pid)], (err) => resolve(err === null)));
    if (ok) return;
  }
  log.warn('chrt --idle is not available: the background process runs at nice 19 instead of SCHED_IDLE');
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    threads = [String(pid)];
  }
  for (const tid of threads) {
    try {
      setPriority(Number(tid), 19);
    } catch {
      // gone meanwhile
    }
  }
}
