/**
 * A Transport over a Node.js duplex byte stream: a TCP socket or a TLS socket.
 */
import type { Socket } from 'node:net';
import type { ConnectionInfo } from '../plugins/types';
import { BatchedWriter } from './socket-writer';
import type { Transport, TransportHandler } from './transport';

/** Outgoing bytes per connection above which it counts as congested. */
export const DEFAULT_HIGH_WATER = 1024 * 1024;

export class StreamTransport implements Transport {
  private handler: TransportHandler | undefined;
  private readonly writer: BatchedWriter;
  private congested = false;
  closed = false;

  constructor(
    private readonly socket: Socket,
    readonly info: ConnectionInfo,
    private readonly highWater: number = DEFAULT_HIGH_WATER,
  ) {
    this.writer = new BatchedWriter(socket);
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  bind(handler: TransportHandler): void {
    this.handler = handler;
  }

  get pendingBytes(): number {
    return this.writer.pendingBytes;
  }

  get writable(): boolean {
    if (this.closed) return false;
    if (this.writer.pendingBytes < this.highWater) return true;
    this.congested = true;
    return false;
  }

  write(data: Buffer): void {
    if (!this.closed) this.writer.write(data);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.closed) this.socket.resume();
  }

  end(): void {
    if (this.closed) return;
    this.writer.flush();
    this.writer.discard();
    this.socket.end();
    // A peer that never reads must not keep the socket open forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  destroy(): void {
    this.writer.discard();
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.handler?.onData(chunk);
  };

  private readonly onDrain = (): void => {
    if (this.congested && this.writer.pendingBytes < this.highWater) {
      this.congested = false;
      this.handler?.onDrain();
    }
  };

  private error: Error | undefined;
  private readonly onError = (err: Error): void => {
    this.error = err;
  };

  private readonly onClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.writer.discard();
    this.handler?.onClose(this.error);
  };
}
