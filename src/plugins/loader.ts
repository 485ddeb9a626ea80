/**
 * Loads a plugin: an npm package or a local module (resolved from the config file's folder) that
 * exports a factory as `default` or `create`. The factory gets its own config block and a context.
 */
import { isAbsolute, resolve } from 'node:path';
import { RatatoskError } from '../errors';
import type { PluginContext, PluginFactory } from './types';

export interface PluginSpec {
  module: string;
  config?: Record<string, unknown>;
}

function resolveModule(spec: string, baseDir: string): string {
  try {
    if (spec.startsWith('.') || isAbsolute(spec)) return require.resolve(resolve(baseDir, spec));
    return require.resolve(spec, { paths: [baseDir, process.cwd()] });
  } catch (err) {
    throw new RatatoskError('RTK_PLUGIN_LOAD', `${spec}: ${(err as Error).message.split('\n')[0]}`);
  }
}

function factoryOf<T>(mod: unknown): PluginFactory<T> | undefined {
  const m = mod as { default?: unknown; create?: unknown } | undefined;
  if (typeof m === 'function') return m as PluginFactory<T>;
  if (typeof m?.create === 'function') return m.create as PluginFactory<T>;
  if (typeof m?.default === 'function') return m.default as PluginFactory<T>;
  const d = m?.default as { create?: unknown } | undefined;
  if (typeof d?.create === 'function') return d.create as PluginFactory<T>;
  return undefined;
}

/** Loads the module and calls its factory; every failure is RTK_PLUGIN_LOAD naming the module. */
export async function loadPlugin<T>(spec: PluginSpec, ctx: PluginContext, baseDir: string = process.cwd()): Promise<T> {
  const path = resolveModule(spec.module, baseDir);
  let mod: unknown;
  try {
    mod = require(path);
  } catch (err) {
    throw new RatatoskError('RTK_PLUGIN_LOAD', `${spec.module}: ${(err as Error).message.split('\n')[0]}`);
  }
  const factory = factoryOf<T>(mod);
  if (!factory) throw new RatatoskError('RTK_PLUGIN_LOAD', `${spec.module}: exports no factory (default or create)`);
  try {
    return await factory(spec.config ?? {}, ctx);
  } catch (err) {
    throw new RatatoskError('RTK_PLUGIN_LOAD', `${spec.module}: factory failed: ${(err as Error).message}`);
  }
}
