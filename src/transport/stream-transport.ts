/**
 * A Transport over a Node.js duplex byte stream: a TCP socket or a TLS socket.
 *
 * The socket's events go to module-level functions that find their transport through a symbol on
 * the socket, so a connection costs no closures (memory per idle connection matters at 1M).
 */
import type { Socket } from 'node:net';
import type { ConnectionInfo } from '../plugins/types';
import { BaseTransport, DEFAULT_HIGH_WATER } from './base-transport';
import { limitReadAhead } from './read-ahead';
import { reapLater } from './reaper';
import type { ByteSink } from './socket-writer';

export { DEFAULT_HIGH_WATER };

const OWNER = Symbol('ratatosk.transport');

type OwnedSocket = Socket & { [OWNER]?: StreamTransport };

export class StreamTransport extends BaseTransport {
  constructor(
    private readonly socket: Socket,
    info: ConnectionInfo,
    highWater: number = DEFAULT_HIGH_WATER,
  ) {
    super(info, highWater);
    (socket as OwnedSocket)[OWNER] = this;
    socket.setNoDelay(true);
    // Paused (fair scheduling, backpressure, limits): at most one chunk more, then TCP backpressure.
    limitReadAhead(socket);
    socket.on('data', onSocketData);
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.on('end', onSocketEnd);
  }

  protected get sink(): ByteSink {
    return this.socket;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    if (!this.closed) this.socket.resume();
  }

  protected closeGracefully(): void {
    this.socket.end();
    // A peer that never reads must not keep the socket open forever.
    reapLater(this.socket);
  }

  protected destroyNow(): void {
    this.socket.destroy();
  }

  /**
   * Gives the socket up (to hand it to another process): it stops reading, its events no longer
   * reach this transport, and what it had read but not yet handed out is returned with it. The
   * transport is closed; nothing written to it goes anywhere.
   */
  release(): { socket: Socket; unread: Buffer[] } {
    const socket = this.socket as OwnedSocket;
    socket[OWNER] = undefined;
    const unread: Buffer[] = [];
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) unread.push(chunk);
    // read() may have started reading again: stop before the event loop polls the socket.
    (socket as unknown as { _handle?: { readStop?: () => number } })._handle?.readStop?.();
    this.closed = true;
    this.discard();
    return { socket, unread };
  }

  /** @internal socket events */
  onData(chunk: Buffer): void {
    this.handler?.onData(chunk);
  }

  /** @internal */
  onDrain(): void {
    this.drained();
  }

  /** @internal */
  onClose(): void {
    this.gone();
  }

  /** @internal A half-open socket (plain TCP listeners) whose peer sent FIN. */
  onEnd(): void {
    if (this.handler) this.handler.onEnd();
    else this.end();
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

function onSocketEnd(this: OwnedSocket): void {
  // Sockets that are not half-open (TLS) end themselves; `allowHalfOpen` says which.
  if (this.allowHalfOpen) this[OWNER]?.onEnd();
}
