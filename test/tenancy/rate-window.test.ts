/**
 * RateWindow (src/tenant/rate-window.ts): counts per one-second window, and as a byte budget, the
 * excess of one window carried into the next ones, so that a burst over the budget is paid for in
 * the seconds after it instead of being forgotten when its window ends.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RateWindow } from '../../src/tenant/rate-window';

const T0 = 1_700_000_000_000; // a whole second

describe('RateWindow', () => {
  test('counts reset with each window', () => {
    const w = new RateWindow();
    assert.equal(w.add(T0 + 100), 1);
    assert.equal(w.add(T0 + 900, 2), 3);
    assert.equal(w.current(T0 + 999), 3);
    assert.equal(w.current(T0 + 1000), 0);
    assert.equal(w.add(T0 + 1500), 1);
  });

  test('a byte budget carries what went over it: 10 KB at 1000 B/s is paid for over the next 9 seconds', () => {
    const w = new RateWindow();
    assert.equal(w.addOver(T0 + 200, 10_000, 1000), 10_000);
    assert.equal(w.waitOver(T0 + 200, 1000), 800 + 9000, 'until the window in which the debt is paid');
    assert.equal(w.currentOver(T0 + 1000, 1000), 9000);
    assert.equal(w.currentOver(T0 + 5000, 1000), 5000);
    assert.equal(w.waitOver(T0 + 5000, 1000), 1000 + 4000);
    assert.equal(w.currentOver(T0 + 9999, 1000), 1000, 'still a whole budget owed');
    assert.ok(w.waitOver(T0 + 9999, 1000) > 0);
    assert.equal(w.currentOver(T0 + 10_000, 1000), 0);
    assert.equal(w.waitOver(T0 + 10_000, 1000), 0, 'room again');
  });

  test('within the budget nothing carries and there is no wait; without a budget (0) windows simply reset', () => {
    const w = new RateWindow();
    w.addOver(T0, 600, 1000);
    assert.equal(w.waitOver(T0 + 10, 1000), 0);
    assert.equal(w.currentOver(T0 + 1000, 1000), 0, 'under the budget: nothing owed next second');
    const u = new RateWindow();
    u.addOver(T0, 5000, 0);
    assert.equal(u.currentOver(T0 + 1000, 0), 0);
    assert.equal(u.waitOver(T0 + 1500, 0), 500, 'no budget known (a throttler plugin decides): the next window');
  });

  test('a steady flow over the budget is held to it: 20,000 B/s offered against 4,000 B/s, read in chunks of at most 64 KB, is read at about 4,000 B/s', () => {
    const w = new RateWindow();
    let now = T0;
    let readUntil = T0;
    let taken = 0;
    let offered = 0;
    const seconds = 120;
    for (let t = 0; t < seconds * 1000; t += 100) {
      now = T0 + t;
      offered += 2000;
      // A reader that reads one chunk (what the kernel holds, at most 64 KB) when its budget has room.
      if (now >= readUntil) {
        const chunk = Math.min(offered - taken, 65_536);
        taken += chunk;
        w.addOver(now, chunk, 4000);
        readUntil = now + w.waitOver(now, 4000);
      }
    }
    const rate = taken / seconds;
    // The last chunk read is paid for after the end: at most 64 KB over 120 s above the budget.
    assert.ok(rate <= 4000 + 65_536 / seconds && rate >= 4000 * 0.9, `read ${rate.toFixed(0)} B/s`);
  });
});
