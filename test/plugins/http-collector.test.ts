/**
 * The `http` event collector against a local server: batching by time and by size, retry once,
 * drop-oldest at maxQueue, flush on close, timeouts.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { createEventCollectors, HttpCollector } from '../../src/plugins/collectors';
import type { BrokerEvent } from '../../src/plugins/events';
import { EXAMPLES_DIR, json, startServer, testContext, until, type TestServer } from './helpers';

type Timed = BrokerEvent & { time: number };

let server: TestServer;
let batches: Timed[][] = [];
/** Status codes to answer with, one per request, before answering 200. */
let failures: number[] = [];
/** Requests left to leave without an answer. */
let hang = 0;
const stuck: http.ServerResponse[] = [];

before(async () => {
  server = await startServer((_req, body, res) => {
    if (hang > 0) {
      hang--;
      stuck.push(res);
      return;
    }
    const status = failures.shift();
    if (status !== undefined) return json(res, { error: 'x' }, status);
    batches.push(body as Timed[]);
    json(res, { ok: true });
  });
});
after(async () => {
  for (const r of stuck) r.destroy();
  await server.close();
});
beforeEach(() => {
  batches = [];
  failures = [];
  hang = 0;
});

function ev(i: number): Timed {
  return { type: 'retain.changed', tenantId: 'acme', topic: `t/${i}`, deleted: false, time: 1000 + i };
}

async function collector(options: Record<string, unknown>): Promise<{ c: HttpCollector; t: ReturnType<typeof testContext> }> {
  const t = testContext();
  const [c] = await createEventCollectors([{ type: 'http', url: `${server.url}/events`, ...options }], t.ctx);
  return { c: c as HttpCollector, t };
}

const topics = (bs: Timed[][]): string[] => bs.flat().map((e) => (e as { topic: string }).topic);

describe('batching', () => {
  test('a partial batch is sent after flushMs, in order, as a JSON array', async () => {
    const { c } = await collector({ flushMs: 50 });
    for (let i = 0; i < 3; i++) c.report(ev(i));
    assert.equal(batches.length, 0, 'report must not send synchronously');
    await until(() => batches.length === 1, 2000, 'the timed flush');
    assert.deepEqual(batches[0], [ev(0), ev(1), ev(2)]);
    await c.close();
  });

  test('a full batch goes at once (before flushMs), never more than batchSize events per request', async () => {
    const { c } = await collector({ flushMs: 60_000, batchSize: 5 });
    for (let i = 0; i < 12; i++) c.report(ev(i));
    await until(() => c.stats.sent === 12, 2000, 'size-triggered flushes');
    assert.ok(batches.every((b) => b.length <= 5), `batch sizes ${batches.map((b) => b.length).join(',')}`);
    assert.deepEqual(topics(batches), Array.from({ length: 12 }, (_, i) => `t/${i}`));
    await c.close();
  });

  test('the types option filters events', async () => {
    const { c } = await collector({ flushMs: 60_000, types: ['client.refused'] });
    c.report(ev(1));
    c.report({ type: 'client.refused', address: '1.2.3.4', reasonCode: 0x86, reason: 'bad password', time: 5 });
    await c.close();
    assert.deepEqual(batches.flat().map((e) => e.type), ['client.refused']);
  });
});

describe('failures', () => {
  test('a failed batch is retried once at the next flush and then delivered', async () => {
    failures = [500];
    const { c } = await collector({ flushMs: 50 });
    c.report(ev(1));
    c.report(ev(2));
    await until(() => c.stats.sent === 2, 3000, 'the retry');
    assert.deepEqual(topics(batches), ['t/1', 't/2']);
    assert.deepEqual(c.stats, { sent: 2, dropped: 0, failedRequests: 1 });
    await c.close();
  });

  test('a batch that fails twice is dropped and counted; later events still go', async () => {
    failures = [503, 503];
    const { c, t } = await collector({ flushMs: 40 });
    c.report(ev(1));
    await until(() => c.stats.dropped === 1, 3000, 'the drop');
    assert.equal(c.stats.failedRequests, 2);
    assert.ok(t.logs.some((l) => l.msg === 'event batch failed twice: dropped'));
    c.report(ev(2));
    await until(() => batches.length === 1, 3000, 'the next batch');
    assert.deepEqual(topics(batches), ['t/2']);
    await c.close();
  });

  test('a request without an answer times out and counts as a failure', async () => {
    hang = 1;
    const { c } = await collector({ flushMs: 30, timeoutMs: 100 });
    c.report(ev(1));
    await until(() => c.stats.failedRequests === 1, 3000, 'the timeout');
    await until(() => c.stats.sent === 1, 3000, 'the retry after the timeout');
    assert.deepEqual(topics(batches), ['t/1']);
    await c.close();
  });

  test('at maxQueue the oldest events are dropped and counted; report never blocks', async () => {
    const { c } = await collector({ flushMs: 60_000, maxQueue: 5 });
    const started = process.hrtime.bigint();
    for (let i = 0; i < 8; i++) c.report(ev(i));
    assert.ok(process.hrtime.bigint() - started < 50_000_000n, 'report took long');
    assert.equal(c.queued, 5);
    assert.equal(c.stats.dropped, 3);
    await c.close();
    assert.deepEqual(topics(batches), ['t/3', 't/4', 't/5', 't/6', 't/7']);
  });
});

test('close() against a failing endpoint tries twice, then drops and counts what is left', async () => {
  failures = [500, 500];
  const { c } = await collector({ flushMs: 60_000, batchSize: 2 });
  for (let i = 0; i < 5; i++) c.report(ev(i));
  await c.close();
  assert.equal(c.stats.failedRequests, 2);
  assert.equal(c.stats.sent, 0);
  assert.equal(c.stats.dropped, 5, 'every event is either sent or counted as dropped');
  assert.deepEqual(batches, []);
});

test('close() sends what is queued and later reports are dropped', async () => {
  const { c } = await collector({ flushMs: 60_000 });
  c.report(ev(1));
  c.report(ev(2));
  await c.close();
  assert.deepEqual(topics(batches), ['t/1', 't/2']);
  c.report(ev(3));
  assert.equal(c.stats.dropped, 1);
});

test('options are validated and name the key', async () => {
  const t = testContext();
  await assert.rejects(createEventCollectors([{ type: 'log' }, { type: 'http', url: 'http://x', batchSize: 0 }], t.ctx), /events\.1\.batchSize: /);
  await assert.rejects(createEventCollectors([{ type: 'http' }], t.ctx), /events\.0\.url: /);
  await assert.rejects(createEventCollectors([{ type: 'http', url: 'http://x', types: ['nope'] }], t.ctx), /events\.0\.types\.0: /);
  await assert.rejects(createEventCollectors([{ type: 'kafka' }], t.ctx), /events\.0\.type: unknown event collector type 'kafka'/);
  await assert.rejects(createEventCollectors([{ type: 'plugin', module: './nope.js' }], t.ctx, EXAMPLES_DIR), /events\.0\.module: \.\/nope\.js: /);
});
