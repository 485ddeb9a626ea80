/**
 * One listener of any type. Every connection starts as a raw TCP socket and goes through the same
 * steps: an optional PROXY protocol header (the original client address), an optional TLS layer
 * (tls, wss), then either MQTT straight away (tcp, tls) or an HTTP upgrade to WebSocket (ws, wss).
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, TLSSocket, type Server as TlsServer } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ListenerConfig } from '../config/schema';
import { RatatoskError } from '../errors';
import type { ConnectionInfo } from '../plugins/types';
import { clientCertificateOf } from './client-certificate';
import { PrependedStream } from './prepended-stream';
import { parseProxyHeader, type ProxyAddress } from './proxy-protocol';
import { StreamTransport } from './stream-transport';
import type { Transport } from './transport';
import { WsTransport } from './ws-transport';

export type AcceptFn = (transport: Transport) => void;

/**
 * Milliseconds a socket may take in all to send its PROXY header, finish the TLS handshake, or
 * complete its WebSocket upgrade (a deadline, not an idle timer: trickled bytes do not extend it).
 */
const HANDSHAKE_TIMEOUT = 10_000;

/** Bytes a WebSocket message may have beyond the largest MQTT packet: a few small packets with it. */
const FRAME_SLACK = 64 * 1024;

/** WebSocket sub-protocols MQTT clients offer ([MQTT-6.0.0-3]); 'mqttv3.1' is what 3.1 clients send. */
const MQTT_SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];

export interface Listener {
  readonly name: string;
  readonly type: ListenerConfig['type'];
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly host: string;
  /** Sockets refused or closed before MQTT: bad PROXY header, failed TLS handshake, bad upgrade. */
  readonly rejected: number;
  start(): Promise<void>;
  /** Stops accepting; resolves once every socket of this listener has closed. */
  stop(): Promise<void>;
  /** Destroys every socket still open on this listener. */
  destroyAll(): void;
}

interface Origin {
  address: string;
  port: number;
}

export class NetworkListener implements Listener {
  private readonly server: Server;
  private readonly tls: TlsServer | undefined;
  private readonly http: HttpServer | undefined;
  private readonly wss: WebSocketServer | undefined;
  /** Client address of sockets on their way through TLS or an HTTP upgrade, by `address:port` of the socket. */
  private readonly origins = new Map<string, Origin>();
  private readonly streamOrigins = new WeakMap<PrependedStream, Origin>();
  /** WebSocket sockets that have not sent their upgrade yet, and the timer that ends their wait. */
  private readonly upgradeDeadlines = new WeakMap<Socket, NodeJS.Timeout>();
  private boundPort = 0;
  open = 0;
  readonly sockets = new Set<Socket>();
  rejected = 0;

