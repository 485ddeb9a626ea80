/**
 * Builds the event collectors named in the config (`events`), in order. Each entry is
 * `{type, ...options}`; options are validated here and every problem names its key
 * (`events.0.url: …`).
 *
 * | type   | collector                                                  |
 * |--------|------------------------------------------------------------|
 * | log    | one structured log line per event (log-collector.ts)       |
 * | http   | batched JSON webhook (http-collector.ts)                   |
 * | plugin | a module exporting a PluginFactory<EventCollector> (`module`, `config`) |
 */
import { z } from 'zod';
import type { eventCollectorSchema } from '../../config/schema';
import { RatatoskError } from '../../errors';
import { loadPlugin } from '../loader';
import type { EventCollector, PluginContext } from '../types';
import { HttpCollector, httpCollectorOptionsSchema } from './http-collector';
import { LogCollector, logCollectorOptionsSchema } from './log-collector';
import { loadNamed, parseOptions } from '../options';

export { HttpCollector, type HttpCollectorOptions, type HttpCollectorStats } from './http-collector';
export { LogCollector, type LogCollectorOptions } from './log-collector';

export type EventCollectorConfig = z.infer<typeof eventCollectorSchema>;

export const pluginCollectorOptionsSchema = z
  .object({
    /** npm package name, or a path relative to the config file's folder. */
    module: z.string().min(1),
    config: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const BUILTIN_COLLECTOR_TYPES = ['log', 'http', 'plugin'] as const;

/** One collector from its config entry; `where` names it in errors (`events.0`). */
export async function createEventCollector(config: EventCollectorConfig, ctx: PluginContext, baseDir: string, where: string): Promise<EventCollector> {
  const { type, ...raw } = config;
  switch (type) {
    case 'log':
      return new LogCollector(parseOptions(logCollectorOptionsSchema, raw, where), ctx);
    case 'http':
      return new HttpCollector(parseOptions(httpCollectorOptionsSchema, raw, where), ctx);
    case 'plugin':
      return loadNamed(loadPlugin<EventCollector>(parseOptions(pluginCollectorOptionsSchema, raw, where), ctx, baseDir), where);
    default:
      throw new RatatoskError('RTK_CONFIG_INVALID', `${where}.type: unknown event collector type '${type}' (one of ${BUILTIN_COLLECTOR_TYPES.join(', ')})`);
  }
}

/** Every collector of `events`, in order. If one cannot be built, those built are closed. */
export async function createEventCollectors(configs: EventCollectorConfig[], ctx: PluginContext, baseDir: string = process.cwd()): Promise<EventCollector[]> {
  const out: EventCollector[] = [];
  try {
    for (const [i, c] of configs.entries()) out.push(await createEventCollector(c, ctx, baseDir, `events.${i}`));
  } catch (err) {
    for (const c of out) {
      try {
        await c.close?.();
      } catch {
        // already failing: the first error is the one to report
      }
    }
    throw err;
  }
  return out;
}
