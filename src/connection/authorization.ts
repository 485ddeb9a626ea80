/**
 * Authorization answers of one connection, reused for a short time so that a client publishing to
 * the same topic again does not ask the providers again. Emptied on re-authentication. Bounded.
 */
import type { AuthService } from '../auth/auth-service';
import type { AuthAction, ClientIdentity } from '../plugins/types';
import type { Clock } from '../util/clock';

const MAX_ENTRIES = 256;

/** One answer per action, topic, QoS and retain flag: providers are asked about all four. */
function keyOf(action: AuthAction, topic: string, qos: number, retain: boolean): string {
  return `${action}\u0000${qos}${retain ? 'r' : ''}\u0000${topic}`;
}

interface Entry {
  allowed: boolean;
  until: number;
}

export class AuthorizationCache {
  private entries: Map<string, Entry> | undefined;

  constructor(
    private readonly auth: AuthService,
    private readonly ttlMs: number,
    private readonly clock: Clock,
  ) {}

  private now(): number {
    return this.clock.now();
  }

  /** Whether nothing ever needs checking (no rules, no authorizing provider): the fast path. */
  static allowsAll(auth: AuthService, client: ClientIdentity): boolean {
    return !auth.authorizes && (client.acl === undefined || client.acl.length === 0);
  }

  check(client: ClientIdentity, action: AuthAction, topic: string, qos: number, retain: boolean): boolean | Promise<boolean> {
    if (this.ttlMs <= 0) return this.auth.authorize({ client, action, topic, qos, retain });
    const key = keyOf(action, topic, qos, retain);
    const now = this.now();
    const hit = this.entries?.get(key);
    if (hit && hit.until > now) return hit.allowed;
    const answer = this.auth.authorize({ client, action, topic, qos, retain });
    if (answer instanceof Promise) return answer.then((allowed) => this.remember(key, allowed));
    return this.remember(key, answer);
  }

  /**
   * Delivery authorization (auth.checkDelivery): a cached answer, or a synchronous one; a provider
   * that can only answer asynchronously denies this delivery and its answer serves the next ones.
   */
  mayReceive(client: ClientIdentity, topic: string): boolean {
    const known = this.peek('receive', topic);
    if (known !== undefined) return known;
    const answer = this.check(client, 'receive', topic, 0, false);
    if (answer instanceof Promise) {
      answer.catch(() => undefined);
      return false;
    }
    return answer;
  }

  /** A cached answer only, for QoS 0 without retain (delivery checks cannot wait): undefined when none is known yet. */
  peek(action: AuthAction, topic: string): boolean | undefined {
    const hit = this.entries?.get(keyOf(action, topic, 0, false));
    return hit && hit.until > this.now() ? hit.allowed : undefined;
  }

  clear(): void {
    this.entries = undefined;
  }

  private remember(key: string, allowed: boolean): boolean {
    const entries = (this.entries ??= new Map());
    if (entries.size >= MAX_ENTRIES) {
      const oldest = entries.keys().next();
      if (!oldest.done) entries.delete(oldest.value);
    }
    entries.set(key, { allowed, until: this.now() + this.ttlMs });
    return allowed;
  }
}
