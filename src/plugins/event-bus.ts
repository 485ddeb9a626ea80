/**
 * Hands every broker event to the configured collectors. A collector that throws or rejects is
 * logged and counted; it never reaches the code that emitted the event.
 */
import type { Logger } from 'pino';
import type { BrokerEvent } from './events';
import type { EventCollector } from './types';

export type TimedEvent = BrokerEvent & { time: number };

export class EventBus {
  private collectors: EventCollector[] = [];
  private listeners: ((e: TimedEvent) => void)[] = [];
  /** Told when what is wanted changes (a collector or listener added or removed). */
  private watchers: (() => void)[] = [];
  /** Failures of collectors so far. */
  failures = 0;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** Whether anything listens; hot paths skip building events otherwise. */
  get enabled(): boolean {
    return this.collectors.length > 0 || this.listeners.length > 0;
  }

  addCollector(c: EventCollector): void {
    this.collectors.push(c);
    this.changed();
  }

  /** In-process listener (metrics, admin live views, tests). Returns a function that removes it. */
  listen(fn: (e: TimedEvent) => void): () => void {
    this.listeners.push(fn);
    this.changed();
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
      this.changed();
    };
  }

  /** Calls `fn` whenever `wanted` may have changed; returns what stops that. */
  watchWanted(fn: () => void): () => void {
    this.watchers.push(fn);
    return () => {
      this.watchers = this.watchers.filter((w) => w !== fn);
    };
  }

  private changed(): void {
    for (const w of this.watchers) w();
  }

  /** The event types some collector or listener wants: 'all', or a list (empty: none). */
  get wanted(): 'all' | string[] {
    if (this.listeners.length > 0) return 'all';
    const out = new Set<string>();
    for (const c of this.collectors) {
      if (c.types === undefined) return 'all';
      for (const t of c.types) out.add(t);
    }
    return [...out];
  }

  emit(event: BrokerEvent): void {
    if (!this.enabled) return;
    const e = event as TimedEvent;
    e.time = this.now();
    this.deliver(e);
  }

  /** An event that happened elsewhere (the background process), with its own time. */
  relay(e: TimedEvent): void {
    if (this.enabled) this.deliver(e);
  }

  private deliver(e: TimedEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.failed(err);
      }
    }
    for (const c of this.collectors) {
      try {
        const r = c.report(e);
        if (r && typeof (r as Promise<void>).catch === 'function') (r as Promise<void>).catch((err) => this.failed(err));
      } catch (err) {
        this.failed(err);
      }
    }
  }

  async close(): Promise<void> {
    for (const c of this.collectors) {
      try {
        await c.close?.();
      } catch (err) {
        this.failed(err);
      }
    }
  }

  private failed(err: unknown): void {
    this.failures++;
    this.log.error({ err, code: 'RTK_PLUGIN_FAILED' }, 'event collector failed');
  }
}
