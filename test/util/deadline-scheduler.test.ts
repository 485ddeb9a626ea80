import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DeadlineScheduler } from '../../src/util/deadline-scheduler';
import { Deque } from '../../src/util/deque';

test('deadlines run in time order, cancelled ones never', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.boolean()), { maxLength: 200 }), (items) => {
      let now = 0;
      const s = new DeadlineScheduler({ now: () => now });
      const ran: number[] = [];
      const handles = items.map(([at], i) => s.schedule(at, { onDeadline: () => ran.push(i) }));
      items.forEach(([, cancel], i) => cancel && s.cancel(handles[i]));
      now = 500;
      s.runDue();
      now = 1000;
      s.runDue();
      s.close();
      const expected = items
        .map(([at, cancel], i) => ({ at, cancel, i }))
        .filter((x) => !x.cancel)
        .sort((a, b) => a.at - b.at || 0);
      assert.deepEqual(
        ran.map((i) => items[i]![0]),
        expected.map((x) => x.at),
      );
      assert.equal(ran.length, expected.length);
    }),
  );
});

test('a deadline fires by itself on the real timer', async () => {
  const s = new DeadlineScheduler({ now: () => Date.now() });
  // The scheduler's timer does not hold the process open; this test does.
  const hold = setTimeout(() => undefined, 5000);
  const fired = await new Promise<number>((resolve) => {
    const start = Date.now();
    s.schedule(start + 30, { onDeadline: () => resolve(Date.now() - start) });
  });
  clearTimeout(hold);
  s.close();
  assert.ok(fired >= 25, `fired after ${fired} ms`);
});

test('deque keeps FIFO order across compaction and removeWhere', () => {
  const d = new Deque<number>();
  const model: number[] = [];
  for (let i = 0; i < 5000; i++) {
    d.push(i);
    model.push(i);
    if (i % 3 === 0) assert.equal(d.shift(), model.shift());
  }
  assert.equal(d.length, model.length);
  assert.equal(d.removeWhere((x) => x % 2 === 0), model.filter((x) => x % 2 === 0).length);
  assert.deepEqual([...d], model.filter((x) => x % 2 === 1));
});
