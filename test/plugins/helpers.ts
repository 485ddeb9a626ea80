/**
 * Shared pieces of the auth and plugin tests: a plugin context with a settable clock and captured
 * logs, request builders, and a local HTTP server that counts requests and TCP connections.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { AuthRequest, ClientIdentity, ConnectionInfo, PluginContext } from '../../src/plugins/types';

/** The compiled example plugins (dist/examples/plugins). */
export const EXAMPLES_DIR = resolve(__dirname, '../../examples/plugins');

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object | string;
  msg: string | undefined;
}

export interface TestContext {
  ctx: PluginContext;
  logs: LogLine[];
  clock: { now: number };
}

export function testContext(start = 1_700_000_000_000): TestContext {
  const logs: LogLine[] = [];
  const clock = { now: start };
  const at =
    (level: LogLine['level']) =>
    (obj: object | string, msg?: string): void => {
      logs.push({ level, obj, msg });
    };
  return { ctx: { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, now: () => clock.now }, logs, clock };
}

export function connInfo(overrides: Partial<ConnectionInfo> = {}): ConnectionInfo {
  return { listener: 'tcp:1883', transport: 'tcp', remoteAddress: '127.0.0.1', remotePort: 50000, ...overrides };
}

export function authRequest(overrides: Partial<AuthRequest> = {}): AuthRequest {
  return {
    conn: connInfo(),
    protocolVersion: 5,
    clientId: 'c1',
    username: undefined,
    password: undefined,
    authMethod: undefined,
    authData: undefined,
    ...overrides,
  };
}

export function identity(overrides: Partial<ClientIdentity> = {}): ClientIdentity {
  return { tenantId: 'acme', userId: 'alice', clientId: 'c1', username: 'alice', attrs: {}, conn: connInfo(), acl: undefined, ...overrides };
}

export interface TestServer {
  url: string;
  server: http.Server;
  /** Requests received and TCP connections accepted. */
  requests: number;
  connections: number;
  close(): Promise<void>;
}

/** A local HTTP server on a free port; `handler` gets the parsed JSON body. */
export async function startServer(
  handler: (req: http.IncomingMessage, body: unknown, res: http.ServerResponse) => void,
): Promise<TestServer> {
  const t = { requests: 0, connections: 0 } as TestServer;
  const server = http.createServer((req, res) => {
    t.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      handler(req, body, res);
    });
  });
  server.on('connection', () => t.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.server = server;
  t.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return t;
}

export function json(res: http.ServerResponse, value: unknown, status = 200): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Waits until `cond` holds (polling), or fails after `ms`. */
export async function until(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
