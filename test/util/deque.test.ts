/**
 * The ring-buffer Deque (src/util/deque.ts): FIFO order against an array model under random
 * operations, and the property it exists for — no slot keeps an item after the item left.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Deque } from '../../src/util/deque';

/** The ring behind a deque (private; read to check that departed items are not referenced). */
function ringOf<T>(d: Deque<T>): (T | undefined)[] {
  return (d as unknown as { ring: (T | undefined)[] }).ring;
}

type Op = { op: 'push'; v: number } | { op: 'shift' } | { op: 'removeOdd' } | { op: 'clear' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.integer().map((v) => ({ op: 'push' as const, v })) },
  { weight: 4, arbitrary: fc.constant({ op: 'shift' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'removeOdd' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

describe('Deque', () => {
  test('behaves as a FIFO array under random push, shift, removeWhere and clear', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 3000 }), (ops) => {
        const d = new Deque<number>();
        let model: number[] = [];
        for (const o of ops) {
          if (o.op === 'push') {
            d.push(o.v);
            model.push(o.v);
          } else if (o.op === 'shift') {
            assert.equal(d.peek(), model[0]);
            assert.equal(d.shift(), model.shift());
          } else if (o.op === 'removeOdd') {
            const before = model.length;
            model = model.filter((v) => v % 2 === 0);
            assert.equal(d.removeWhere((v) => v % 2 !== 0), before - model.length);
          } else {
            d.clear();
            model = [];
          }
          assert.equal(d.length, model.length);
        }
        assert.deepEqual([...d], model);
      }),
      { numRuns: 200 },
    );
  });

  test('a departed item is referenced by no slot (shift, removeWhere, growth)', () => {
    const d = new Deque<{ id: number }>();
    const items = Array.from({ length: 1000 }, (_, id) => ({ id }));
    // Wrap the ring around before it grows, so growth has to unwrap.
    for (let i = 0; i < 5; i++) d.push(items[i]!);
    for (let i = 0; i < 3; i++) d.shift();
    for (let i = 5; i < 600; i++) d.push(items[i]!);
    for (let i = 0; i < 400; i++) d.shift();
    d.removeWhere((x) => x.id % 3 === 0);
    const present = new Set([...d]);
    const ring = ringOf(d);
    for (const slot of ring) if (slot !== undefined) assert.ok(present.has(slot), `slot still holds departed item ${slot.id}`);
    assert.equal(ring.filter((s) => s !== undefined).length, d.length);
  });

  test('an emptied large ring is let go; an idle deque holds no array of its own', () => {
    const d = new Deque<number>();
    assert.equal(ringOf(d).length, 0);
    for (let i = 0; i < 5000; i++) d.push(i);
    assert.ok(ringOf(d).length >= 5000);
    while (d.length > 0) d.shift();
    assert.equal(ringOf(d).length, 0, 'the 8192-slot ring was kept after the burst');
    d.push(1);
    assert.equal(d.shift(), 1);
    assert.equal(d.shift(), undefined);
    assert.equal(d.peek(), undefined);
  });
});
