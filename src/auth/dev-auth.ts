/**
 * The `dev` provider: accepts everyone. For development only. The tenant comes from a
 * `tenant/user` username, else the tenant is `default`.
 */
import type { AuthProvider, AuthRequest, AuthResult } from '../plugins/types';

export const DEFAULT_TENANT = 'default';

/** Splits `tenant/user` into its parts; a username without '/' belongs to the default tenant. */
export function tenantFromUsername(username: string | undefined): { tenantId: string; userId: string } {
  if (!username) return { tenantId: DEFAULT_TENANT, userId: '' };
  const slash = username.indexOf('/');
  if (slash <= 0 || slash === username.length - 1) return { tenantId: DEFAULT_TENANT, userId: username };
  return { tenantId: username.slice(0, slash), userId: username.slice(slash + 1) };
}

export class DevAuthProvider implements AuthProvider {
  authenticate(req: AuthRequest): AuthResult {
    const { tenantId, userId } = tenantFromUsername(req.username);
    return { ok: true, tenantId, userId };
  }
}
