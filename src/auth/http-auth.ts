/**
 * The `http` provider: a webhook decides, as EMQX's HTTP authentication does.
 *
 * Authentication: POST `url` with JSON {clientId, username, password (UTF-8), address, port,
 * listener, protocolVersion, certificate?}; the answer is HTTP 200 with JSON {result: 'allow' |
 * 'deny' | 'ignore', tenant?, user?, attrs?, acl?, reason?}. allow: accepted (tenant `default`,
 * user = username unless given); deny: 0x86, or 0x87 when reason is `not_authorized`; ignore: no
 * opinion (the next provider decides). Any other status, a bad answer or a timeout is a provider
 * failure (the auth failure policy decides).
 *
 * Authorization (only with `aclUrl`): POST {tenant, user, clientId, action, topic, qos, retain};
 * answer {result: 'allow' | 'deny' | 'ignore'} (ignore: no opinion).
 *
 * allow and deny answers of both are cached for `cacheSeconds`; identical calls in flight share one
 * request; connections are kept alive and reused.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ReasonCode } from '../codec/reason-codes';
import { isHttpUrl, JsonPoster, shownUrl } from '../plugins/http-post';
import type { AuthProvider, AuthRequest, AuthResult, AuthorizeRequest, ClientCertificate, PluginContext } from '../plugins/types';
import { DEFAULT_TENANT } from './dev-auth';
import { aclSchema } from './acl-schema';

const httpUrl = z.string().refine(isHttpUrl, { message: 'expected an http:// or https:// URL' });

export const httpAuthOptionsSchema = z
  .object({
    /** Authentication webhook. */
    url: httpUrl,
    /** Authorization webhook (optional: without it this provider does not authorize). */
    aclUrl: httpUrl.optional(),
    /** Milliseconds for one webhook call. */
    timeoutMs: z.number().int().min(1).default(2000),
    /** Seconds allow/deny answers are reused; 0 never. */
    cacheSeconds: z.number().min(0).default(30),
    /** Extra request headers, e.g. `authorization: Bearer …`. */
    headers: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export type HttpAuthOptions = z.output<typeof httpAuthOptionsSchema>;

const resultSchema = z.enum(['allow', 'deny', 'ignore']);

const authAnswerSchema = z.object({
  result: resultSchema,
  tenant: z.string().min(1).optional(),
  user: z.string().optional(),
  attrs: z.record(z.string(), z.string()).optional(),
  acl: aclSchema.optional(),
  reason: z.string().optional(),
});

const aclAnswerSchema = z.object({ result: resultSchema });

/** What the authentication webhook receives. */
export interface HttpAuthRequestBody {
  clientId: string;
  username: string | null;
  password: string | null;
  address: string;
  port: number;
  listener: string;
  protocolVersion: number;
  certificate?: ClientCertificate;
}

/** What the authorization webhook receives. */
export interface HttpAclRequestBody {
  tenant: string;
  user: string;
  clientId: string;
  action: AuthorizeRequest['action'];
  topic: string;
  qos: number;
  retain: boolean;
}

/** Most answers cached at once, per kind (the oldest go first). */
const CACHE_MAX = 10_000;

/** Answers by key until a deadline, with identical calls in flight shared. */
class AnswerCache<T> {
  private readonly answers = new Map<string, { until: number; value: T }>();
  private readonly inFlight = new Map<string, Promise<T>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  async get(key: string, fetch: () => Promise<T>, cacheable: (v: T) => boolean): Promise<T> {
    const hit = this.answers.get(key);
    if (hit) {
      if (hit.until > this.now()) return hit.value;
      this.answers.delete(key);
    }
    let p = this.inFlight.get(key);
    if (!p) {
      p = fetch().finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
      const value = await p;
      if (this.ttlMs > 0 && cacheable(value)) {
        if (this.answers.size >= CACHE_MAX) {
          const oldest = this.answers.keys().next();
          if (!oldest.done) this.answers.delete(oldest.value);
        }
        this.answers.set(key, { until: this.now() + this.ttlMs, value });
      }
      return value;
    }
    return p;
  }

  clear(): void {
    this.answers.clear();
  }
}

/** A digest of what an answer may depend on: the cache never holds a password in clear. */
function keyOf(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64');
}

