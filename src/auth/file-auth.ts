/**
 * The `file` provider: users, their tenant and their access rules in a YAML (or JSON) file with
 * scrypt password hashes (`ratatosk passwd`). The file is checked for changes every
 * `reloadSeconds` and reloaded without a restart; a new file that does not validate is logged and
 * the previous one stays in force. Successful verifications are remembered for `cacheSeconds`
 * (scrypt is deliberately slow), keyed by a keyed hash of user, stored hash and password.
 *
 *   users:
 *     - { username: alice, password: "scrypt$…", tenant: acme, user: alice, acl: [ …AclRule ] }
 *   tenants:
 *     acme: { acl: [ …AclRule ] }    # after each user's own rules
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ReasonCode } from '../codec/reason-codes';
import { RatatoskError } from '../errors';
import { describeIssues } from '../plugins/options';
import type { AclRule, AuthProvider, AuthRequest, AuthResult, PluginContext } from '../plugins/types';
import { aclSchema } from './acl-schema';
import { hashPassword, parseHash, verifyPassword, type ParsedHash } from './passwd';

export { aclRuleSchema, aclSchema } from './acl-schema';

const userSchema = z
  .object({
    username: z.string().min(1),
    password: z.string().superRefine((v, ctx) => {
      const h = parseHash(v);
      if (typeof h === 'string') ctx.addIssue({ code: 'custom', message: h });
    }),
    tenant: z.string().min(1),
    /** Defaults to the username. */
    user: z.string().min(1).optional(),
    attrs: z.record(z.string(), z.string()).optional(),
    acl: aclSchema.optional(),
  })
  .strict();

export const usersFileSchema = z
  .object({
    users: z.array(userSchema).default([]),
    tenants: z.record(z.string(), z.object({ acl: aclSchema.default([]) }).strict()).default({}),
  })
  .strict()
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.users.forEach((u, i) => {
      if (seen.has(u.username)) ctx.addIssue({ code: 'custom', path: ['users', i, 'username'], message: `duplicate username '${u.username}'` });
      seen.add(u.username);
    });
  });

export const fileAuthOptionsSchema = z
  .object({
    /** The users file, relative to the config file's folder. */
    path: z.string().min(1),
    /** Seconds between checks of the file's modification time; 0 never reloads. */
    reloadSeconds: z.number().min(0).default(2),
    /** An unknown username: refused with 0x86 (`deny`), or left to the next provider (`skip`). */
    unknownUsers: z.enum(['deny', 'skip']).default('deny'),
    /** Seconds a successful password verification is remembered; 0 never. */
    cacheSeconds: z.number().min(0).default(30),
  })
  .strict();

export type FileAuthOptions = z.output<typeof fileAuthOptionsSchema>;

interface UserEntry {
  username: string;
  hash: ParsedHash;
  /** The hash as written, part of the verification cache key (a new password invalidates it). */
  encoded: string;
  tenantId: string;
  userId: string;
  attrs: Record<string, string> | undefined;
  acl: AclRule[] | undefined;
}

/** The validated content of a users file, ready for lookups. */
export interface UsersDb {
  users: Map<string, UserEntry>;
}

/** Reads and validates a users file; throws RTK_CONFIG_INVALID naming the file and each bad key. */
export function loadUsersFile(path: string): UsersDb {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = path.endsWith('.json') ? JSON.parse(text) : (parseYaml(text) ?? {});
  } catch (err) {
    throw new RatatoskError('RTK_CONFIG_INVALID', `${path}: ${(err as Error).message.split('\n')[0]}`);
  }
  const r = usersFileSchema.safeParse(raw);
  if (!r.success) throw new RatatoskError('RTK_CONFIG_INVALID', `${path}: ${describeIssues(r.error.issues, '').join('; ')}`);
  const users = new Map<string, UserEntry>();
  for (const u of r.data.users) {
    const tenantRules = r.data.tenants[u.tenant]?.acl ?? [];
    const rules = [...(u.acl ?? []), ...tenantRules];
    users.set(u.username, {
      username: u.username,
      hash: parseHash(u.password) as ParsedHash,
      encoded: u.password,
      tenantId: u.tenant,
      userId: u.user ?? u.username,
      attrs: u.attrs,
      acl: u.acl === undefined && r.data.tenants[u.tenant] === undefined ? undefined : rules,
    });
  }
  return { users };
}

