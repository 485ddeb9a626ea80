/**
 * Example SettingProvider: per-tenant settings patches from a JSON file, re-read when it changes.
 *
 *   { "default": { "maxQoS": 1 }, "acme": { "maxConnections": 100, "retainEnabled": false } }
 *
 * `default` applies to every tenant (under each tenant's own patch). The broker validates every
 * patch (a bad one is logged, naming the key, and the tenant keeps its last good settings) and asks
 * again every `plugins.settings.refreshSeconds`.
 *
 * Config (the module path is relative to the config file's folder; built by `npm run build`):
 *
 *   plugins:
 *     settings:
 *       module: ./dist/examples/plugins/tenant-settings.js
 *       refreshSeconds: 5
 *       config:
 *         path: /etc/ratatosk/tenants.json   # relative paths start at the working directory
 *         checkMs: 1000                      # how often the file's modification time is looked at
 *
 * A file that cannot be read or parsed is logged and the previous content stays in force.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PluginContext, SettingProvider } from '../../src/plugins/types';

type Patches = Record<string, Record<string, unknown>>;

function parsePatches(text: string): Patches {
  const raw = JSON.parse(text) as unknown;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('expected an object of tenant ids');
  for (const [tenant, patch] of Object.entries(raw)) {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new Error(`${tenant}: expected an object of settings`);
  }
  return raw as Patches;
}

export class FileSettingProvider implements SettingProvider {
  private patches: Patches = {};
  private stamp = '';
  private checkedAt = -Infinity;

  constructor(
    readonly path: string,
    private readonly checkMs: number,
    private readonly ctx: PluginContext,
  ) {
    this.load(true);
  }

  settings(tenantId: string): Record<string, unknown> | undefined {
    const now = this.ctx.now();
    if (now - this.checkedAt >= this.checkMs) {
      this.checkedAt = now;
      this.load(false);
    }
    return this.patches[tenantId];
  }

  /** Reads the file if it changed; at start (`strict`) a bad file is an error, later it is logged. */
  private load(strict: boolean): void {
    let stamp: string;
    try {
      const s = statSync(this.path);
      stamp = `${s.mtimeMs}:${s.size}`;
    } catch (err) {
      if (strict) throw err;
      return; // gone for a moment (being replaced): keep what we have
    }
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    try {
      this.patches = parsePatches(readFileSync(this.path, 'utf8'));
      if (!strict) this.ctx.logger.info({ path: this.path }, 'tenant settings file reloaded');
    } catch (err) {
      if (strict) throw new Error(`${this.path}: ${(err as Error).message}`);
      this.ctx.logger.error({ path: this.path, err: (err as Error).message }, 'tenant settings file not reloaded; the previous one stays in force');
    }
  }
}

export function create(config: Record<string, unknown>, ctx: PluginContext): FileSettingProvider {
  if (typeof config.path !== 'string' || config.path === '') throw new Error('path: expected the JSON file of tenant settings');
  const checkMs = config.checkMs ?? 1000;
  if (typeof checkMs !== 'number' || checkMs < 0) throw new Error('checkMs: expected a number of milliseconds');
  return new FileSettingProvider(resolve(config.path), checkMs, ctx);
}
