/**
 * Makes sure an external command a test suite needs is on the PATH. When it is missing and we run
 * as root (developer machines and CI here), its Debian package is installed with apt-get; otherwise
 * the suite fails with a message that says what to install. Never a silent skip.
 *
 *   before(async () => { await ensureCommand('mosquitto_sub', 'mosquitto-clients'); }, { timeout: 600_000 });
 *
 * Several test files may ask at once (node --test runs files in parallel processes): apt and dpkg
 * locks are waited for, and the command is looked for again before every attempt.
 */
import { spawn } from 'node:child_process';
import { findCommand } from '../../src/util/find-command';

export { findCommand };

interface Run {
  code: number | null;
  output: string;
}

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', (err) => resolve({ code: -1, output: `${output}\n${err.message}` }));
    child.once('close', (code) => resolve({ code, output }));
  });
}

const LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=300'];
let updated = false;

/**
 * Resolves with the path of `cmd`, installing `debPackage` first if needed (root only). Rejects with
 * a clear message when the command is missing and cannot be installed. Give the calling hook a
 * generous timeout: an apt-get update and install can take minutes.
 */
export async function ensureCommand(cmd: string, debPackage: string): Promise<string> {
  const found = findCommand(cmd);
  if (found) return found;
  const howTo = `install the Debian package '${debPackage}' (apt-get install -y ${debPackage})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(`'${cmd}' is not on the PATH and this test is not running as root, so it cannot install it: ${howTo}`);
  }
  if (!findCommand('apt-get')) throw new Error(`'${cmd}' is not on the PATH and apt-get is not available: ${howTo}`);
  let last: Run = { code: 0, output: '' };
  for (let attempt = 1; attempt <= 5; attempt++) {
    if (!updated) {
      last = await run('apt-get', [...LOCK_WAIT, 'update']);
      if (last.code === 0) updated = true;
    }
    const again = findCommand(cmd);
    if (again) return again; // installed meanwhile by another test process
    last = await run('apt-get', [...LOCK_WAIT, 'install', '-y', '--no-install-recommends', debPackage]);
    const installed = findCommand(cmd);
    if (installed) return installed;
    // Another process holding a lock, or a stale package list: wait and try again.
    await new Promise((r) => setTimeout(r, 2000 * attempt));
    if (/Unable to locate package|has no installation candidate/.test(last.output)) updated = false;
  }
  throw new Error(`'${cmd}' is not on the PATH and installing '${debPackage}' failed (exit ${last.code}):\n${last.output.trim()}\n${howTo}`);
}
