/**
 * The `log` collector: one structured line per event through the broker's logger (pino), as
 * `{"event": {...}, "msg": "client.connected"}` at the configured level.
 */
import { z } from 'zod';
import type { BrokerEvent } from '../events';
import type { EventCollector, PluginContext } from '../types';
import { eventFilter, eventTypesSchema } from './event-filter';

export const logCollectorOptionsSchema = z
  .object({
    level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
    /** Only these event types (all when absent). */
    types: eventTypesSchema,
  })
  .strict();

export type LogCollectorOptions = z.output<typeof logCollectorOptionsSchema>;

export class LogCollector implements EventCollector {
  private readonly filter: ReadonlySet<string> | undefined;

  constructor(
    private readonly options: LogCollectorOptions,
    private readonly ctx: PluginContext,
  ) {
    this.filter = eventFilter(options.types);
  }

  get types(): ReadonlySet<string> | undefined {
    return this.filter;
  }

  report(event: BrokerEvent & { time: number }): void {
    if (this.filter && !this.filter.has(event.type)) return;
    // Nested under `event`: a top-level `time` would clash with pino's own.
    this.ctx.logger[this.options.level]({ event }, event.type);
  }
}
