/**
 * Example plugin examples/plugins/tenant-settings.ts (SettingProvider from a JSON file).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPlugin } from '../../src/plugins/loader';
import type { SettingProvider } from '../../src/plugins/types';
import { EXAMPLES_DIR, testContext } from './helpers';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rtk-settings-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('patches per tenant from the file; a change is seen after checkMs; a bad file keeps the old one', async () => {
  const path = join(dir, 'tenants.json');
  writeFileSync(path, JSON.stringify({ default: { maxQoS: 1 }, acme: { maxConnections: 10 } }));
  const t = testContext();
  const p = await loadPlugin<SettingProvider>({ module: './tenant-settings.js', config: { path, checkMs: 1000 } }, t.ctx, EXAMPLES_DIR);
  assert.deepEqual(await p.settings('acme'), { maxConnections: 10 });
  assert.deepEqual(await p.settings('default'), { maxQoS: 1 });
  assert.equal(await p.settings('globex'), undefined);

  writeFileSync(path, JSON.stringify({ acme: { maxConnections: 20, retainEnabled: false } }));
  utimesSync(path, new Date(), new Date(Date.now() + 5000)); // a distinct modification time
  assert.deepEqual(await p.settings('acme'), { maxConnections: 10 }, 'read again before checkMs passed');
  t.clock.now += 1000;
  assert.deepEqual(await p.settings('acme'), { maxConnections: 20, retainEnabled: false });
  assert.equal(await p.settings('default'), undefined);

  writeFileSync(path, '{ not json');
  utimesSync(path, new Date(), new Date(Date.now() + 10_000));
  t.clock.now += 1000;
  assert.deepEqual(await p.settings('acme'), { maxConnections: 20, retainEnabled: false }, 'a bad file replaced the good one');
  assert.ok(t.logs.some((l) => l.level === 'error'));
});

test('a missing or malformed file at start, or a missing path, fails the load', async () => {
  const ctx = testContext().ctx;
  await assert.rejects(loadPlugin({ module: './tenant-settings.js', config: {} }, ctx, EXAMPLES_DIR), /path: expected/);
  await assert.rejects(loadPlugin({ module: './tenant-settings.js', config: { path: join(dir, 'none.json') } }, ctx, EXAMPLES_DIR), /RTK_PLUGIN_LOAD|factory failed/);
  writeFileSync(join(dir, 'list.json'), '[1]');
  await assert.rejects(loadPlugin({ module: './tenant-settings.js', config: { path: join(dir, 'list.json') } }, ctx, EXAMPLES_DIR), /expected an object of tenant ids/);
});
