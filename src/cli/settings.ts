/**
 * `ratatosk settings <tenant> [--config file] [--json]`: the effective settings and quotas a tenant
 * gets from a configuration, and where each comes from (built-in default, the config file's
 * `tenants.default` block or the tenant's own block, the setting provider plugin). The provider, when
 * configured, is asked once, as the broker asks it. Exit codes: 0 printed, 2 bad usage or
 * configuration (the message names the key), 1 when the setting provider cannot be loaded or gives
 * no valid answer (what the rest of the configuration gives is printed all the same).
 */
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load';
import { RatatoskError } from '../errors';
import { createLogger } from '../log';
import { PluginGuard } from '../plugins/guard';
import { loadPlugin } from '../plugins/loader';
import type { SettingProvider } from '../plugins/types';
import { askProvider } from '../tenant/settings-refresher';
import { SettingsSource } from '../tenant/settings-source';

export const SETTINGS_HELP = `Usage: ratatosk settings <tenant> [--config file] [--json]

Prints the settings and quotas that tenant <tenant> gets from the configuration (--config, or
RATATOSK_CONFIG), and where each one comes from: the built-in default, the config file's
tenants.default block or tenants.<tenant> block, or the setting provider plugin (asked once, as
the broker asks it). --json prints { tenant, settings, sources } instead of a table.
Exit status 1 when the setting provider cannot be loaded or gives no valid answer (the table
then shows the rest of the configuration without it), 2 for bad usage or a bad configuration.
`;

export interface SettingsIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export async function runSettings(argv: string[], io: SettingsIO = process): Promise<number> {
  let values: { config?: string; json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    }));
  } catch (err) {
    io.stderr.write(`ratatosk settings: ${(err as Error).message}\n${SETTINGS_HELP}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(SETTINGS_HELP);
    return 0;
  }
  const tenant = positionals[0];
  if (tenant === undefined || positionals.length > 1 || tenant === '') {
    io.stderr.write(`ratatosk settings: expected one tenant id\n${SETTINGS_HELP}`);
    return 2;
  }
  const file = values.config ?? io.env.RATATOSK_CONFIG;
  let config;
  try {
    config = loadConfig({ file, env: io.env });
  } catch (err) {
    if (err instanceof RatatoskError) {
      io.stderr.write(`ratatosk settings: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const source = new SettingsSource(config.tenants);
  let providerFailed = false;
  const spec = config.plugins.settings;
  if (spec) {
    // The provider's failures are logged to standard error, so the table stays clean.
    const log = createLogger('error', io.stderr);
    const baseDir = file ? dirname(resolve(file)) : process.cwd();
    let provider: SettingProvider;
    try {
      provider = await loadPlugin<SettingProvider>(spec, { logger: log, now: Date.now }, baseDir);
    } catch (err) {
      io.stderr.write(`ratatosk settings: plugins.settings: ${(err as Error).message}\n`);
      return 1;
    }
    const guard = new PluginGuard(log, config.plugins.timeoutMs);
    try {
      for (const id of tenant === 'default' ? ['default'] : ['default', tenant]) {
        const answer = await askProvider(provider, guard, log, id);
        if (answer === 'unavailable' || answer === 'failed') {
          providerFailed = true;
          io.stderr.write(`ratatosk settings: the setting provider gave no valid answer for '${id}' (see the log above); its settings are left out\n`);
        } else {
          source.setProviderPatch(id, answer);
        }
      }
    } finally {
      await provider.close?.();
    }
  }
  const settings = source.get(tenant);
  const sources = source.sourcesOf(tenant);
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ tenant, settings, sources }, null, 2)}\n`);
    return providerFailed ? 1 : 0;
  }
  const rows = Object.entries(settings).map(([k, v]) => [k, JSON.stringify(v), sources[k] ?? '']);
  const w0 = Math.max(...rows.map((r) => r[0]!.length));
  const w1 = Math.max(...rows.map((r) => r[1]!.length));
  const lines = rows.map(([k, v, from]) => `  ${k!.padEnd(w0)}  ${v!.padEnd(w1)}  ${from}\n`);
  io.stdout.write(`tenant ${tenant}\n${lines.join('')}`);
  return providerFailed ? 1 : 0;
}
