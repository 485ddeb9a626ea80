/**
 * Batches writes per socket per event-loop turn.
 *
 * Data from many sockets is read in one poll phase; every PUBLISH routed during it appends to the
 * out-lists of its subscribers' sockets. One setImmediate per turn (not per message) then hands
 * each touched socket its bytes in a single write: concatenated when small, corked writev when large.
 * Transports extend this class (one object per connection, not two), and an idle connection holds
 * no out-list at all.
 */

import { TurnBatch } from '../util/turn-batch';

/** Where batched bytes go: a socket (corkable) or a WebSocket (one frame per flush). */
export interface ByteSink {
  write(data: Buffer): void;
  /** Bytes accepted by the sink and not yet handed to the kernel. */
  readonly writableLength: number;
  cork?(): void;
  uncork?(): void;
}

const CONCAT_LIMIT = 64 * 1024;

export abstract class BatchedWriter {
  /** The first buffer of this turn, and the others (only when there are several). */
  private first: Buffer | undefined = undefined;
  private more: Buffer[] | undefined = undefined;
  private outBytes = 0;
  private queued = false;
  /** Set once the connection is closing: later writes are dropped. */
  writerClosed = false;

  protected abstract get sink(): ByteSink;

  get pendingBytes(): number {
    return this.outBytes + this.sink.writableLength;
  }

  protected queueBytes(data: Buffer): void {
    if (this.writerClosed) return;
    if (this.first === undefined) this.first = data;
    else (this.more ??= []).push(data);
    this.outBytes += data.length;
    if (!this.queued) {
      this.queued = true;
      touched.add(this);
    }
  }

  /** Hands everything queued to the sink now. */
  flush(): void {
    this.queued = false;
    const first = this.first;
    const more = this.more;
    const bytes = this.outBytes;
    this.first = undefined;
    this.more = undefined;
    this.outBytes = 0;
    if (first === undefined || this.writerClosed) return;
    const sink = this.sink;
    if (more === undefined) {
      sink.write(first);
    } else if (bytes <= CONCAT_LIMIT || !sink.cork || !sink.uncork) {
      more.unshift(first);
      sink.write(Buffer.concat(more, bytes));
    } else {
      sink.cork();
      sink.write(first);
      for (let i = 0; i < more.length; i++) sink.write(more[i]!);
      sink.uncork();
    }
  }

  /** Drops what is queued; later writes are ignored. */
  discard(): void {
    this.writerClosed = true;
    this.first = undefined;
    this.more = undefined;
    this.outBytes = 0;
  }
}

/** Sockets written to in this turn, flushed at its end. */
const touched = new TurnBatch<BatchedWriter>((w) => {
  try {
    w.flush();
  } catch {
    // A stream that throws on write is already destroyed; its close handler cleans up.
    w.discard();
  }
});

/**
 * Hands every socket its bytes batched so far, now rather than at the end of the turn (for a light
 * tenant's deliveries while a flood shares the loop).
 */
export function flushWrites(): void {
  if (touched.size > 0) touched.run();
}
