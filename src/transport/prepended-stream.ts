/**
 * A duplex stream over a socket that first yields bytes already read from it. Node's TLS layer
 * reads a net.Socket through its native handle, so bytes put back with `unshift` (what followed a
 * PROXY header in the same read, typically the TLS ClientHello) would never reach it; through this
 * stream they do. Like every socket the broker reads, it reads ahead no further than one chunk
 * while paused (read-ahead.ts): the stream itself and the socket under it.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { limitReadAhead, READ_AHEAD_BYTES } from './read-ahead';

export class PrependedStream extends Duplex {
  constructor(
    readonly socket: Socket,
    first: Buffer,
  ) {
    super({ allowHalfOpen: false, readableHighWaterMark: READ_AHEAD_BYTES });
    limitReadAhead(socket);
    if (first.length > 0) this.push(first);
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (err) => this.destroy(err));
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }

  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }
}
