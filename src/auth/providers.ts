/**
 * Builds the auth providers named in the config, in order.
 */
import type { z } from 'zod';
import type { authProviderSchema } from '../config/schema';
import { RatatoskError } from '../errors';
import type { AuthProvider, PluginContext } from '../plugins/types';
import { DevAuthProvider } from './dev-auth';

export type AuthProviderConfig = z.infer<typeof authProviderSchema>;

export async function createAuthProviders(configs: AuthProviderConfig[], _ctx: PluginContext): Promise<AuthProvider[]> {
  const out: AuthProvider[] = [];
  for (const [i, c] of configs.entries()) {
    switch (c.type) {
      case 'dev':
        out.push(new DevAuthProvider());
        break;
      default:
        throw new RatatoskError('RTK_CONFIG_INVALID', `auth.providers.${i}.type: unknown provider type '${c.type}'`);
    }
  }
  return out;
}
