/**
 * Authentication and authorization through the configured chain of providers. The first provider
 * that gives an answer decides; a provider that throws, rejects or times out counts as a failure and
 * the configured policy (deny by default) decides instead.
 */
import type { Logger } from 'pino';
import { ReasonCode } from '../codec/reason-codes';
import type { AuthProvider, AuthRequest, AuthResult, AuthorizeRequest } from '../plugins/types';

export interface AuthServiceOptions {
  /** Milliseconds a provider may take. */
  timeoutMs: number;
  /** What a failed provider call means. */
  onFailure: 'deny' | 'allow';
}

export class AuthService {
  /** Provider calls that threw, rejected or timed out. */
  failures = 0;
  private readonly authorizers: AuthProvider[];

  constructor(
    private readonly providers: AuthProvider[],
    private readonly options: AuthServiceOptions,
    private readonly log: Logger,
  ) {
    this.authorizers = providers.filter((p) => typeof p.authorize === 'function');
  }

  /** Whether any provider authorizes actions (if none, everything is allowed without a call). */
  get authorizes(): boolean {
    return this.authorizers.length > 0;
  }

  async authenticate(req: AuthRequest): Promise<AuthResult> {
    let last: AuthResult = { ok: false, reasonCode: ReasonCode.NotAuthorized };
    for (const p of this.providers) {
      try {
        const r = await this.timed(Promise.resolve(p.authenticate(req)));
        if (r.ok !== false) return r;
        last = r;
      } catch (err) {
        this.failed(err, 'authenticate');
        if (this.options.onFailure === 'deny') return { ok: false, reasonCode: ReasonCode.ServerUnavailable };
      }
    }
    return last;
  }

  /** true / false, or a promise of it when a provider answers asynchronously. */
  authorize(req: AuthorizeRequest): boolean | Promise<boolean> {
    if (this.authorizers.length === 0) return true;
    return this.authorizeFrom(0, req);
  }

  private authorizeFrom(start: number, req: AuthorizeRequest): boolean | Promise<boolean> {
    for (let i = start; i < this.authorizers.length; i++) {
      let r: boolean | undefined | Promise<boolean | undefined>;
      try {
        r = this.authorizers[i]!.authorize!(req);
      } catch (err) {
        this.failed(err, 'authorize');
        return this.options.onFailure === 'allow';
      }
      if (r instanceof Promise) {
        return this.timed(r).then(
          (v) => (v === undefined ? this.authorizeFrom(i + 1, req) : v),
          (err) => {
            this.failed(err, 'authorize');
            return this.options.onFailure === 'allow';
          },
        );
      }
      if (r !== undefined) return r;
    }
    return false;
  }

  private timed<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`auth provider timed out after ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private failed(err: unknown, what: string): void {
    this.failures++;
    this.log.error({ err, code: 'RTK_PLUGIN_FAILED' }, `auth provider failed during ${what}`);
  }

  async close(): Promise<void> {
    for (const p of this.providers) await p.close?.();
  }
}
