/**
 * A Transport over a Node.js duplex byte stream: a TCP socket or a TLS socket.
 *
 * The socket's events go to module-level functions that find their transport through a symbol on
 * the socket, so a connection costs no closures (memory per idle connection matters at 1M).
 */
import type { Socket } from 'node:net';
import type { ConnectionInfo } from '../plugins/types';
import { reapLater } from './reaper';
import { BatchedWriter, type ByteSink } from './socket-writer';
import type { Transport, TransportHandler } from './transport';

/** Outgoing bytes per connection above which it counts as congested. */
export const DEFAULT_HIGH_WATER = 1024 * 1024;

const OWNER = Symbol('ratatosk.transport');

type OwnedSocket = Socket & { [OWNER]?: StreamTransport };

export class StreamTransport extends BatchedWriter implements Transport {
  private handler: TransportHandler | undefined = undefined;
  private congested = false;
  closed = false;
  error: Error | undefined = undefined;

  constructor(
    private readonly socket: Socket,
    readonly info: ConnectionInfo,
    private readonly highWater: number = DEFAULT_HIGH_WATER,
  ) {
    super();
    (socket as OwnedSocket)[OWNER] = this;
    socket.setNoDelay(true);
    socket.on('data', onSocketData);
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
  }

  protected get sink(): ByteSink {
    return this.socket;
  }

  bind(handler: TransportHandler): void {
    this.handler = handler;
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

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.closed) this.socket.resume();
  }

  end(): void {
    if (this.closed || this.writerClosed) return;
    this.flush();
    this.discard();
    this.socket.end();
    // A peer that never reads must not keep the socket open forever.
    reapLater(this.socket);
  }

  destroy(): void {
    this.discard();
    this.socket.destroy();
  }

  /** @internal socket events */
  onData(chunk: Buffer): void {
    this.handler?.onData(chunk);
  }

  /** @internal */
  onDrain(): void {
    if (this.congested && this.pendingBytes < this.highWater) {
      this.congested = false;
      this.handler?.onDrain();
    }
  }

  /** @internal */
  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.discard();
    this.handler?.onClose(this.error);
  }
}

function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[OWNER]?.onData(chunk);
}

function onSocketDrain(this: OwnedSocket): void {
  this[OWNER]?.onDrain();
}

function onSocketError(this: OwnedSocket, err: Error): void {
  const t = this[OWNER];
  if (t) t.error = err;
}

function onSocketClose(this: OwnedSocket): void {
  this[OWNER]?.onClose();
}


