/**
 * Builds the auth providers named in the config, in order. Each entry is `{type, ...options}`; the
 * options are validated here and every problem names its key (`auth.providers.1.path: …`).
 *
 * | type   | provider                                       |
 * |--------|------------------------------------------------|
 * | dev    | accepts everyone (development)                 |
 * | file   | users file with scrypt hashes (file-auth.ts)   |
 * | http   | webhook (http-auth.ts)                         |
 * | jwt    | JSON Web Tokens (jwt-auth.ts)                  |
 * | cert   | TLS client certificates (cert-auth.ts)         |
 * | plugin | a module exporting a PluginFactory<AuthProvider> (`module`, `config`) |
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import type { authProviderSchema } from '../config/schema';
import { RatatoskError } from '../errors';
import { detailOf, loadNamed, parseOptions } from '../plugins/options';
import { loadPlugin } from '../plugins/loader';
import type { AuthProvider, PluginContext } from '../plugins/types';
import { certAuthOptionsSchema, CertAuthProvider } from './cert-auth';
import { DevAuthProvider } from './dev-auth';
import { fileAuthOptionsSchema, FileAuthProvider } from './file-auth';
import { httpAuthOptionsSchema, HttpAuthProvider } from './http-auth';
import { jwtAuthOptionsSchema, JwtAuthProvider } from './jwt-auth';

export type AuthProviderConfig = z.infer<typeof authProviderSchema>;

export const pluginProviderOptionsSchema = z
  .object({
    /** npm package name, or a path relative to the config file's folder. */
    module: z.string().min(1),
    config: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const BUILTIN_PROVIDER_TYPES = ['dev', 'file', 'http', 'jwt', 'cert', 'plugin'] as const;

/**
 * One provider from its config entry; `where` names the entry in errors (`auth.providers.1`),
 * `baseDir` resolves relative paths and plugin modules (the config file's folder).
 */
export async function createAuthProvider(config: AuthProviderConfig, ctx: PluginContext, baseDir: string, where: string): Promise<AuthProvider> {
  const { type, ...raw } = config;
  switch (type) {
    case 'dev':
      parseOptions(z.object({}).strict(), raw, where);
      return new DevAuthProvider();
    case 'file': {
      const { path, ...options } = parseOptions(fileAuthOptionsSchema, raw, where);
      try {
        return new FileAuthProvider(resolve(baseDir, path), options, ctx);
      } catch (err) {
        if (err instanceof RatatoskError) throw new RatatoskError(err.code, `${where}.path: ${detailOf(err)}`);
        throw err;
      }
    }
    case 'http':
      return new HttpAuthProvider(parseOptions(httpAuthOptionsSchema, raw, where), ctx);
    case 'jwt':
      return new JwtAuthProvider(parseOptions(jwtAuthOptionsSchema, raw, where), ctx, baseDir, where);
    case 'cert':
      return new CertAuthProvider(parseOptions(certAuthOptionsSchema, raw, where));
    case 'plugin':
      return loadNamed(loadPlugin<AuthProvider>(parseOptions(pluginProviderOptionsSchema, raw, where), ctx, baseDir), where);
    default:
      throw new RatatoskError('RTK_CONFIG_INVALID', `${where}.type: unknown provider type '${type}' (one of ${BUILTIN_PROVIDER_TYPES.join(', ')})`);
  }
}

/** Every provider of `auth.providers`, in order. If one cannot be built, those built are closed. */
export async function createAuthProviders(configs: AuthProviderConfig[], ctx: PluginContext, baseDir: string = process.cwd()): Promise<AuthProvider[]> {
  const out: AuthProvider[] = [];
  try {
    for (const [i, c] of configs.entries()) out.push(await createAuthProvider(c, ctx, baseDir, `auth.providers.${i}`));
  } catch (err) {
    for (const p of out) {
      try {
        await p.close?.();
      } catch {
        // already failing: the first error is the one to report
      }
    }
    throw err;
  }
  return out;
}
