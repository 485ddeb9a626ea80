/**
 * Work collected during a turn of the event loop and done once at its end: one setImmediate for all
 * of it, not one per item. Items added while the batch runs go into the next one.
 */
export class TurnBatch<T> {
  private items: T[] = [];
  private spare: T[] = [];
  private scheduled = false;

  constructor(private readonly each: (item: T) => void) {}

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    this.items.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  /** Does the batch now rather than at the end of the turn. */
  readonly run = (): void => {
    this.scheduled = false;
    const list = this.items;
    this.items = this.spare;
    for (let i = 0; i < list.length; i++) this.each(list[i]!);
    list.length = 0;
    this.spare = list;
  };
}
