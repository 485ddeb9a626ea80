/**
 * Example EventCollector: keeps the events in memory, in `events` (exported, for tests and for
 * a REPL). The oldest go first beyond `max`.
 *
 *   events:
 *     - type: plugin
 *       module: ./dist/examples/plugins/memory-collector.js   # relative to the config file's folder
 *       config: { max: 1000, types: [client.connected, client.disconnected] }
 *
 * In a test: `const mem = require('<repo>/dist/examples/plugins/memory-collector.js'); mem.events`.
 */
import type { BrokerEvent } from '../../src/plugins/events';
import type { EventCollector, PluginContext } from '../../src/plugins/types';

export type TimedEvent = BrokerEvent & { time: number };

/** Every event reported to any instance of this collector, oldest first. */
export const events: TimedEvent[] = [];

/** Empties `events`. */
export function clear(): void {
  events.length = 0;
}

export class MemoryCollector implements EventCollector {
  closed = false;

  constructor(
    private readonly max: number,
    /** The event types it keeps (all when absent); the broker need not send it others. */
    readonly types: ReadonlySet<string> | undefined,
  ) {}

  report(event: TimedEvent): void {
    if (this.closed || (this.types && !this.types.has(event.type))) return;
    events.push(event);
    if (events.length > this.max) events.splice(0, events.length - this.max);
  }

  close(): void {
    this.closed = true;
  }
}

export function create(config: Record<string, unknown>, _ctx: PluginContext): MemoryCollector {
  const max = config.max ?? 10_000;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw new Error('max: expected a positive whole number');
  const types = config.types;
  if (types !== undefined && (!Array.isArray(types) || !types.every((t) => typeof t === 'string'))) throw new Error('types: expected a list of event types');
  return new MemoryCollector(max, types ? new Set(types as string[]) : undefined);
}
