/**
 * TurnBatch (src/util/turn-batch.ts): items added in a turn are handled once, together, at its end;
 * items added while the batch runs wait for the next one; run() does the batch at once.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnBatch } from '../../src/util/turn-batch';

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('TurnBatch', () => {
  test('handles what a turn added at its end, in order; additions during the run go to the next batch', async () => {
    const seen: number[][] = [];
    let current: number[] = [];
    const batch = new TurnBatch<number>((n) => {
      current.push(n);
      if (n === 2) batch.add(20);
    });
    batch.add(1);
    batch.add(2);
    batch.add(3);
    assert.equal(batch.size, 3);
    assert.deepEqual(current, [], 'nothing handled during the turn');
    await nextTurn();
    seen.push(current);
    current = [];
    await nextTurn();
    seen.push(current);
    assert.deepEqual(seen, [[1, 2, 3], [20]]);
    assert.equal(batch.size, 0);
  });

  test('run() handles the batch now; the end of the turn then finds nothing left', async () => {
    const got: string[] = [];
    const batch = new TurnBatch<string>((s) => got.push(s));
    batch.add('a');
    batch.run();
    assert.deepEqual(got, ['a']);
    await nextTurn();
    assert.deepEqual(got, ['a'], 'handled once');
    batch.add('b');
    await nextTurn();
    assert.deepEqual(got, ['a', 'b']);
  });
});
