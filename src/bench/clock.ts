/**
 * One monotonic clock for every thread of the generator, so that a timestamp written into a payload
 * by a publisher in one worker can be compared with the arrival time read by a subscriber in another.
 *
 * process.hrtime.bigint() is CLOCK_MONOTONIC, shared by all threads of the process, but allocates a
 * BigInt per call. performance.now() is cheap but relative to each thread's own time origin. So each
 * thread calibrates once: offset = (hrtime - epoch) - performance.now(), taking the tightest of a few
 * samples, and then reads performance.now() + offset. Times are nanoseconds since `epoch` as doubles
 * (exact integers far beyond any run's length).
 */
import { performance } from 'node:perf_hooks';

export type NowNs = () => number;

/** An epoch for a run: the shared monotonic clock now. Pass it to every worker. */
export function newEpoch(): bigint {
  return process.hrtime.bigint();
}

export function makeClock(epoch: bigint): NowNs {
  let best = Infinity;
  let offsetMs = 0;
  for (let i = 0; i < 25; i++) {
    const a = performance.now();
    const hr = process.hrtime.bigint();
    const b = performance.now();
    if (b - a < best) {
      best = b - a;
      offsetMs = Number(hr - epoch) / 1e6 - (a + b) / 2;
    }
  }
  return () => Math.round((performance.now() + offsetMs) * 1e6);
}
