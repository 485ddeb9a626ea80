/**
 * Authentication and authorization through the configured chain of providers.
 *
 * Authentication: providers are asked in order; the first that answers (anything but `skip`)
 * decides. A provider that throws, rejects or times out is a failure and the failure policy decides
 * (deny by default). MQTT 5 enhanced authentication continues with the provider that asked for it.
 * Failed logins slow down further attempts from the same address (login guard).
 *
 * Authorization: the client's own rules (from its provider) first, then the providers' `authorize`
 * in order; with neither, everything is allowed.
 */
import type { Logger } from 'pino';
import { ReasonCode } from '../codec/reason-codes';
import { PluginGuard, type Guarded } from '../plugins/guard';
import { authResultProblem, authorizeProblem } from '../plugins/answers';
import type { AuthProvider, AuthRequest, AuthResult, AuthorizeRequest } from '../plugins/types';
import { checkAcl } from './acl';
import { LoginGuard, REFUSE_NOW, type LoginGuardOptions } from './login-guard';

export interface AuthServiceOptions {
  /** Milliseconds a provider may take. */
  timeoutMs: number;
  /** What a failed provider call means. */
  onFailure: 'deny' | 'allow';
  loginGuard: LoginGuardOptions;
}

/** The outcome of one authentication step, with the provider that is in charge of the exchange. */
export interface AuthStep {
  result: AuthResult;
  /** Index of the provider that decided (for continuing MQTT 5 enhanced authentication). */
  provider: number;
}

/**
 * [MQTT-4.12.0-1] an authentication method nobody knows is 0x8C; credentials that were given and
 * that nobody accepted are bad; without any, the client is not authorized.
 */
function nobodyAnswered(req: AuthRequest): number {
  if (req.authMethod !== undefined) return ReasonCode.BadAuthenticationMethod;
  if (req.username !== undefined || req.password !== undefined) return ReasonCode.BadUserNameOrPassword;
  return ReasonCode.NotAuthorized;
}

export class AuthService {
  private readonly authorizers: AuthProvider[];
  readonly guard: PluginGuard;
  readonly logins: LoginGuard;

  constructor(
    private readonly providers: AuthProvider[],
    private readonly options: AuthServiceOptions,
    private readonly log: Logger,
    now: () => number,
  ) {
    this.authorizers = providers.filter((p) => typeof p.authorize === 'function');
    this.guard = new PluginGuard(log, options.timeoutMs);
    this.logins = new LoginGuard(options.loginGuard, now);
  }

  /** Provider calls that threw, rejected or timed out. */
  get failures(): number {
    return this.guard.failures;
  }

  /** Whether authorization can ever say no (if not, callers skip it entirely). */
  get authorizes(): boolean {
    return this.authorizers.length > 0;
  }

  /**
   * First step of authentication (CONNECT, or an MQTT 5 re-authentication). Synchronous when every
   * provider asked answers synchronously and the address is not being slowed down: a connect storm
   * then costs no promise and no pause of the socket.
   */
  authenticate(req: AuthRequest): AuthStep | Promise<AuthStep> {
    const address = req.conn.remoteAddress;
    const delay = this.logins.delayFor(address, req.username);
    if (delay === REFUSE_NOW) {
      return { result: { ok: false, reasonCode: ReasonCode.ConnectionRateExceeded, reasonString: 'another login attempt from this address is being slowed down' }, provider: -1 };
    }
    if (delay > 0) {
      return new Promise<void>((r) => setTimeout(r, delay)).then(() => {
        this.logins.waited(address);
        return this.answerFrom(req, 0);
      });
    }
    return this.answerFrom(req, 0);
  }

  private answerFrom(req: AuthRequest, start: number): AuthStep | Promise<AuthStep> {
    for (let index = start; index < this.providers.length; index++) {
      const p = this.providers[index]!;
      const r = this.guard.call(`auth#${index}.authenticate`, () => p.authenticate(req), authResultProblem);
      if (r instanceof Promise) {
        return r.then((g) => {
          const step = this.stepOf(req, g, index);
          return step ?? this.answerFrom(req, index + 1);
        });
      }
      const step = this.stepOf(req, r, index);
      if (step) return step;
    }
    return this.record(req, { result: { ok: false, reasonCode: nobodyAnswered(req) }, provider: -1 });
  }

  /** The decision of provider `index`, or undefined when the next provider decides. */
  private stepOf(req: AuthRequest, r: Guarded<AuthResult>, index: number): AuthStep | undefined {
    if (!r.ok) {
      // A failed provider: deny, or (policy allow) let the rest of the chain decide.
      return this.options.onFailure === 'deny' ? this.record(req, { result: this.failureResult(), provider: index }) : undefined;
    }
    if (r.value.ok === 'skip') return undefined;
    return this.record(req, { result: r.value, provider: index });
  }

  /** Next step of MQTT 5 enhanced authentication with the provider in charge. */
  async continueAuth(provider: number, req: AuthRequest, stepNo: number): Promise<AuthStep> {
    const p = this.providers[provider];
    if (!p?.continueAuth) return { result: { ok: false, reasonCode: ReasonCode.ProtocolError }, provider };
    const r = await this.guard.callAsync(`auth#${provider}.continueAuth`, () => p.continueAuth!(req, stepNo), authResultProblem);
    const result: AuthResult = r.ok ? r.value : this.failureResult();
    return this.record(req, { result, provider });
  }

  private failureResult(): AuthResult {
    return this.options.onFailure === 'allow'
      ? { ok: 'skip' }
      : { ok: false, reasonCode: ReasonCode.ServerUnavailable, reasonString: 'authentication unavailable' };
  }

  private record(req: AuthRequest, step: AuthStep): AuthStep {
    const result = step.result;
    if (result.ok === false && (result.reasonCode === ReasonCode.BadUserNameOrPassword || result.reasonCode === ReasonCode.NotAuthorized)) {
      this.logins.failed(req.conn.remoteAddress, req.username);
    } else if (result.ok === true) {
      this.logins.succeeded(req.conn.remoteAddress, req.username);
    }
    return step;
  }

  /** Whether an action is allowed: a boolean, or a promise of one when a provider answers asynchronously. */
  authorize(req: AuthorizeRequest): boolean | Promise<boolean> {
    const byRules = checkAcl(req.client.acl, req.client, req.action, req.topic);
    if (byRules !== undefined) return byRules;
    if (this.authorizers.length === 0) return true;
    return this.authorizeFrom(0, req);
  }

  private authorizeFrom(start: number, req: AuthorizeRequest): boolean | Promise<boolean> {
    for (let i = start; i < this.authorizers.length; i++) {
      const r = this.guard.call(`authorize#${i}`, () => this.authorizers[i]!.authorize!(req), authorizeProblem);
      if (r instanceof Promise) {
        return r.then((g) => {
          if (!g.ok) return this.options.onFailure === 'allow';
          // undefined or null: no opinion, the next provider decides.
          return g.value == null ? this.authorizeFrom(i + 1, req) : g.value;
        });
      }
      if (!r.ok) return this.options.onFailure === 'allow';
      if (r.value != null) return r.value;
    }
    // Providers that authorize exist but none had an opinion.
    return false;
  }

  async close(): Promise<void> {
    for (const p of this.providers) {
      try {
        await p.close?.();
      } catch (err) {
        this.log.error({ err }, 'closing an auth provider failed');
      }
    }
  }
}
