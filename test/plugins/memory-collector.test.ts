/**
 * Example plugin examples/plugins/memory-collector.ts (EventCollector keeping events in memory).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrokerEvent } from '../../src/plugins/events';
import { loadPlugin } from '../../src/plugins/loader';
import type { EventCollector } from '../../src/plugins/types';
import { EXAMPLES_DIR, testContext } from './helpers';

const mem = require(`${EXAMPLES_DIR}/memory-collector.js`) as { events: (BrokerEvent & { time: number })[]; clear(): void };

const ev = (i: number): BrokerEvent & { time: number } => ({ type: 'retain.changed', tenantId: 't', topic: `x/${i}`, deleted: false, time: i });

test('events are kept in the exported array, oldest dropped beyond max, filtered by type, none after close', async () => {
  mem.clear();
  const c = await loadPlugin<EventCollector>({ module: './memory-collector.js', config: { max: 3 } }, testContext().ctx, EXAMPLES_DIR);
  for (let i = 0; i < 5; i++) await c.report(ev(i));
  assert.deepEqual(
    mem.events.map((e) => e.time),
    [2, 3, 4],
  );
  await c.close?.();
  await c.report(ev(9));
  assert.equal(mem.events.length, 3);

  mem.clear();
  const only = await loadPlugin<EventCollector>({ module: './memory-collector.js', config: { types: ['client.refused'] } }, testContext().ctx, EXAMPLES_DIR);
  await only.report(ev(1));
  await only.report({ type: 'client.refused', address: 'a', reasonCode: 0x86, reason: 'r', time: 2 });
  assert.deepEqual(
    mem.events.map((e) => e.type),
    ['client.refused'],
  );
  mem.clear();
  await assert.rejects(loadPlugin({ module: './memory-collector.js', config: { max: 0 } }, testContext().ctx, EXAMPLES_DIR), /max: expected/);
});
