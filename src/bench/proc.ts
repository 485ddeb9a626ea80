/**
 * CPU time and memory of a process, from /proc (Linux), and of the generator itself.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times: 100 on every Linux that Node supports. */
const CLK_TCK = 100;

/** User + system CPU seconds of `pid`, or undefined when it cannot be read. */
export function procCpuSeconds(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const ut = Number(rest[11]);
    const st = Number(rest[12]);
    if (!Number.isFinite(ut) || !Number.isFinite(st)) return undefined;
    return (ut + st) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Resident set size of `pid` in KiB (VmRSS), or undefined. */
export function procRssKb(pid: number): number | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)/m.exec(s);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds used by this process (every thread), user and system. */
export function selfCpuSeconds(): { user: number; system: number } {
  const u = process.cpuUsage();
  return { user: u.user / 1e6, system: u.system / 1e6 };
}
