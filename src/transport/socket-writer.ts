/**
 * Batches writes per socket per event-loop turn.
 *
 * Data from many sockets is read in one poll phase; every PUBLISH routed during it appends to the
 * out-lists of its subscribers' sockets. One setImmediate per turn (not per message) then hands
 * each touched socket its bytes in a single write: concatenated when small, corked writev when large.
 */
/** Where batched bytes go: a socket (corkable) or a WebSocket (one frame per flush). */
export interface ByteSink {
  write(data: Buffer): void;
  /** Bytes accepted by the sink and not yet handed to the kernel. */
  readonly writableLength: number;
  cork?(): void;
  uncork?(): void;
}

const CONCAT_LIMIT = 64 * 1024;

export class BatchedWriter {
  private out: Buffer[] = [];
  private outBytes = 0;
  private queued = false;
  closed = false;

  constructor(private readonly stream: ByteSink) {}

  get pendingBytes(): number {
    return this.outBytes + this.stream.writableLength;
  }

  write(data: Buffer): void {
    if (this.closed) return;
    this.out.push(data);
    this.outBytes += data.length;
    if (!this.queued) {
      this.queued = true;
      touched.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }

  /** Hands everything queued to the stream now. */
  flush(): void {
    this.queued = false;
    const out = this.out;
    const n = out.length;
    if (n === 0 || this.closed) {
      this.out.length = 0;
      this.outBytes = 0;
      return;
    }
    const stream = this.stream;
    if (n === 1) {
      stream.write(out[0]!);
    } else if (this.outBytes <= CONCAT_LIMIT || !stream.cork || !stream.uncork) {
      stream.write(Buffer.concat(out, this.outBytes));
    } else {
      stream.cork();
      for (let i = 0; i < n; i++) stream.write(out[i]!);
      stream.uncork();
    }
    out.length = 0;
    this.outBytes = 0;
  }

  discard(): void {
    this.closed = true;
    this.out.length = 0;
    this.outBytes = 0;
  }
}

let touched: BatchedWriter[] = [];
let spare: BatchedWriter[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  const list = touched;
  touched = spare;
  for (let i = 0; i < list.length; i++) {
    const w = list[i]!;
    try {
      w.flush();
    } catch {
      // A stream that throws on write is already destroyed; its close handler cleans up.
      w.discard();
    }
  }
  list.length = 0;
  spare = list;
}
