/**
 * A Transport over a WebSocket (`ws`): binary frames only; every frame's bytes go to the MQTT
 * decoder, so packets may be split across frames or packed several to a frame. Outgoing bytes of
 * one event-loop turn leave as one frame.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { ConnectionInfo } from '../plugins/types';
import { BaseTransport, DEFAULT_HIGH_WATER } from './base-transport';
import { limitReadAhead } from './read-ahead';
import { reapLater } from './reaper';
import type { ByteSink } from './socket-writer';

export class WsTransport extends BaseTransport {
  private readonly wsSink: ByteSink;

  constructor(
    private readonly ws: WebSocket,
    /** The TCP or TLS socket under the WebSocket. */
    private readonly socket: Socket,
    info: ConnectionInfo,
    highWater: number = DEFAULT_HIGH_WATER,
  ) {
    super(info, highWater);
    this.wsSink = {
      // Uncompressed: bytesTaken compares what was handed over with bufferedAmount, byte for byte.
      write: (b, done) => ws.send(b, { binary: true, compress: false }, done),
      get writableLength() {
        return ws.bufferedAmount;
      },
    };
    socket.setNoDelay(true);
    // ws.pause() pauses the socket: at most one chunk more, then TCP backpressure.
    limitReadAhead(socket);
    ws.on('message', this.onMessage);
    ws.on('close', this.onClose);
    ws.on('error', this.onError);
    socket.on('drain', this.onDrain);
  }

  protected get sink(): ByteSink {
    return this.wsSink;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    if (!this.closed) this.ws.resume();
  }

  protected closeGracefully(): void {
    this.ws.close(1000);
    reapLater(this.ws);
  }

  protected destroyNow(): void {
    this.ws.terminate();
  }

  private readonly onMessage = (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void => {
    if (this.closed) return;
    if (!isBinary) {
      // [MQTT-6.0.0-1] MQTT control packets travel in binary frames only: the connection ends, and
      // nothing the client sends after the text frame is read.
      this.ws.close(1003, 'MQTT needs binary frames');
      reapLater(this.ws);
      this.gone();
      return;
    }
    if (Buffer.isBuffer(data)) this.handler?.onData(data);
    else if (Array.isArray(data)) this.handler?.onData(Buffer.concat(data));
    else this.handler?.onData(Buffer.from(data));
  };

  private readonly onDrain = (): void => this.drained();

  private readonly onError = (err: Error): void => {
    this.error = err;
  };

  private readonly onClose = (): void => this.gone();
}
