/**
 * Slows password guessing: after `maxFailures` failed logins from one address within the window,
 * every further attempt from it waits before it is even checked, doubling up to `maxDelayMs`.
 * A successful login clears the address. Memory is bounded: old entries are dropped.
 */
export interface LoginGuardOptions {
  maxFailures: number;
  windowSeconds: number;
  maxDelayMs: number;
}

interface Entry {
  failures: number;
  since: number;
}

const MAX_TRACKED = 100_000;
const BASE_DELAY_MS = 250;

export class LoginGuard {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly options: LoginGuardOptions,
    private readonly now: () => number,
  ) {}

  /** Milliseconds the next attempt from `address` must wait. */
  delayFor(address: string): number {
    const e = this.current(address);
    if (!e) return 0;
    const over = e.failures - this.options.maxFailures;
    if (over < 0) return 0;
    return Math.min(this.options.maxDelayMs, BASE_DELAY_MS * 2 ** Math.min(over, 20));
  }

  failed(address: string): void {
    const e = this.current(address);
    if (e) {
      e.failures++;
      return;
    }
    if (this.entries.size >= MAX_TRACKED) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(address, { failures: 1, since: this.now() });
  }

  succeeded(address: string): void {
    this.entries.delete(address);
  }

  private current(address: string): Entry | undefined {
    const e = this.entries.get(address);
    if (e && this.now() - e.since > this.options.windowSeconds * 1000) {
      this.entries.delete(address);
      return undefined;
    }
    return e;
  }
}
