/**
 * The decisions of automatic placement (load-watch.ts): which tenant moves out of a busy broker and
 * when, and when it comes back.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadWatch } from '../../src/background/load-watch';
import type { IntervalLoad } from '../../src/tenant/fair-scheduler';

function load(bytes: Record<string, number>, elu = 0.9, active = Object.keys(bytes).length): IntervalLoad {
  return { elu, elapsedMs: 20, capacityPerMs: 10_000, active, bytes: new Map(Object.entries(bytes)) };
}

const any = (): boolean => true;

/** Feeds the same interval every 20 ms from `from` to `to` (ms); returns the first tenant to move and when. */
function feed(w: LoadWatch, l: IntervalLoad, from: number, to: number, movable = any): { id: string; at: number } | undefined {
  for (let t = from; t <= to; t += 20) {
    const id = w.interval(l, t, movable);
    if (id !== undefined) return { id, at: t };
  }
  return undefined;
}

describe('automatic placement: moving out', () => {
  test('a tenant with most of a busy loop\'s input while another is active moves after afterMs, not before', () => {
    const w = new LoadWatch({ afterMs: 1000, calmMs: 5000 });
    const moved = feed(w, load({ a: 90_000, b: 1_000 }), 0, 3000);
    assert.deepEqual(moved, { id: 'a', at: 1000 });
  });

  test('nobody moves when the loop is not busy, when only one tenant is active, when no tenant has half the input, or when it brings under 1 MB/s', () => {
    const w = new LoadWatch({ afterMs: 200, calmMs: 5000 });
    assert.equal(feed(w, load({ a: 90_000, b: 1_000 }, 0.3), 0, 2000), undefined, 'a loop at 30 % moved a tenant');
    assert.equal(feed(w, load({ a: 90_000 }), 3000, 5000), undefined, 'a lone tenant moved');
    assert.equal(feed(w, load({ a: 40_000, b: 35_000, c: 30_000 }), 6000, 8000), undefined, 'a tenant without half the input moved');
    assert.equal(feed(w, load({ a: 15_000, b: 1_000 }), 9000, 11_000), undefined, 'a tenant under 1 MB/s moved');
  });

  test('a tenant that may not move (movable says no) does not, and a gap of more than half a second starts the stretch again', () => {
    const w = new LoadWatch({ afterMs: 1000, calmMs: 5000 });
    assert.equal(feed(w, load({ a: 90_000, b: 1_000 }), 0, 2000, () => false), undefined);
    // 800 ms dominant, a 600 ms pause, then 800 ms again: never 1 s in one stretch.
    assert.equal(feed(w, load({ a: 90_000, b: 1_000 }), 10_000, 10_800), undefined);
    assert.equal(feed(w, load({ a: 90_000, b: 1_000 }), 11_400, 12_200), undefined);
    assert.deepEqual(feed(w, load({ a: 90_000, b: 1_000 }), 12_220, 13_000), { id: 'a', at: 12_400 });
  });

  test('a change of candidate starts the stretch again', () => {
    const w = new LoadWatch({ afterMs: 1000, calmMs: 5000 });
    assert.equal(feed(w, load({ a: 90_000, b: 1_000 }), 0, 900), undefined);
    assert.deepEqual(feed(w, load({ a: 1_000, b: 90_000 }), 920, 3000), { id: 'b', at: 1920 });
  });
});

describe('automatic placement: coming back', () => {
  test('a placed tenant under a tenth of the broker\'s capacity for calmMs comes back; a busy one does not', () => {
    const w = new LoadWatch({ afterMs: 1000, calmMs: 3000 });
    w.interval(load({ a: 90_000, b: 1_000 }), 0, any); // capacity: 10,000 bytes/ms, so calm is under 1 MB/s
    const placed = ['calm', 'busy'];
    const rates = new Map([
      ['calm', 500_000],
      ['busy', 5_000_000],
    ]);
    assert.deepEqual(w.background(rates, placed, 1000), []);
    assert.deepEqual(w.background(rates, placed, 3000), []);
    assert.deepEqual(w.background(rates, placed, 4000), ['calm']);
    assert.deepEqual(w.background(rates, ['busy'], 9000), []);
  });

  test('a burst while calm starts the calm stretch again; a tenant that sends nothing is calm', () => {
    const w = new LoadWatch({ afterMs: 1000, calmMs: 3000 });
    w.interval(load({ a: 90_000, b: 1_000 }), 0, any);
    assert.deepEqual(w.background(new Map(), ['x'], 1000), []);
    assert.deepEqual(w.background(new Map([['x', 2_000_000]]), ['x'], 3000), []);
    assert.deepEqual(w.background(new Map(), ['x'], 4000), []);
    assert.deepEqual(w.background(new Map(), ['x'], 6000), []);
    assert.deepEqual(w.background(new Map(), ['x'], 7000), ['x']);
  });
});
