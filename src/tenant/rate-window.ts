/** A count per one-second window (fixed windows: cheap, and exact enough for quotas). */
export class RateWindow {
  private second = -1;
  private n = 0;

  /** Adds `amount` in the window of `now`; returns the window's total. */
  add(now: number, amount = 1): number {
    return this.addOver(now, amount, 0);
  }

  /** The total of the window of `now`. */
  current(now: number): number {
    return Math.floor(now / 1000) === this.second ? this.n : 0;
  }

  /**
   * As a budget of `perSecond` (bytes): moves to the window of `now` keeping what earlier windows
   * took beyond their budget, paid off at `perSecond` a second, then adds `amount`. Returns the
   * total. So a burst over the budget is paid for in the seconds after it, not forgotten.
   */
  addOver(now: number, amount: number, perSecond: number): number {
    this.roll(now, perSecond);
    this.n += amount;
    return this.n;
  }

  /** The total of the window of `now` as a budget of `perSecond` (with the excess carried). */
  currentOver(now: number, perSecond: number): number {
    this.roll(now, perSecond);
    return this.n;
  }

  /** Milliseconds until a budget of `perSecond` has room again: 0 now; the next window when unknown (0). */
  waitOver(now: number, perSecond: number): number {
    if (perSecond <= 0) return RateWindow.msToNextWindow(now);
    const n = this.currentOver(now, perSecond);
    if (n < perSecond) return 0;
    return RateWindow.msToNextWindow(now) + Math.floor((n - perSecond) / perSecond) * 1000;
  }

  private roll(now: number, perSecond: number): void {
    const s = Math.floor(now / 1000);
    if (s === this.second) return;
    this.n = perSecond > 0 && this.second >= 0 ? Math.max(0, this.n - perSecond * (s - this.second)) : 0;
    this.second = s;
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
