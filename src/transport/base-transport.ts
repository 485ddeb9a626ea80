/**
 * What every transport shares: the batched writer, the handler, congestion (the high-water mark and
 * the drain that ends it), and the close sequence. Subclasses say how to pause, end and destroy.
 */
import type { ConnectionInfo } from '../plugins/types';
import { BatchedWriter } from './socket-writer';
import type { Transport, TransportHandler } from './transport';

/** Outgoing bytes per connection above which it counts as congested. */
export const DEFAULT_HIGH_WATER = 1024 * 1024;

export abstract class BaseTransport extends BatchedWriter implements Transport {
  protected handler: TransportHandler | undefined = undefined;
  private congested = false;
  closed = false;
  error: Error | undefined = undefined;

  constructor(
    readonly info: ConnectionInfo,
    private readonly highWater: number,
  ) {
    super();
  }

  abstract pause(): void;
  abstract resume(): void;
  /** Ends the underlying connection politely (after what was written). */
  protected abstract closeGracefully(): void;
  /** Closes the underlying connection at once. */
  protected abstract destroyNow(): void;

  bind(handler: TransportHandler): void {
    this.handler = handler;
  }

  get socketBacklog(): number {
    return this.sink.writableLength;
  }

  get writable(): boolean {
    if (this.closed) return false;
    if (this.pendingBytes < this.highWater) return true;
    this.congested = true;
    return false;
  }

  write(data: Buffer): void {
    if (!this.closed) this.queueBytes(data);
  }

  override append(data: Buffer): number {
    return this.closed ? -1 : super.append(data);
  }

  end(): void {
    if (this.closed || this.writerClosed) return;
    this.flush();
    this.discard();
    this.closeGracefully();
  }

  destroy(): void {
    this.discard();
    this.destroyNow();
  }

  /** The underlying connection drained: the connection hears of it when it had been congested. */
  protected drained(): void {
    if (this.congested && this.pendingBytes < this.highWater) {
      this.congested = false;
      this.handler?.onDrain();
    }
  }

  /** The underlying connection closed (once). */
  protected gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.discard();
    this.handler?.onClose(this.error);
  }
}
