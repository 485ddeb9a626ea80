/**
 * Access rules: allow or deny publish / subscribe on topic patterns with %u (user), %c (client id)
 * and %t (tenant) substitution. First matching rule wins; when rules exist and none matches, deny.
 */
import type { AclRule, AuthAction, ClientIdentity } from '../plugins/types';
import { topicMatches } from '../topic/validate';

/** true allow, false deny, undefined: there are no rules (someone else decides). */
export function checkAcl(
  rules: readonly AclRule[] | undefined,
  client: ClientIdentity,
  action: AuthAction,
  topic: string,
): boolean | undefined {
  if (!rules || rules.length === 0) return undefined;
  if (action === 'unsubscribe') return true; // leaving a subscription is always allowed
  const kind = action === 'receive' ? 'subscribe' : action;
  for (const rule of rules) {
    if (rule.action !== 'pubsub' && rule.action !== kind) continue;
    const pattern = substitute(rule.topic, client);
    if (pattern === undefined) continue;
    const matches = kind === 'publish' || action === 'receive' ? topicMatches(pattern, topic) : filterCovers(pattern, topic);
    if (matches) return rule.allow;
  }
  return false;
}

/**
 * Fills %u, %c and %t in. A value that holds '/', '+' or '#' would widen the pattern, so a rule
 * using it does not apply (undefined).
 */
export function substitute(pattern: string, client: ClientIdentity): string | undefined {
  if (!pattern.includes('%')) return pattern;
  let unsafe = false;
  const out = pattern.replace(/%([uct])/g, (_, k: string) => {
    const v = k === 'u' ? client.userId : k === 'c' ? client.clientId : client.tenantId;
    if (v === '' || /[/+#]/.test(v)) unsafe = true;
    return v;
  });
  return unsafe ? undefined : out;
}

/**
 * Whether every topic matched by `filter` is matched by `pattern` (a subscription to `filter` stays
 * inside what `pattern` allows).
 */
export function filterCovers(pattern: string, filter: string): boolean {
  const p = pattern.split('/');
  const f = filter.split('/');
  // [MQTT-4.7.2-1] a pattern starting with a wildcard does not cover '$' topics.
  if (filter.startsWith('$') && (p[0] === '+' || p[0] === '#')) return false;
  for (let i = 0; i < p.length; i++) {
    const pl = p[i]!;
    if (pl === '#') return true;
    const fl = f[i];
    if (fl === undefined) return false;
    if (fl === '#') return false; // the filter reaches further than the pattern
    if (pl === '+') continue;
    if (fl === '+' || fl !== pl) return false;
  }
  return f.length === p.length;
}
