/**
 * A FIFO queue over a ring buffer: O(1) push and shift without per-item allocation.
 *
 * The ring only grows (doubling, when full) and every slot is cleared as its item leaves. This
 * matters to the garbage collector: a queue that lives long ends up in the old generation, and an
 * array it abandons (to compact or to grow) stays there, still pointing at items that were queued
 * then, until the next full collection. Every young item such a dead array points at is kept alive
 * and promoted by each minor collection. A queue that copied itself every thousand shifts thus
 * promoted nearly every message that passed through it under load; the ring abandons an array only
 * when it doubles.
 */
// Shared by every empty deque; never written to (push replaces it first).
const EMPTY: never[] = [];

/** Slots of a deque's first ring. */
const FIRST_CAPACITY = 8;

/** A ring larger than this is let go once the deque is empty (a burst does not pin its memory). */
const KEEP_CAPACITY = 256;

export class Deque<T> {
  /** Allocated on first push: most deques of idle sessions never hold anything. */
  private ring: (T | undefined)[] = EMPTY;
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(item: T): void {
    let ring = this.ring;
    if (this.count === ring.length) ring = this.grow();
    ring[(this.head + this.count) & (ring.length - 1)] = item;
    this.count++;
  }

  peek(): T | undefined {
    return this.count > 0 ? this.ring[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const ring = this.ring;
    const item = ring[this.head];
    ring[this.head] = undefined;
    this.head = (this.head + 1) & (ring.length - 1);
    if (--this.count === 0 && ring.length > KEEP_CAPACITY) this.clear();
    return item;
  }

  /** Removes every item for which `drop` returns true, keeping order. */
  removeWhere(drop: (item: T) => boolean): number {
    const ring = this.ring;
    const mask = ring.length - 1;
    let kept = 0;
    for (let i = 0; i < this.count; i++) {
      const at = (this.head + i) & mask;
      const item = ring[at] as T;
      ring[at] = undefined;
      if (!drop(item)) ring[(this.head + kept++) & mask] = item;
    }
    const removed = this.count - kept;
    this.count = kept;
    return removed;
  }

  clear(): void {
    this.ring = EMPTY;
    this.head = 0;
    this.count = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    const ring = this.ring;
    const mask = ring.length - 1;
    for (let i = 0; i < this.count; i++) yield ring[(this.head + i) & mask] as T;
  }

  /** Doubles the ring (the first push creates it), unwrapping the items to its start. */
  private grow(): (T | undefined)[] {
    const old = this.ring;
    const size = old.length === 0 ? FIRST_CAPACITY : old.length * 2;
    const ring = new Array<T | undefined>(size).fill(undefined);
    const mask = old.length - 1;
    for (let i = 0; i < this.count; i++) {
      const at = (this.head + i) & mask;
      ring[i] = old[at];
      old[at] = undefined;
    }
    this.ring = ring;
    this.head = 0;
    return ring;
  }
}
