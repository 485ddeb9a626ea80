/**
 * One timer for many deadlines (session expiry, will delay, keepalive, connect timeout).
 *
 * Deadlines sit in a binary min-heap; a single Node timer is armed for the earliest one. Cancelling
 * marks the handle and leaves it in the heap (dropped when it surfaces), so cancel is O(1).
 * Keepalive uses it lazily: a connection schedules a check at last-activity + timeout and, when the
 * check fires early because activity moved on, schedules the next one; activity itself costs nothing.
 */
import type { Clock } from './clock';

export interface DeadlineTarget {
  onDeadline(now: number): void;
}

export interface DeadlineHandle {
  readonly at: number;
  cancelled: boolean;
}

interface Entry extends DeadlineHandle {
  target: DeadlineTarget;
}

export class DeadlineScheduler {
  private heap: Entry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedAt = Infinity;
  private closed = false;

  constructor(private readonly clock: Clock) {}

  schedule(at: number, target: DeadlineTarget): DeadlineHandle {
    const entry: Entry = { at, target, cancelled: false };
    this.push(entry);
    if (at < this.armedAt) this.arm();
    return entry;
  }

  cancel(handle: DeadlineHandle | undefined): void {
    if (handle) handle.cancelled = true;
  }

  /** Runs every deadline that is due now; returns how many ran. Tests with a manual clock call this. */
  runDue(): number {
    const now = this.clock.now();
    let ran = 0;
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > now) break;
      this.pop();
      if (top.cancelled) continue;
      top.cancelled = true;
      ran++;
      try {
        top.target.onDeadline(now);
      } catch (err) {
        // A failing target must not stop the others; it is reported once on the process.
        process.emitWarning(`deadline target failed: ${(err as Error).stack ?? String(err)}`);
      }
    }
    return ran;
  }

  /** Pending deadlines, including cancelled ones not yet dropped. */
  get size(): number {
    return this.heap.length;
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.heap = [];
  }

  private arm(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
    // Drop cancelled entries at the top so the timer is armed for a live deadline.
    while (this.heap[0]?.cancelled) this.pop();
    const top = this.heap[0];
    if (!top) return;
    this.armedAt = top.at;
    const delay = Math.max(0, Math.min(top.at - this.clock.now(), 2_147_483_647));
    this.timer = setTimeout(this.fire, delay);
    this.timer.unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedAt = Infinity;
    this.runDue();
    this.arm();
  };

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= entry.at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (!last || heap.length === 0) return;
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && heap[r]!.at < heap[l]!.at ? r : l;
      if (heap[c]!.at >= last.at) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
  }
}
