/** A count per one-second window (fixed windows: cheap, and exact enough for quotas). */
export class RateWindow {
  private second = -1;
  private n = 0;

  /** Adds `amount` in the window of `now`; returns the window's total. */
  add(now: number, amount = 1): number {
    const s = Math.floor(now / 1000);
    if (s !== this.second) {
      this.second = s;
      this.n = 0;
    }
    this.n += amount;
    return this.n;
  }

  /** The total of the window of `now`. */
  current(now: number): number {
    return Math.floor(now / 1000) === this.second ? this.n : 0;
  }

  /** When the count held at `now` lapses (the end of its window), or 0 when nothing is held at `now`. */
  heldUntil(now: number): number {
    return this.current(now) > 0 ? (this.second + 1) * 1000 : 0;
  }

  /** Continues the window of `other` (which is not used afterwards). */
  resume(other: RateWindow): void {
    this.second = other.second;
    this.n = other.n;
  }

  /** Milliseconds until the next window starts. */
  static msToNextWindow(now: number): number {
    return 1000 - (now % 1000);
  }
}
