/**
 * The `log` event collector: one structured line per event, at the configured level.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { createEventCollectors } from '../../src/plugins/collectors';
import type { BrokerEvent } from '../../src/plugins/events';
import type { PluginContext } from '../../src/plugins/types';
import { EXAMPLES_DIR, testContext } from './helpers';

const connected: BrokerEvent & { time: number } = {
  type: 'client.connected',
  tenantId: 'acme',
  clientId: 'c1',
  userId: 'alice',
  address: '127.0.0.1',
  protocolVersion: 5,
  cleanStart: true,
  sessionPresent: false,
  keepAlive: 60,
  listener: 'tcp:1883',
  time: 1234,
};

test('each event is one pino JSON line with the event nested and its type as message', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const ctx: PluginContext = { logger, now: () => 0 };
  const [c] = await createEventCollectors([{ type: 'log' }], ctx);
  c!.report(connected);
  c!.report({ type: 'retain.changed', tenantId: 'acme', topic: 'a', deleted: true, time: 5 });
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]!) as { level: number; msg: string; event: typeof connected };
  assert.equal(first.level, 30, 'info');
  assert.equal(first.msg, 'client.connected');
  assert.deepEqual(first.event, connected);
  assert.equal((JSON.parse(lines[1]!) as { event: { topic: string } }).event.topic, 'a');
});

test('level and types options', async () => {
  const t = testContext();
  const [c] = await createEventCollectors([{ type: 'log', level: 'warn', types: ['retain.changed'] }], t.ctx);
  c!.report(connected);
  c!.report({ type: 'retain.changed', tenantId: 'acme', topic: 'a', deleted: false, time: 5 });
  assert.equal(t.logs.length, 1);
  assert.equal(t.logs[0]!.level, 'warn');
  assert.equal(t.logs[0]!.msg, 'retain.changed');
  await assert.rejects(createEventCollectors([{ type: 'log', level: 'loud' }], t.ctx), /events\.0\.level: /);
});

test('type plugin loads a collector module relative to baseDir', async () => {
  const [c] = await createEventCollectors([{ type: 'plugin', module: './memory-collector.js', config: { max: 5 } }], testContext().ctx, EXAMPLES_DIR);
  const mem = require(`${EXAMPLES_DIR}/memory-collector.js`) as { events: unknown[]; clear(): void };
  mem.clear();
  c!.report(connected);
  assert.deepEqual(mem.events, [connected]);
  mem.clear();
});
