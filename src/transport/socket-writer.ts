/**
 * Batches writes per socket per event-loop turn.
 *
 * Data from many sockets is read in one poll phase; every PUBLISH routed during it goes to the
 * output of its subscribers' sockets. One setImmediate per turn (not per message) then hands each
 * touched socket its bytes: a lone buffer as it is, several small ones copied into output chunks
 * of up to 64 KB, large ones (a shared payload) as they are, corked into one writev.
 *
 * Copying small packets into chunks is what keeps a busy broker's garbage collector quiet: a
 * congested subscriber's socket holds what it was handed until the client reads it, and thousands
 * of small buffers held that long each outlive young collections and fill the old generation; a
 * few 64 KB chunks do not. Chunks of 4 KB and more (powers of two) are reused once the socket has
 * written them, so that a fast flow does not allocate memory outside the heap at its own rate: a
 * chunk held by a congested socket outlives young collections, and V8 counts such memory towards
 * its next full collection (measured under a QoS 0 flood before chunks below 64 KB were reused: up
 * to 59 MB of dead 8-32 KB chunks waiting for each full collection, one every ~300 ms). `append`
 * copies into the current chunk and says where, so a caller can patch its copy (a packet id)
 * without a buffer of its own.
 *
 * Transports extend this class (one object per connection, not two); an idle connection holds no
 * output at all.
 */

import { TurnBatch } from '../util/turn-batch';

/** Where batched bytes go: a socket (corkable) or a WebSocket (one frame per flush). */
export interface ByteSink {
  /** `done` (when the sink calls it) tells that the sink no longer needs `data`. */
  write(data: Buffer, done?: (err?: Error | null) => void): void;
  /** Bytes accepted by the sink and not yet handed to the kernel. */
  readonly writableLength: number;
  cork?(): void;
  uncork?(): void;
}

/** Largest output chunk; chunks start small and double while a turn fills them. */
export const MAX_CHUNK = 64 * 1024;
const MIN_CHUNK = 1024;
/** A buffer this large is handed over as it is (a shared payload is never copied). */
export const OWN_WRITE_SIZE = 16 * 1024;

/** The smallest chunk that is reused (smaller ones come from Node's shared pool). */
const MIN_REUSED = 4 * 1024;
const LOG2_MIN_REUSED = 31 - Math.clz32(MIN_REUSED);
/**
 * Chunks the sockets have finished with, ready to be filled again: one list per size (4, 8, 16,
 * 32 and 64 KB), each kept to at most `SPARE_BYTES[size]` (9 MB in all); more are left to the
 * garbage collector.
 */
const spareChunks: Buffer[][] = [[], [], [], [], []];
const SPARE_BYTES = [1, 1, 1, 2, 4].map((mb) => mb * 1024 * 1024);

/** The spare list a chunk of `size` bytes goes to, or -1 for a size that is not reused. */
function sizeClass(size: number): number {
  if (size < MIN_REUSED || size > MAX_CHUNK || (size & (size - 1)) !== 0) return -1;
  return 31 - Math.clz32(size) - LOG2_MIN_REUSED;
}

function takeChunk(size: number, cls: number): Buffer {
  return spareChunks[cls]!.pop() ?? Buffer.allocUnsafeSlow(size);
}

function giveBack(chunks: Buffer[]): void {
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i]!;
    const cls = sizeClass(chunk.length);
    const spare = spareChunks[cls]!;
    if ((spare.length + 1) * chunk.length <= SPARE_BYTES[cls]!) spare.push(chunk);
  }
}

/** Spare chunks now, of every size (for tests). */
export function spareChunkCount(): number {
  let n = 0;
  for (const list of spareChunks) n += list.length;
  return n;
}

export abstract class BatchedWriter {
  /** A lone buffer of this turn, kept as it is until a second one comes. */
  private single: Buffer | undefined = undefined;
  /** The chunk being filled, how much of it is, and where its part not yet in `ready` starts. */
  private chunk: Buffer | undefined = undefined;
  private used = 0;
  private open = 0;
  /** Earlier pieces of this turn, in order: filled chunks and large buffers. */
  private ready: Buffer[] | undefined = undefined;
  /** Chunks of 4 KB and more behind pieces of this turn, reused once the sink has written them. */
  private reusable: Buffer[] | undefined = undefined;
  /** Size of the chunk to start with: what the last turn sent, so a busy socket starts large. */
  private chunkHint = MIN_CHUNK;
  private outBytes = 0;
  /** Bytes handed to the sink since the connection opened. */
  private handed = 0;
  /** Bytes copied into chunks this turn (what sizes the next turn's first chunk). */
  private copied = 0;
  private queued = false;
  /** Set while what is written must wait (holdOutput). */
  private outputHeld = false;
  /** Set once the connection is closing: later writes are dropped. */
  writerClosed = false;

  protected abstract get sink(): ByteSink;

  get pendingBytes(): number {
    return this.outBytes + this.sink.writableLength;
  }

  /**
   * Bytes the sink has passed on to the kernel since the connection opened: it grows only while the
   * client reads (or the kernel's buffers still have room), however slowly.
   */
  get bytesTaken(): number {
    return this.handed - this.sink.writableLength;
  }