/** What tells a changed file: modification time, size and inode ('' when it cannot be read). */
function stampOf(s: { mtimeMs: number; size: number; ino: number }): string {
  return `${s.mtimeMs}:${s.size}:${s.ino}`;
}

function stampSync(path: string): string {
  try {
    return stampOf(statSync(path));
  } catch {
    return '';
  }
}

/** Most successful verifications remembered at once (the oldest go first). */
const CACHE_MAX = 10_000;

export class FileAuthProvider implements AuthProvider {
  private db: UsersDb;
  private fingerprint = '';
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<boolean> | undefined;
  /** Verification cache: keyed hash → expiry (ms). */
  private readonly verified = new Map<string, number>();
  private readonly cacheKey = randomBytes(32);
  private dummyHash: Promise<string> | undefined;
  /** Reloads that succeeded and that failed (the old file was kept). */
  reloads = 0;
  reloadFailures = 0;
  /** Password hashes computed (cache misses), for tests and metrics. */
  verifications = 0;

  constructor(
    readonly path: string,
    private readonly options: Omit<FileAuthOptions, 'path'>,
    private readonly ctx: PluginContext,
  ) {
    this.fingerprint = stampSync(path);
    this.db = loadUsersFile(path);
    if (options.reloadSeconds > 0) {
      this.timer = setInterval(() => void this.reload(), options.reloadSeconds * 1000);
      this.timer.unref();
    }
  }

  /** Number of users in the file in force. */
  get size(): number {
    return this.db.users.size;
  }

  async authenticate(req: AuthRequest): Promise<AuthResult> {
    // Enhanced authentication, or no user name at all (e.g. a certificate): not for this provider.
    if (req.authMethod !== undefined || req.username === undefined) return { ok: 'skip' };
    const entry = this.db.users.get(req.username);
    if (!entry) {
      if (this.options.unknownUsers === 'skip') return { ok: 'skip' };
      // Spend the same time as for a known user, so that answers do not reveal which names exist.
      if (req.password) await verifyPassword(req.password, await (this.dummyHash ??= hashPassword('unknown-user')));
      return { ok: false, reasonCode: ReasonCode.BadUserNameOrPassword };
    }
    if (!req.password || !(await this.verify(entry, req.password))) return { ok: false, reasonCode: ReasonCode.BadUserNameOrPassword };
    const result: AuthResult = { ok: true, tenantId: entry.tenantId, userId: entry.userId };
    if (entry.attrs) result.attrs = entry.attrs;
    if (entry.acl) result.acl = entry.acl;
    return result;
  }

  private async verify(entry: UserEntry, password: Buffer): Promise<boolean> {
    if (this.options.cacheSeconds <= 0) {
      this.verifications++;
      return verifyPassword(password, entry.hash);
    }
    const key = createHmac('sha256', this.cacheKey).update(entry.username).update('\0').update(entry.encoded).update('\0').update(password).digest('base64');
    const now = this.ctx.now();
    const until = this.verified.get(key);
    if (until !== undefined) {
      if (until > now) return true;
      this.verified.delete(key);
    }
    this.verifications++;
    if (!(await verifyPassword(password, entry.hash))) return false;
    if (this.verified.size >= CACHE_MAX) {
      const oldest = this.verified.keys().next();
      if (!oldest.done) this.verified.delete(oldest.value);
    }
    this.verified.set(key, now + this.options.cacheSeconds * 1000);
    return true;
  }

  /**
   * Reloads the file if it changed since the last load. true when a new file is in force; a file
   * that does not validate is logged and the old one kept (false).
   */
  reload(force = false): Promise<boolean> {
    this.reloading ??= this.doReload(force).finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async doReload(force: boolean): Promise<boolean> {
    const stamp = await this.stamp();
    if (!force && stamp === this.fingerprint) return false;
    this.fingerprint = stamp;
    try {
      this.db = loadUsersFile(this.path);
    } catch (err) {
      this.reloadFailures++;
      this.ctx.logger.error({ err, code: (err as RatatoskError).code, path: this.path }, 'users file not reloaded; the previous one stays in force');
      return false;
    }
    this.reloads++;
    this.verified.clear();
    this.ctx.logger.info({ path: this.path, users: this.db.users.size }, 'users file reloaded');
    return true;
  }

  private async stamp(): Promise<string> {
    try {
      return stampOf(await stat(this.path));
    } catch {
      return '';
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.verified.clear();
  }
}
