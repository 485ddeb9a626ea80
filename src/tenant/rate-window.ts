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

  /** Milliseconds until the next window starts. */
  static msToNextWindow(now: number): number {
    return 1000 - (now % 1000);
  }
}