  /** The chunk the last `append` copied into (valid until the next write, append or flush). */
  get tail(): Buffer {
    return this.chunk!;
  }

  /** Queues `data` for the end of the turn. The caller must not change it afterwards. */
  protected queueBytes(data: Buffer): void {
    if (this.writerClosed) return;
    const len = data.length;
    if (len >= OWN_WRITE_SIZE) {
      // The chunk stays open: small writes after this one go on filling it.
      this.seal(false);
      (this.ready ??= []).push(data);
    } else if (this.single === undefined && this.chunk === undefined && this.ready === undefined) {
      this.single = data;
    } else {
      this.copyIn(data);
    }
    this.counted(len);
  }

  /**
   * Copies `data` into the output and returns its offset in `tail`, where the caller may patch it
   * until the turn ends. Returns -1 when the writer is closed.
   */
  append(data: Buffer): number {
    if (this.writerClosed) return -1;
    const at = this.copyIn(data);
    this.counted(data.length);
    return at;
  }

  private counted(len: number): void {
    this.outBytes += len;
    if (!this.queued) {
      this.queued = true;
      touched.add(this);
    }
  }

  private copyIn(data: Buffer): number {
    const single = this.single;
    if (single !== undefined) {
      this.single = undefined;
      this.copyIn(single);
    }
    const len = data.length;
    let chunk = this.chunk;
    if (chunk === undefined || this.used + len > chunk.length) {
      let size = chunk === undefined ? this.chunkHint : Math.min(chunk.length * 2, MAX_CHUNK);
      if (size < len) size = len;
      this.seal(true);
      const cls = sizeClass(size);
      if (cls >= 0) {
        chunk = this.chunk = takeChunk(size, cls);
        (this.reusable ??= []).push(chunk);
      } else {
        chunk = this.chunk = Buffer.allocUnsafe(size);
      }
    }
    const at = this.used;
    data.copy(chunk, at);
    this.used = at + len;
    this.copied += len;
    return at;
  }

  /**
   * Moves the lone buffer, and the filled part of the chunk not moved yet, to the ready list; with
   * `close`, the chunk is done with (else later small writes go on filling it).
   */
  private seal(close: boolean): void {
    const single = this.single;
    if (single !== undefined) {
      this.single = undefined;
      (this.ready ??= []).push(single);
    }
    const chunk = this.chunk;
    if (chunk === undefined) return;
    if (this.used > this.open) {
      (this.ready ??= []).push(this.open === 0 && this.used === chunk.length ? chunk : chunk.subarray(this.open, this.used));
      this.open = this.used;
    }
    if (close) {
      this.chunk = undefined;
      this.used = 0;
      this.open = 0;
    }
  }

  /**
   * Keeps what is written from the sink until releaseOutput: a CONNACK that must not leave before
   * the session it announces is stored, with whatever is written behind it. A connection that
   * ends meanwhile drops what was held.
   */
  holdOutput(): void {
    this.outputHeld = true;
  }

  releaseOutput(): void {
    if (!this.outputHeld) return;
    this.outputHeld = false;
    try {
      this.flush();
    } catch {
      // A stream that throws on write is already destroyed; its close handler cleans up.
      this.discard();
    }
  }

  /** Hands everything queued to the sink now (unless the output is held). */
  flush(): void {
    this.queued = false;
    if (this.writerClosed || this.outputHeld) return;
    const bytes = this.outBytes;
    this.outBytes = 0;
    // The next turn starts with a chunk the size of what this one copied (a power of two): a socket
    // that sends a few KB a turn does not hold a 64 KB chunk for each.
    const copied = this.copied;
    this.copied = 0;
    this.chunkHint = copied <= MIN_CHUNK ? MIN_CHUNK : copied >= MAX_CHUNK ? MAX_CHUNK : 2 ** Math.ceil(Math.log2(copied));
    this.seal(true);
    const ready = this.ready;
    if (ready === undefined) return;
    this.ready = undefined;
    this.handed += bytes;
    const reusable = this.reusable;
    this.reusable = undefined;
    const done = reusable === undefined ? undefined : (err?: Error | null): void => {
      if (!err) giveBack(reusable);
    };
    const sink = this.sink;
    if (ready.length === 1) {
      sink.write(ready[0]!, done);
      return;
    }
    if (!sink.cork || !sink.uncork) {
      sink.write(Buffer.concat(ready, bytes));
      if (reusable !== undefined) giveBack(reusable);
      return;
    }
    sink.cork();
    const last = ready.length - 1;
    for (let i = 0; i < last; i++) sink.write(ready[i]!);
    // Writes complete in order: when the last is done, the sink is done with every chunk.
    sink.write(ready[last]!, done);
    sink.uncork();
  }

  /** Drops what is queued; later writes are ignored. */
  discard(): void {
    this.writerClosed = true;
    this.single = undefined;
    this.chunk = undefined;
    this.used = 0;
    this.open = 0;
    this.ready = undefined;
    this.reusable = undefined;
    this.outBytes = 0;
    this.copied = 0;
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
