/**
 * Example plugin examples/plugins/connection-cap.ts (ResourceThrottler fed by events).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrokerEvent } from '../../src/plugins/events';
import { loadPlugin } from '../../src/plugins/loader';
import type { EventCollector, ResourceThrottler } from '../../src/plugins/types';
import { EXAMPLES_DIR, testContext } from './helpers';

type Cap = ResourceThrottler & EventCollector & { connections(tenantId: string): number; refused: number };

function connected(tenantId: string, clientId: string): BrokerEvent & { time: number } {
  return { type: 'client.connected', tenantId, clientId, userId: 'u', address: '127.0.0.1', protocolVersion: 5, cleanStart: true, sessionPresent: false, keepAlive: 60, listener: 'tcp', time: 0 };
}
function disconnected(tenantId: string, clientId: string): BrokerEvent & { time: number } {
  return { type: 'client.disconnected', tenantId, clientId, address: '127.0.0.1', reasonCode: 0, by: 'client', reason: 'normal', time: 0 };
}

test('caps connections per tenant from config, counting connect and disconnect events', async () => {
  const ctx = testContext().ctx;
  const throttler = await loadPlugin<Cap>({ module: './connection-cap.js', config: { instance: 't1', default: 3, limits: { small: 2, free: 0 } } }, ctx, EXAMPLES_DIR);
  const collector = await loadPlugin<Cap>({ module: './connection-cap.js', config: { instance: 't1' } }, ctx, EXAMPLES_DIR);
  assert.equal(collector, throttler, 'the two config slots share one instance');

  assert.equal(throttler.hasResource('small', 'connections'), true);
  collector.report(connected('small', 'a'));
  collector.report(connected('small', 'b'));
  assert.equal(throttler.connections('small'), 2);
  assert.equal(throttler.hasResource('small', 'connections'), false, 'the limit of 2 is reached');
  assert.equal(throttler.hasResource('small', 'subscribeRate'), true, 'other resources are not limited');
  assert.equal(throttler.hasResource('other', 'connections'), true, 'another tenant has its own count');
  collector.report(disconnected('small', 'a'));
  assert.equal(throttler.hasResource('small', 'connections'), true, 'a disconnect frees a slot');

  for (let i = 0; i < 3; i++) collector.report(connected('big', `c${i}`));
  assert.equal(throttler.hasResource('big', 'connections'), false, 'the default limit applies to unlisted tenants');
  for (let i = 0; i < 10; i++) collector.report(connected('free', `c${i}`));
  assert.equal(throttler.hasResource('free', 'connections'), true, '0 is unlimited');
  assert.equal(throttler.refused, 2);
  await throttler.close?.();
});

test('instances with other names are separate; bad config fails the load', async () => {
  const ctx = testContext().ctx;
  const a = await loadPlugin<Cap>({ module: './connection-cap.js', config: { instance: 'x', limits: { t: 1 } } }, ctx, EXAMPLES_DIR);
  const b = await loadPlugin<Cap>({ module: './connection-cap.js', config: { instance: 'y', limits: { t: 1 } } }, ctx, EXAMPLES_DIR);
  assert.notEqual(a, b);
  a.report(connected('t', 'c'));
  assert.equal(a.hasResource('t', 'connections'), false);
  assert.equal(b.hasResource('t', 'connections'), true);
  await assert.rejects(loadPlugin({ module: './connection-cap.js', config: { limits: { t: -1 } } }, ctx, EXAMPLES_DIR), /limits\.t: expected/);
  await a.close?.();
  await b.close?.();
});
