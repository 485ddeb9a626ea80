/**
 * The `http` collector: POSTs JSON arrays of events to a URL in batches (every `flushMs`, or as
 * soon as `batchSize` events wait). It never blocks the broker: `report` only queues. The queue is
 * bounded (`maxQueue`): when full, the oldest event is dropped and counted. A batch that fails
 * (network error, timeout, non-2xx) is tried once more at the next flush, then dropped and counted
 * (and the rest waits for the flush after). One request is in flight at a time; `close()` sends
 * what is queued.
 */
import { z } from 'zod';
import { Deque } from '../../util/deque';
import type { BrokerEvent } from '../events';
import type { EventCollector, PluginContext } from '../types';
import { eventFilter, eventTypesSchema } from './event-filter';
import { isHttpUrl, JsonPoster, shownUrl } from '../http-post';

export const httpCollectorOptionsSchema = z
  .object({
    url: z.string().refine(isHttpUrl, { message: 'expected an http:// or https:// URL' }),
    /** Most events per request. */
    batchSize: z.number().int().min(1).default(100),
    /** Milliseconds between flushes of a partial batch. */
    flushMs: z.number().int().min(1).default(1000),
    /** Milliseconds for one request. */
    timeoutMs: z.number().int().min(1).default(5000),
    /** Extra request headers, e.g. `authorization: Bearer …`. */
    headers: z.record(z.string(), z.string()).default({}),
    /** Most events waiting; beyond, the oldest are dropped. */
    maxQueue: z.number().int().min(1).default(10_000),
    /** Only these event types (all when absent). */
    types: eventTypesSchema,
  })
  .strict();

export type HttpCollectorOptions = z.output<typeof httpCollectorOptionsSchema>;

type TimedEvent = BrokerEvent & { time: number };

export interface HttpCollectorStats {
  /** Events delivered (2xx answer). */
  sent: number;
  /** Events given up: queue full (oldest dropped), batch failed twice, or reported after close. */
  dropped: number;
  /** Requests that failed (network error, timeout, non-2xx). */
  failedRequests: number;
}

export class HttpCollector implements EventCollector {
  private readonly queue = new Deque<TimedEvent>();
  /** A batch that failed once, sent first at the next flush. */
  private retry: TimedEvent[] | undefined;
  private readonly poster: JsonPoster;
  private readonly url: URL;
  private readonly filter: ReadonlySet<string> | undefined;
  private readonly timer: NodeJS.Timeout;
  private sending: Promise<void> | undefined;
  private kicked = false;
  private closed = false;
  readonly stats: HttpCollectorStats = { sent: 0, dropped: 0, failedRequests: 0 };

  constructor(
    private readonly options: HttpCollectorOptions,
    private readonly ctx: PluginContext,
  ) {
    this.url = new URL(options.url);
    this.poster = new JsonPoster({ timeoutMs: options.timeoutMs, headers: options.headers, maxSockets: 1 });
    this.filter = eventFilter(options.types);
    this.timer = setInterval(() => void this.flush(), options.flushMs);
    this.timer.unref();
  }

  get types(): ReadonlySet<string> | undefined {
    return this.filter;
  }

  /** Events waiting (not counting a batch waiting for its retry). */
  get queued(): number {
    return this.queue.length;
  }

  report(event: TimedEvent): void {
    if (this.filter && !this.filter.has(event.type)) return;
    if (this.closed) {
      this.stats.dropped++;
      return;
    }
    if (this.queue.length >= this.options.maxQueue) {
      this.queue.shift();
      this.stats.dropped++;
    }
    this.queue.push(event);
    if (this.queue.length >= this.options.batchSize && !this.kicked && !this.sending && !this.retry) {
      // Once per full batch, outside the caller's stack; a failing endpoint waits for the timer.
      this.kicked = true;
      setImmediate(() => {
        this.kicked = false;
        void this.flush();
      });
    }
  }

  /** Sends the retry batch, then every queued event; resolves when done (one flush at a time). */
  flush(): Promise<void> {
    this.sending ??= this.drain().finally(() => (this.sending = undefined));
    return this.sending;
  }

  private async drain(): Promise<void> {
    if (this.retry) {
      const batch = this.retry;
      this.retry = undefined;
      if (!(await this.send(batch))) {
        this.stats.dropped += batch.length;
        this.ctx.logger.warn({ url: shownUrl(this.url), events: batch.length }, 'event batch failed twice: dropped');
        return; // the endpoint is still failing: the queue waits for the next flush
      }
    }
    while (this.queue.length > 0) {
      const n = Math.min(this.options.batchSize, this.queue.length);
      const batch: TimedEvent[] = new Array<TimedEvent>(n);
      for (let i = 0; i < n; i++) batch[i] = this.queue.shift()!;
      if (!(await this.send(batch))) {
        // Try it once more at the next flush; stop hammering a failing endpoint until then.
        this.retry = batch;
        return;
      }
    }
  }

  private async send(batch: TimedEvent[]): Promise<boolean> {
    try {
      const res = await this.poster.post(this.url, batch);
      if (res.status >= 200 && res.status < 300) {
        this.stats.sent += batch.length;
        return true;
      }
      this.failed(new Error(`HTTP ${res.status}`), batch.length);
    } catch (err) {
      this.failed(err as Error, batch.length);
    }
    return false;
  }

  private failed(err: Error, events: number): void {
    this.stats.failedRequests++;
    this.ctx.logger.warn({ url: shownUrl(this.url), events, err: err.message }, 'event batch not delivered');
  }

  /**
   * Stops the timer and sends what is queued; a batch that fails gets its second try at once. A
   * failing endpoint costs at most two request timeouts; what is left is dropped and counted.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.sending;
    await this.flush();
    if (this.retry) await this.flush();
    this.stats.dropped += this.queue.length + (this.retry?.length ?? 0);
    this.queue.clear();
    this.retry = undefined;
    this.poster.close();
  }
}
