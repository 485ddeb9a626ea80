/**
 * What plugins may answer, checked where their answers enter the broker: an answer of the wrong
 * shape (a refusal without a failure code, a tenant that is not a string, rules that are not
 * rules, a reason string of megabytes) counts as a failed call, like a throw, instead of reaching
 * the encoder or the access rules. Hand-written checks: they run for every CONNECT.
 */
import { aclSchema } from '../auth/acl-schema';

/** Longest reason string a plugin may give (characters). */
const MAX_REASON = 1024;
/** Longest tenant id, user id or server reference (characters). */
const MAX_NAME = 4096;

function name(v: unknown): boolean {
  return typeof v === 'string' && v.length <= MAX_NAME && !v.includes('\u0000');
}

/** What is wrong with an authentication answer, or undefined. */
export function authResultProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'an answer that is not an object';
  const r = v as Record<string, unknown>;
  switch (r.ok) {
    case true:
      if (!name(r.tenantId) || r.tenantId === '') return 'ok: true without a tenantId (a non-empty string)';
      if (!name(r.userId)) return 'ok: true without a userId string';
      if (r.attrs !== undefined && (typeof r.attrs !== 'object' || r.attrs === null || Object.values(r.attrs).some((a) => typeof a !== 'string'))) return 'attrs that are not strings';
      if (r.acl !== undefined && !aclSchema.safeParse(r.acl).success) return 'acl rules that are not valid rules';
      if (r.expiresAt !== undefined && !Number.isFinite(r.expiresAt)) return 'an expiresAt that is not a number';
      if (r.authData !== undefined && !Buffer.isBuffer(r.authData)) return 'authData that is not a Buffer';
      return undefined;
    case false:
      if (typeof r.reasonCode !== 'number' || !Number.isInteger(r.reasonCode) || r.reasonCode < 0x80 || r.reasonCode > 0xff) {
        return 'a refusal without a failure reason code (0x80-0xFF)';
      }
      if (r.reasonString !== undefined && (typeof r.reasonString !== 'string' || r.reasonString.length > MAX_REASON)) {
        return `a reason string that is not a string of at most ${MAX_REASON} characters`;
      }
      return undefined;
    case 'continue':
      return Buffer.isBuffer(r.authData) ? undefined : "ok: 'continue' without authData (a Buffer)";
    case 'skip':
      return undefined;
    default:
      return "an answer whose ok is not true, false, 'continue' or 'skip'";
  }
}

/** What is wrong with an authorization answer (true, false, or undefined/null for no opinion), or undefined. */
export function authorizeProblem(v: unknown): string | undefined {
  return typeof v === 'boolean' || v === undefined || v === null ? undefined : 'an answer that is not true, false or undefined';
}

/** What is wrong with a balancer's answer, or undefined. */
export function redirectionProblem(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof v !== 'object' || !name(r.serverReference) || r.serverReference === '') return 'a redirection without a serverReference (a non-empty string)';
  return typeof r.permanent === 'boolean' ? undefined : 'a redirection whose permanent is not true or false';
}
