/**
 * Slows password guessing: after `maxFailures` failed logins of one user name from one address
 * within the window, every further attempt for it waits before it is even checked, doubling up to
 * `maxDelayMs`; the same after `maxFailures` × ADDRESS_FACTOR failures of any user names from the
 * address (guessing across many names). A successful login clears its own user name only: logging
 * in to an account of one's own does not clear the guesses against another. While one attempt from
 * an address waits, another from it that would wait too is refused at once: guesses sent in
 * parallel do not all pass after one delay. Memory is bounded: old entries are dropped.
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
/** Failures of any user names from one address that start its delays, in multiples of maxFailures. */
const ADDRESS_FACTOR = 4;

/** What delayFor answers when the attempt is refused at once. */
export const REFUSE_NOW = -1;

export class LoginGuard {
  private readonly entries = new Map<string, Entry>();
  /** Addresses with an attempt waiting its delay now. */
  private readonly waiting = new Set<string>();

  constructor(
    private readonly options: LoginGuardOptions,
    private readonly now: () => number,
  ) {}

  /**
   * Milliseconds the attempt must wait (then call `waited`), or REFUSE_NOW when another attempt from
   * the address is waiting already.
   */
  delayFor(address: string, username: string | undefined): number {
    const max = this.options.maxFailures;
    const delay = Math.max(this.delayOf(this.current(keyOf(address, username)), max), this.delayOf(this.current(address), max * ADDRESS_FACTOR));
    if (delay === 0) return 0;
    if (this.waiting.has(address)) return REFUSE_NOW;
    this.waiting.add(address);
    return delay;
  }

  /** The attempt given a delay by delayFor has waited it. */
  waited(address: string): void {
    this.waiting.delete(address);
  }

  failed(address: string, username: string | undefined): void {
    this.count(keyOf(address, username));
    this.count(address);
  }

  succeeded(address: string, username: string | undefined): void {
    this.entries.delete(keyOf(address, username));
  }

  private delayOf(e: Entry | undefined, threshold: number): number {
    if (!e) return 0;
    const over = e.failures - threshold;
    if (over < 0) return 0;
    return Math.min(this.options.maxDelayMs, BASE_DELAY_MS * 2 ** Math.min(over, 20));
  }

  private count(key: string): void {
    const e = this.current(key);
    if (e) {
      e.failures++;
      return;
    }
    if (this.entries.size >= MAX_TRACKED) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { failures: 1, since: this.now() });
  }

  private current(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.now() - e.since > this.options.windowSeconds * 1000) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}

/** The entry of one user name from one address (an address alone is the key of all its names). */
function keyOf(address: string, username: string | undefined): string {
  return `${address}\u0000${username ?? ''}`;
}
