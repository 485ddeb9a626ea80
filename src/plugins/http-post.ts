/**
 * A small JSON-over-HTTP(S) client for webhooks (HTTP auth, the HTTP event collector): POST with a
 * keep-alive agent (connections are reused), a deadline per request and a cap on the answer size.
 * Shared by src/auth/http-auth.ts and http-collector.ts.
 */
import http from 'node:http';
import https from 'node:https';

export interface PostResult {
  status: number;
  body: Buffer;
}

export interface JsonPosterOptions {
  /** Milliseconds for the whole exchange (connect, send, answer). */
  timeoutMs: number;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Longest answer read, in bytes (longer ones fail). */
  maxResponseBytes?: number;
  /** Sockets kept per host. */
  maxSockets?: number;
}

export class JsonPoster {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly maxResponseBytes: number;

  constructor(private readonly options: JsonPosterOptions) {
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 32 };
    this.httpAgent = new http.Agent(agentOptions);
    this.httpsAgent = new https.Agent(agentOptions);
    this.maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024;
  }

  /** POSTs `body` as JSON; resolves with any HTTP status, rejects on network errors and timeouts. */
  post(url: URL, body: unknown): Promise<PostResult> {
    const payload = Buffer.from(JSON.stringify(body));
    const secure = url.protocol === 'https:';
    const request = secure ? https.request : http.request;
    const where = shownUrl(url);
    return new Promise<PostResult>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
        req.destroy();
      };
      const req = request(url, {
        method: 'POST',
        agent: secure ? this.httpsAgent : this.httpAgent,
        headers: {
          ...this.options.headers,
          'content-type': 'application/json',
          'content-length': String(payload.length),
          accept: 'application/json',
        },
      });
      const timer = setTimeout(() => fail(new Error(`${where}: no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      req.once('error', fail);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > this.maxResponseBytes) fail(new Error(`${where}: answer longer than ${this.maxResponseBytes} bytes`));
          else chunks.push(chunk);
        });
        res.once('error', fail);
        res.once('close', () => {
          if (!res.complete) fail(new Error(`${where}: connection closed before the end of the answer`));
        });
        res.once('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
        });
      });
      req.end(payload);
    });
  }

  /** Closes kept-alive sockets. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** A URL as logs and errors show it: origin and path, without credentials or query (an API key). */
export function shownUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** A `http:` or `https:` URL, for zod refinements of options. */
export function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
