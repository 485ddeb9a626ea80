/**
 * Calls into plugins with a timeout and without letting a throw or a rejection escape: the caller
 * gets a result union and decides by policy. Failures are counted and logged once per call.
 */
import type { Logger } from 'pino';

export type Guarded<T> = { ok: true; value: T } | { ok: false; error: Error; timedOut: boolean };

export class PluginGuard {
  /** Calls that threw, rejected or timed out. */
  failures = 0;
  timeouts = 0;

  constructor(
    private readonly log: Logger,
    readonly timeoutMs: number,
  ) {}

  /**
   * Runs `fn`; a synchronous answer comes back synchronously (no promise on the hot path). With
   * `check`, an answer it finds a problem with counts as a failure (plugins/answers.ts).
   */
  call<T>(label: string, fn: () => T | Promise<T>, check?: (v: unknown) => string | undefined): Guarded<T> | Promise<Guarded<T>> {
    let r: T | Promise<T>;
    try {
      r = fn();
    } catch (err) {
      return this.failed(label, err, false);
    }
    if (!(r instanceof Promise)) return this.checked(label, r, check);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Guarded<T>>((resolve) => {
      timer = setTimeout(() => resolve(this.failed(label, new Error(`timed out after ${this.timeoutMs} ms`), true)), this.timeoutMs);
    });
    const done: Promise<Guarded<T>> = r.then(
      (value: T): Guarded<T> => this.checked(label, value, check),
      (err: unknown): Guarded<T> => this.failed<T>(label, err, false),
    );
    return Promise.race([done, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * For interfaces that must answer synchronously (throttlers): a promise is a broken plugin, counted
   * and logged like a throw, and its eventual rejection is swallowed.
   */
  callSync<T>(label: string, fn: () => T): Guarded<T> {
    const r = this.call(label, fn);
    if (!(r instanceof Promise)) return r;
    r.catch(() => undefined);
    return this.failed(label, new Error('answered asynchronously; this interface must answer synchronously'), false);
  }

  /** The same, always as a promise. */
  async callAsync<T>(label: string, fn: () => T | Promise<T>, check?: (v: unknown) => string | undefined): Promise<Guarded<T>> {
    return this.call(label, fn, check);
  }

  private checked<T>(label: string, value: T, check: ((v: unknown) => string | undefined) | undefined): Guarded<T> {
    const problem = check?.(value);
    return problem === undefined ? { ok: true, value } : this.failed(label, new Error(`answered ${problem}`), false);
  }

  private failed<T>(label: string, err: unknown, timedOut: boolean): Guarded<T> {
    this.failures++;
    if (timedOut) this.timeouts++;
    const error = err instanceof Error ? err : new Error(String(err));
    this.log.error({ err: error, plugin: label, code: timedOut ? 'RTK_PLUGIN_TIMEOUT' : 'RTK_PLUGIN_FAILED' }, `plugin ${label} failed`);
    return { ok: false, error, timedOut };
  }
}
