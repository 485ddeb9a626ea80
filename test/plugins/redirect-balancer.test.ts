/**
 * Example plugin examples/plugins/redirect-balancer.ts (ClientBalancer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadPlugin } from '../../src/plugins/loader';
import type { ClientBalancer } from '../../src/plugins/types';
import { EXAMPLES_DIR, identity, testContext } from './helpers';

test('clients of configured tenants are redirected, permanently or not; others stay', async () => {
  const ctx = testContext().ctx;
  const temp = await loadPlugin<ClientBalancer>({ module: './redirect-balancer.js', config: { tenants: ['acme', 'globex'], serverReference: 'eu.example:1883' } }, ctx, EXAMPLES_DIR);
  assert.deepEqual(await temp.redirect(identity({ tenantId: 'acme' })), { serverReference: 'eu.example:1883', permanent: false });
  assert.deepEqual(await temp.redirect(identity({ tenantId: 'globex' })), { serverReference: 'eu.example:1883', permanent: false });
  assert.equal(await temp.redirect(identity({ tenantId: 'initech' })), undefined);
  const moved = await loadPlugin<ClientBalancer>({ module: './redirect-balancer.js', config: { tenants: ['acme'], serverReference: 'new.example', permanent: true } }, ctx, EXAMPLES_DIR);
  assert.deepEqual(await moved.redirect(identity({ tenantId: 'acme' })), { serverReference: 'new.example', permanent: true });
});

test('bad config fails the load, naming the key', async () => {
  const ctx = testContext().ctx;
  await assert.rejects(loadPlugin({ module: './redirect-balancer.js', config: { tenants: 'acme', serverReference: 'x' } }, ctx, EXAMPLES_DIR), /tenants: expected/);
  await assert.rejects(loadPlugin({ module: './redirect-balancer.js', config: { tenants: ['acme'] } }, ctx, EXAMPLES_DIR), /serverReference: expected/);
  await assert.rejects(loadPlugin({ module: './redirect-balancer.js', config: { tenants: ['acme'], serverReference: 'x', permanent: 'yes' } }, ctx, EXAMPLES_DIR), /permanent: expected/);
});
