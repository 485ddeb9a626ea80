/**
 * A FIFO queue over an array with a moving head: O(1) push and shift without per-item allocation.
 * The array is compacted when the consumed prefix outgrows the live part.
 */
// Shared by every empty deque; never written to (push replaces it first).
const EMPTY: never[] = [];

export class Deque<T> {
  /** Allocated on first push: most deques of idle sessions never hold anything. */
  private items: (T | undefined)[] = EMPTY;
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.items === EMPTY) this.items = [item];
    else this.items.push(item);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = EMPTY;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Removes every item for which `drop` returns true, keeping order. */
  removeWhere(drop: (item: T) => boolean): number {
    const kept: T[] = [];
    let removed = 0;
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i] as T;
      if (drop(item)) removed++;
      else kept.push(item);
    }
    this.items = kept.length > 0 ? kept : EMPTY;
    this.head = 0;
    return removed;
  }

  clear(): void {
    this.items = EMPTY;
    this.head = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}
