/** Live connections, for shutdown, counts and the admin API. */
import type { Connection } from './connection';

export class ConnectionRegistry {
  private readonly live = new Set<Connection>();

  add(c: Connection): void {
    this.live.add(c);
  }

  delete(c: Connection): void {
    this.live.delete(c);
  }

  get size(): number {
    return this.live.size;
  }

  values(): IterableIterator<Connection> {
    return this.live.values();
  }
}