export class HttpAuthProvider implements AuthProvider {
  private readonly poster: JsonPoster;
  private readonly url: URL;
  private readonly authCache: AnswerCache<AuthResult>;
  private readonly aclCache: AnswerCache<boolean | undefined>;
  /** Webhook requests sent (for tests and metrics). */
  requests = 0;
  /** Present only with `aclUrl`, so that the broker skips authorization otherwise. */
  readonly authorize?: (req: AuthorizeRequest) => Promise<boolean | undefined>;

  constructor(options: HttpAuthOptions, ctx: PluginContext) {
    this.poster = new JsonPoster({ timeoutMs: options.timeoutMs, headers: options.headers, maxResponseBytes: 256 * 1024 });
    this.url = new URL(options.url);
    const ttl = options.cacheSeconds * 1000;
    const now = (): number => ctx.now();
    this.authCache = new AnswerCache(ttl, now);
    this.aclCache = new AnswerCache(ttl, now);
    if (options.aclUrl) {
      const aclUrl = new URL(options.aclUrl);
      this.authorize = (req) => this.authorizeAt(aclUrl, req);
    }
  }

  authenticate(req: AuthRequest): Promise<AuthResult> | AuthResult {
    // MQTT 5 enhanced authentication is another provider's business.
    if (req.authMethod !== undefined) return { ok: 'skip' };
    const body = requestBody(req);
    const { port: _ephemeral, ...identity } = body;
    return this.authCache.get(
      keyOf(identity),
      () => this.askAuth(body, req),
      (r) => r.ok !== 'skip',
    );
  }

  private async askAuth(body: HttpAuthRequestBody, req: AuthRequest): Promise<AuthResult> {
    const answer = authAnswerSchema.safeParse(await this.call(this.url, body));
    if (!answer.success) throw new Error(`${shownUrl(this.url)}: unexpected answer: ${answer.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
    const a = answer.data;
    switch (a.result) {
      case 'ignore':
        return { ok: 'skip' };
      case 'deny': {
        const reasonCode = a.reason === 'not_authorized' ? ReasonCode.NotAuthorized : ReasonCode.BadUserNameOrPassword;
        return a.reason ? { ok: false, reasonCode, reasonString: a.reason } : { ok: false, reasonCode };
      }
      case 'allow': {
        const result: AuthResult = { ok: true, tenantId: a.tenant ?? DEFAULT_TENANT, userId: a.user ?? req.username ?? '' };
        if (a.attrs) result.attrs = a.attrs;
        if (a.acl) result.acl = a.acl;
        return result;
      }
    }
  }

  private authorizeAt(url: URL, req: AuthorizeRequest): Promise<boolean | undefined> {
    const c = req.client;
    const body: HttpAclRequestBody = { tenant: c.tenantId, user: c.userId, clientId: c.clientId, action: req.action, topic: req.topic, qos: req.qos, retain: req.retain };
    return this.aclCache.get(
      keyOf(body),
      async () => {
        const answer = aclAnswerSchema.safeParse(await this.call(url, body));
        if (!answer.success) throw new Error(`${shownUrl(url)}: unexpected answer: result must be allow, deny or ignore`);
        return answer.data.result === 'ignore' ? undefined : answer.data.result === 'allow';
      },
      (v) => v !== undefined,
    );
  }

  /** One webhook call: the parsed JSON of a 200 answer; anything else throws. */
  private async call(url: URL, body: unknown): Promise<unknown> {
    this.requests++;
    const res = await this.poster.post(url, body);
    if (res.status !== 200) throw new Error(`${shownUrl(url)}: HTTP ${res.status}`);
    try {
      return JSON.parse(res.body.toString('utf8')) as unknown;
    } catch {
      throw new Error(`${shownUrl(url)}: the answer is not JSON`);
    }
  }

  close(): void {
    this.authCache.clear();
    this.aclCache.clear();
    this.poster.close();
  }
}

function requestBody(req: AuthRequest): HttpAuthRequestBody {
  const body: HttpAuthRequestBody = {
    clientId: req.clientId,
    username: req.username ?? null,
    password: req.password ? req.password.toString('utf8') : null,
    address: req.conn.remoteAddress,
    port: req.conn.remotePort,
    listener: req.conn.listener,
    protocolVersion: req.protocolVersion,
  };
  const cert = req.conn.certificate;
  if (cert) {
    body.certificate = {
      authorized: cert.authorized,
      subject: cert.subject,
      issuer: cert.issuer,
      subjectAltNames: cert.subjectAltNames,
      fingerprint256: cert.fingerprint256,
      serialNumber: cert.serialNumber,
    };
  }
  return body;
}
