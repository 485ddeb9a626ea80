/**
 * The line of a tenant's connections waiting to read, part of fair scheduling (fair-scheduler.ts).
 *
 * Each connection of a sliced tenant that reads while the tenant waits for its next turn holds its
 * chunk, up to a 64 KiB read. Without a bound, every connection of a flooding tenant would hold one:
 * memory that grows with the number of connections, held long enough to reach the old generation,
 * where only a full collection frees it. So once HELD_BYTES are held for a tenant, its other
 * connections stop reading and wait in line, paused, their input left in the kernel (TCP
 * backpressure), and read again oldest first as held input is handled. A connection with deliveries
 * queued or in flight never waits: its acknowledgements are what they wait for.
 */
import { Deque } from '../util/deque';
import type { FairTenant, Pausable } from './fair-scheduler';

/** Input a sliced tenant may have held (bytes) before its other connections stop reading. */
export const HELD_BYTES = 256 * 1024;

/** The most a socket read brings (Node.js reads up to 64 KiB at a time). */
const MAX_READ = 64 * 1024;

/** Connections let read from the line at a time by a tenant with room in its turn (twice as many each such turn). */
export const LINE_STEP = 4;

/** Whether deliveries to the connection are queued or in flight (it must read their acknowledgements). */
function awaitsAcks(conn: Pausable): boolean {
  return conn.session !== undefined && conn.session.pendingCount > 0;
}

export class ReadLine {
  /** Tenants with connections in line. */
  private readonly tenants = new Set<FairTenant>();

  /** `turnEnd` asks the scheduler for a turn end (at which `admit` runs). */
  constructor(private readonly turnEnd: () => void) {}

  /**
   * Input was just held for one of the tenant's connections. Once HELD_BYTES are held while slices
   * apply, every connection still reading stops and waits in line, but those just let read from it
   * (their turn has come). Once an interval: after that walk, only those let read from the line read.
   */
  held(t: FairTenant, sliced: boolean): void {
    t.fairAdmit = LINE_STEP;
    if (t.fairHeldBytes < HELD_BYTES || t.fairSwept || !sliced) return;
    t.fairSwept = true;
    const fromLine = t.fairReading !== undefined ? new Set(t.fairReading) : undefined;
    for (const c of t.connections) {
      if (c.fairChunks === undefined && !c.waitingToRead && !c.closed && !awaitsAcks(c) && fromLine?.has(c) !== true) this.join(t, c);
    }
  }

  /** A connection's held input is all handled: with a line, or much held, its next chunk waits in the kernel for its turn. */
  handled(t: FairTenant, conn: Pausable): void {
    if ((t.fairWaiting !== undefined || t.fairHeldBytes >= HELD_BYTES) && !awaitsAcks(conn)) this.join(t, conn);
    else conn.resumeFromFairness();
  }

  /**
   * Held input was handled: the next connections in line read, as many as may bring what is missing
   * of HELD_BYTES (one that waited in line has a full read waiting for it).
   */
  refill(t: FairTenant): void {
    if (t.fairHeldBytes < HELD_BYTES) this.release(t, Math.ceil((HELD_BYTES - t.fairHeldBytes) / MAX_READ));
  }

  /** Pauses a connection in its tenant's line. */
  private join(t: FairTenant, conn: Pausable): void {
    conn.waitingToRead = true;
    conn.pauseForFairness();
    (t.fairWaiting ??= new Deque()).push(conn);
    this.tenants.add(t);
  }

  /** Its connections over its share wait in line, to read again a few at a time (see admit). */
  joinAll(t: FairTenant): void {
    for (const c of t.connections) {
      if (c.fairChunks !== undefined || c.waitingToRead) continue;
      if (awaitsAcks(c)) c.resumeFromFairness();
      else this.join(t, c);
    }
    t.fairAdmit = LINE_STEP;
    this.turnEnd();
  }

  /** Resumes up to `count` connections of the tenant's line, oldest first. */
  release(t: FairTenant, count: number): void {
    const waiting = t.fairWaiting;
    if (waiting === undefined) return;
    while (count > 0 && waiting.length > 0) {
      const conn = waiting.shift()!;
      // (one that left the line early, see leave, or closed, is passed over)
      if (!conn.waitingToRead || conn.closed) {
        conn.waitingToRead = false;
        continue;
      }
      conn.waitingToRead = false;
      conn.resumeFromFairness();
      (t.fairReading ??= []).push(conn);
      count--;
    }
    if (waiting.length === 0) {
      t.fairWaiting = undefined;
      this.tenants.delete(t);
    }
  }

  /**
   * At a turn end: tenants with room in this turn (not paused, less than HELD_BYTES held) take
   * connections back, a few, then twice as many each turn they still have room, so that a tenant
   * whose flood ended is soon read from everywhere without every connection bringing a chunk in one
   * turn. Returns whether some tenant may take more back next turn. (A tenant paused in its turns is
   * served when they resume; one over its share when the interval ends; one whose held input is
   * blocked when it is unblocked, or by `intervalEnd`.)
   */
  admit(): boolean {
    let more = false;
    for (const t of this.tenants) {
      if (t.fairPaused || t.turnPaused || t.fairHeldBytes >= HELD_BYTES) continue;
      const n = Math.max(LINE_STEP, t.fairAdmit);
      this.release(t, n);
      t.fairAdmit = 2 * n;
      more ||= t.fairWaiting !== undefined;
    }
    return more;
  }

  /**
   * A connection in line is about to wait for acknowledgements of deliveries to it (see
   * Pausable.session): it leaves the line and reads again (its entry in line is passed over).
   */
  leave(conn: Pausable): void {
    if (!conn.waitingToRead) return;
    conn.waitingToRead = false;
    conn.resumeFromFairness();
  }

  /**
   * An interval ended: the once-an-interval marks reset. Without slices every connection in line
   * reads again; otherwise a few at least, whatever holds the line (input held for connections
   * blocked for another reason, say).
   */
  intervalEnd(sliced: boolean): void {
    for (const t of this.tenants) {
      t.fairSwept = false;
      t.fairReading = undefined;
      if (!sliced) this.release(t, Infinity);
      else if (!t.fairPaused) this.release(t, LINE_STEP);
    }
  }

  /** The tenants with a line (the line stays theirs: `release` them). */
  withLine(): FairTenant[] {
    return [...this.tenants];
  }
}