  constructor(
    private readonly config: ListenerConfig,
    private readonly givenName: string | undefined,
    private readonly accept: AcceptFn,
    /** The largest MQTT packet any tenant may send (WebSocket messages are bounded by it). */
    private readonly packetLimit: () => number = () => 268_435_460,
  ) {
    const secure = config.type === 'tls' || config.type === 'wss';
    const name = givenName ?? `${config.type}:${config.port}`;
    if (secure) {
      this.tls = createTlsServer({
        ...loadPem(config, name),
        requestCert: config.clientCert !== 'none',
        rejectUnauthorized: config.clientCert === 'required',
        handshakeTimeout: HANDSHAKE_TIMEOUT,
      });
      this.tls.on('secureConnection', (socket: TLSSocket) => this.onPlain(socket, this.takeOrigin(socket)));
      this.tls.on('tlsClientError', (_err, socket) => {
        this.rejected++;
        this.takeOrigin(socket);
        socket.destroy();
      });
    }
    if (config.type === 'ws' || config.type === 'wss') {
      this.http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: upgrade required\n');
      });
      this.wss = new WebSocketServer({
        noServer: true,
        perMessageDeflate: false,
        maxPayload: 268_435_460, // set per upgrade from packetLimit
        handleProtocols: (offered) => MQTT_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
      });
      this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
      this.http.on('clientError', (_err, socket) => {
        this.rejected++;
        socket.destroy();
      });
    }
    // Half-open: a client's FIN does not end the connection at once, so that what it sent before
    // (a CONNECT whose authentication is still pending, the packets behind it) is still handled.
    this.server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.onSocket(socket));
  }

  get type(): ListenerConfig['type'] {
    return this.config.type;
  }

  /** The configured name, else `<type>:<port>` with the port actually bound. */
  get name(): string {
    return this.givenName ?? `${this.config.type}:${this.boundPort || this.config.port}`;
  }

  get port(): number {
    return this.boundPort;
  }

  get host(): string {
    return this.config.host ?? '0.0.0.0';
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', (err) => reject(new Error(`listener ${this.name}: ${err.message}`)));
      this.server.listen({ port: this.config.port, host: this.host, backlog: 4096 }, () => {
        this.server.removeAllListeners('error');
        this.server.on('error', () => undefined);
        const addr = this.server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : this.config.port;
        resolve();
      });
    });
  }

  stop(): Promise<void> {
    this.wss?.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    return closed;
  }

  /** Destroys every socket still open on this listener (the last step of a shutdown). */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  private onSocket(socket: Socket): void {
    if (this.config.maxConnections > 0 && this.open >= this.config.maxConnections) {
      this.rejected++;
      socket.destroy();
      return;
    }
    this.open++;
    this.sockets.add(socket);
    (socket as ListenedSocket)[LISTENER] = this;
    socket.once('close', onListenedClose);
    socket.on('error', ignoreError);
    const origin = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    if (this.config.proxyProtocol === 'off') {
      this.afterProxy(socket, origin);
      return;
    }
    this.readProxyHeader(socket, origin);
  }

  /** Reads the PROXY header, then hands the socket on with what followed the header put back. */
  private readProxyHeader(socket: Socket, origin: Origin): void {
    const mode = this.config.proxyProtocol as 'v1' | 'v2' | 'auto';
    let buf: Buffer = Buffer.alloc(0);
    const deadline = this.deadline(socket);
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf, mode);
      if (r.state === 'more') return;
      socket.off('data', onData);
      socket.pause();
      clearTimeout(deadline);
      if (r.state === 'error') {
        this.reject(socket);
        return;
      }
      const a: ProxyAddress | undefined = r.address;
      const proxied = a && (a.family === 'tcp4' || a.family === 'tcp6') ? { address: a.sourceAddress, port: a.sourcePort } : origin;
      if (r.rest.length > 0 && this.tls) {
        // TLS reads the socket's native handle: hand it the bytes that came with the header first.
        this.startTls(new PrependedStream(socket, r.rest), proxied);
        socket.resume();
        return;
      }
      if (r.rest.length > 0) socket.unshift(r.rest);
      this.afterProxy(socket, proxied);
      socket.resume();
    };
    socket.on('data', onData);
  }

  private afterProxy(socket: Socket, origin: Origin): void {
    if (!this.tls) {
      this.onPlain(socket, origin);
      return;
    }
    this.startTls(socket, origin);
  }

  /** Hands a socket (or a stream over one) to the TLS server, remembering where it comes from. */
  private startTls(stream: Socket | PrependedStream, origin: Origin): void {
    if (stream instanceof PrependedStream) {
      this.streamOrigins.set(stream, origin);
    } else {
      // The TLS server wraps the socket; the wrapped socket has the same remote address and port.
      const key = socketKey(stream);
      this.origins.set(key, origin);
      stream.once('close', () => this.origins.delete(key));
    }
    this.tls!.emit('connection', stream);
  }

  private takeOrigin(socket: Socket): Origin {
    // A TLS socket over a PrependedStream has no address of its own. Node reaches the stream it
    // wraps through its handle (`_handle._parentWrap.stream`, internal); the transport tests check
    // that the proxied address still comes through, so a change in Node shows up there.
    const handle = (socket as unknown as { _handle?: { _parentWrap?: { stream?: unknown } } })._handle;
    const parent = handle?._parentWrap?.stream;
    if (parent instanceof PrependedStream) {
      const o = this.streamOrigins.get(parent);
      if (o) return o;
      return { address: parent.socket.remoteAddress ?? '', port: parent.socket.remotePort ?? 0 };
    }
    const key = socketKey(socket);
    const origin = this.origins.get(key) ?? { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    this.origins.delete(key);
    return origin;
  }

  /** A socket ready for MQTT (tcp, tls) or for an HTTP upgrade (ws, wss). */
  private onPlain(socket: Socket, origin: Origin): void {
    if (this.http) {
      const key = socketKey(socket);
      this.origins.set(key, origin);
      socket.once('close', () => this.origins.delete(key));
      // Node's own request timeouts do not run for sockets handed in like this.
      this.upgradeDeadlines.set(socket, this.deadline(socket));
      this.http.emit('connection', socket);
      return;
    }
    // The transport handles errors from now on (one 'error' listener, not two, per socket).
    socket.off('error', ignoreError);
    this.accept(new StreamTransport(socket, this.info(socket, origin)));
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    clearTimeout(this.upgradeDeadlines.get(socket));
    const path = (req.url ?? '/').split('?')[0];
    if (path !== this.config.path) {
      this.rejected++;
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    let origin = this.takeOrigin(socket);
    if (this.config.trustForwardedFor) {
      const xff = req.headers['x-forwarded-for'];
      const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
      // Only an address: anything else is not what a proxy writes there.
      if (first && isIP(first) !== 0) origin = { address: first, port: 0 };
    }
    // ws reads its options at each upgrade: a message may be as large as the largest packet allowed now.
    (this.wss!.options as { maxPayload: number }).maxPayload = this.packetLimit() + FRAME_SLACK;
    this.wss!.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      this.accept(new WsTransport(ws, socket, this.info(socket, origin)));
    });
  }

  private info(socket: Socket, origin: Origin): ConnectionInfo {
    const info: ConnectionInfo = {
      listener: this.name,
      transport: this.config.type,
      remoteAddress: origin.address,
      remotePort: origin.port,
    };
    if (socket instanceof TLSSocket) {
      const cert = clientCertificateOf(socket);
      if (cert) info.certificate = cert;
    }
    return info;
  }

  private reject(socket: Socket): void {
    this.rejected++;
    socket.destroy();
  }

  /** Rejects `socket` unless the returned timer is cleared within HANDSHAKE_TIMEOUT. */
  private deadline(socket: Socket): NodeJS.Timeout {
    const timer = setTimeout(() => this.reject(socket), HANDSHAKE_TIMEOUT);
    socket.once('close', () => clearTimeout(timer));
    return timer;
  }
}

const LISTENER = Symbol('ratatosk.listener');
type ListenedSocket = Socket & { [LISTENER]?: NetworkListener };

// Shared by every socket (no closure per connection).
function onListenedClose(this: ListenedSocket): void {
  const l = this[LISTENER];
  if (!l) return;
  l.open--;
  l.sockets.delete(this);
}

function ignoreError(): void {}

function socketKey(socket: Socket): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}

function loadPem(config: ListenerConfig, name: string): { cert: Buffer; key: Buffer; ca: Buffer | undefined } {
  if (!config.cert || !config.key) {
    throw new RatatoskError('RTK_CONFIG_INVALID', `listener ${name}: a ${config.type} listener needs cert and key (PEM files)`);
  }
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new RatatoskError('RTK_CONFIG_INVALID', `listener ${name}: ${what} ${path}: ${(err as Error).message}`);
    }
  };
  return { cert: read('cert', config.cert), key: read('key', config.key), ca: config.ca ? read('ca', config.ca) : undefined };
}
