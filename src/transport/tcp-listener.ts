/**
 * A plain TCP listener: accepts sockets and hands each one, wrapped as a Transport, to the broker.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { ListenerConfig } from '../config/schema';
import type { ConnectionInfo } from '../plugins/types';
import { StreamTransport } from './stream-transport';
import type { Transport } from './transport';

export type AcceptFn = (transport: Transport) => void;

export interface Listener {
  readonly name: string;
  readonly type: ListenerConfig['type'];
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly host: string;
  start(): Promise<void>;
  /** Stops accepting; existing connections stay. */
  stop(): Promise<void>;
}

export class TcpListener implements Listener {
  private readonly server: Server;
  private boundPort = 0;
  private open = 0;

  constructor(
    private readonly config: ListenerConfig,
    readonly name: string,
    private readonly accept: AcceptFn,
  ) {
    this.server = createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.onSocket(socket));
  }

  get type(): ListenerConfig['type'] {
    return this.config.type;
  }

  get port(): number {
    return this.boundPort;
  }

  get host(): string {
    return this.config.host ?? '0.0.0.0';
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: this.config.port, host: this.host, backlog: 4096 }, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : this.config.port;
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onSocket(socket: Socket): void {
    if (this.config.maxConnections > 0 && this.open >= this.config.maxConnections) {
      socket.destroy();
      return;
    }
    this.open++;
    socket.once('close', () => this.open--);
    const info: ConnectionInfo = {
      listener: this.name,
      transport: 'tcp',
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
    };
    this.accept(new StreamTransport(socket, info));
  }
}
