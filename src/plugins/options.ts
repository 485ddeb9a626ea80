/**
 * Validation of a plugin's own options block (auth providers, event collectors): every problem is
 * reported with the key it concerns, e.g. `auth.providers.1.path: Invalid input: expected string`.
 * Shared by src/auth/providers.ts and the collectors; it could move to src/plugins/ or src/config/.
 */
import type { z } from 'zod';
import { ErrorCodes, RatatoskError } from '../errors';

/** `prefix.key.sub: message` for each issue; an unknown key is named `prefix.key: unknown key`. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: string): string[] {
  return issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((p) => p !== '').join('.');
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
      return `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}`;
    }
    return `${path || '(top level)'}: ${issue.message}`;
  });
}

/**
 * Parses `raw` with `schema`; throws RTK_CONFIG_UNKNOWN_KEY when the only problems are unknown
 * keys, RTK_CONFIG_INVALID otherwise, naming every bad key under `where`.
 */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown, where: string): z.output<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issues = r.error.issues;
  const unknownOnly = issues.every((i) => i.code === 'unrecognized_keys');
  throw new RatatoskError(unknownOnly ? 'RTK_CONFIG_UNKNOWN_KEY' : 'RTK_CONFIG_INVALID', describeIssues(issues, where).join('; '));
}

/** The message of an error without the generic text of its code. */
export function detailOf(err: RatatoskError): string {
  const generic = `${ErrorCodes[err.code]}: `;
  return err.message.startsWith(generic) ? err.message.slice(generic.length) : err.message;
}

/** A plugin load whose errors name the config entry (`auth.providers.2.module: ./x.js: …`). */
export async function loadNamed<T>(loading: Promise<T>, where: string): Promise<T> {
  try {
    return await loading;
  } catch (err) {
    if (err instanceof RatatoskError) throw new RatatoskError(err.code, `${where}.module: ${detailOf(err)}`);
    throw err;
  }
}
