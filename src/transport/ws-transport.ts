/**
 * A Transport over a WebSocket (`ws`): binary frames only; every frame's bytes go to the MQTT
 * decoder, so packets may be split across frames or packed several to a frame. Outgoing bytes of
 * one event-loop turn leave as one frame.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { ConnectionInfo } from '../plugins/types';
import { reapLater } from './reaper';
import { BatchedWriter, type ByteSink } from './socket-writer';
import { DEFAULT_HIGH_WATER } from './stream-transport';
import type { Transport, TransportHandler } from './transport';

export class WsTransport extends BatchedWriter implements Transport {
  private handler: TransportHandler | undefined;
  private congested = false;
  private readonly wsSink: ByteSink;
  closed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    readonly info: ConnectionInfo,
    private readonly highWater: number = DEFAULT_HIGH_WATER,
  ) {
    super();
    this.wsSink = {
      write: (b) => ws.send(b, { binary: true, compress: false }),
      get writableLength() {
        return ws.bufferedAmount;
      },
    };
    socket.setNoDelay(true);
    ws.on('message', this.onMessage);
    ws.on('close', this.onClose);
    ws.on('error', this.onError);
    socket.on('drain', this.onDrain);
  }

  protected get sink(): ByteSink {
    return this.wsSink;
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
    this.ws.pause();
  }

  resume(): void {
    if (!this.closed) this.ws.resume();
  }

  end(): void {
    if (this.closed) return;
    this.flush();
    this.discard();
    this.ws.close(1000);
    reapLater(this.ws);
  }

  destroy(): void {
    this.discard();
    this.ws.terminate();
  }

  private readonly onMessage = (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void => {
    if (!isBinary) {
      // [MQTT-6.0.0-1] MQTT control packets travel in binary frames only.
      this.ws.close(1003, 'MQTT needs binary frames');
      return;
    }
    if (Buffer.isBuffer(data)) this.handler?.onData(data);
    else if (Array.isArray(data)) this.handler?.onData(Buffer.concat(data));
    else this.handler?.onData(Buffer.from(data));
  };

  private readonly onDrain = (): void => {
    if (this.congested && this.pendingBytes < this.highWater) {
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
    this.discard();
    this.handler?.onClose(this.error);
  };
}
