/**
 * Reading and validating the configuration. Every problem is reported with the key it concerns,
 * e.g. `tenants.acme.maxQoS: expected 0, 1 or 2, got 3`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { RatatoskError } from '../errors';
import { configSchema, type BrokerConfig, type ConfigInput } from './schema';

/** Environment variables that override the file. */
const ENV_KEYS: Record<string, { key: keyof ConfigInput; number?: boolean }> = {
  RATATOSK_HOST: { key: 'host' },
  RATATOSK_MQTT_PORT: { key: 'mqttPort', number: true },
  RATATOSK_WS_PORT: { key: 'wsPort', number: true },
  RATATOSK_TLS_PORT: { key: 'tlsPort', number: true },
  RATATOSK_WSS_PORT: { key: 'wssPort', number: true },
  RATATOSK_DATA_DIR: { key: 'dataDir' },
  RATATOSK_STORAGE: { key: 'storage' },
  RATATOSK_DURABILITY: { key: 'durability' },
};

export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RatatoskError('RTK_CONFIG_READ', `${path}: ${(err as Error).message}`);
  }
  try {
    return path.endsWith('.json') ? JSON.parse(text) : (parseYaml(text) ?? {});
  } catch (err) {
    throw new RatatoskError('RTK_CONFIG_PARSE', `${path}: ${(err as Error).message}`);
  }
}

/** Applies RATATOSK_* environment variables on top of a raw config object. */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out = { ...raw };
  for (const [name, { key, number }] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    out[key] = number ? Number(v) : v;
  }
  if (env.RATATOSK_LOG_LEVEL) out.log = { ...(out.log as object | undefined), level: env.RATATOSK_LOG_LEVEL };
  return out;
}

/** Validates a raw config object; throws RTK_CONFIG_INVALID / RTK_CONFIG_UNKNOWN_KEY naming each key. */
export function validateConfig(raw: unknown, source = 'config'): BrokerConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new RatatoskError('RTK_CONFIG_INVALID', `${source}: the top level must be a mapping of keys to values`);
  }
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const unknownOnly = issues.every((i) => i.code === 'unrecognized_keys');
  const lines = issues.map((i) => describeIssue(i));
  throw new RatatoskError(unknownOnly ? 'RTK_CONFIG_UNKNOWN_KEY' : 'RTK_CONFIG_INVALID', `${source}:\n  ${lines.join('\n  ')}`);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return `${keys.join(', ')}: unknown key${keys.length > 1 ? 's' : ''}`;
  }
  return `${path || '(top level)'}: ${issue.message}`;
}

/** File (optional), then environment, then flags. */
export function loadConfig(options: {
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: Partial<ConfigInput>;
  /** --tls-cert / --tls-key / --tls-ca, merged into the `tls` block. */
  tlsFlags?: { tlsCert?: string; tlsKey?: string; tlsCa?: string };
}): BrokerConfig {
  const fromFile = options.file ? readConfigFile(options.file) : {};
  if (fromFile === null || typeof fromFile !== 'object' || Array.isArray(fromFile)) {
    throw new RatatoskError('RTK_CONFIG_INVALID', `${options.file}: the top level must be a mapping of keys to values`);
  }
  const withEnv = applyEnv(fromFile as Record<string, unknown>, options.env ?? {});
  const merged: Record<string, unknown> = { ...withEnv, ...stripUndefined(options.overrides ?? {}) };
  const t = options.tlsFlags;
  if (t) {
    const tls = { ...(merged.tls as object | undefined) } as Record<string, unknown>;
    if (t.tlsCert) tls.cert = t.tlsCert;
    if (t.tlsKey) tls.key = t.tlsKey;
    if (t.tlsCa) tls.ca = t.tlsCa;
    merged.tls = tls;
  }
  return validateConfig(merged, options.file ?? 'config');
}

function stripUndefined(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
