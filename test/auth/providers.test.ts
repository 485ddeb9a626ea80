/**
 * createAuthProviders: the chain from the config, plugin providers, errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertAuthProvider } from '../../src/auth/cert-auth';
import { DevAuthProvider } from '../../src/auth/dev-auth';
import { HttpAuthProvider } from '../../src/auth/http-auth';
import { JwtAuthProvider } from '../../src/auth/jwt-auth';
import { createAuthProviders } from '../../src/auth/providers';
import { RatatoskError } from '../../src/errors';
import { authRequest, EXAMPLES_DIR, testContext } from '../plugins/helpers';

test('providers are built in config order, each from its own options', async () => {
  const ps = await createAuthProviders(
    [{ type: 'jwt', secret: 'x'.repeat(32) }, { type: 'cert' }, { type: 'http', url: 'http://127.0.0.1:1/auth' }, { type: 'dev' }],
    testContext().ctx,
  );
  assert.ok(ps[0] instanceof JwtAuthProvider);
  assert.ok(ps[1] instanceof CertAuthProvider);
  assert.ok(ps[2] instanceof HttpAuthProvider);
  assert.ok(ps[3] instanceof DevAuthProvider);
  for (const p of ps) await p.close?.();
});

test('type plugin loads a module relative to baseDir and hands it its config', async () => {
  const [p] = await createAuthProviders(
    [{ type: 'plugin', module: './scram-auth.js', config: { users: { alice: { password: 'pw', tenant: 'acme' } } } }],
    testContext().ctx,
    EXAMPLES_DIR,
  );
  const r = await p!.authenticate(authRequest({ username: 'alice', authMethod: 'SCRAM-RTK', authData: Buffer.alloc(16, 1) }));
  assert.equal(r.ok, 'continue');
});

test('errors: unknown type, plugin options, plugin load failures, short secret warning', async () => {
  const t = testContext();
  await assert.rejects(createAuthProviders([{ type: 'ldap' }], t.ctx), (e: RatatoskError) => e.code === 'RTK_CONFIG_INVALID' && /auth\.providers\.0\.type: unknown provider type 'ldap'/.test(e.message));
  await assert.rejects(createAuthProviders([{ type: 'dev' }, { type: 'plugin' }], t.ctx), /auth\.providers\.1\.module: /);
  await assert.rejects(createAuthProviders([{ type: 'dev', path: 'x' }], t.ctx), (e: RatatoskError) => e.code === 'RTK_CONFIG_UNKNOWN_KEY' && /auth\.providers\.0\.path: unknown key/.test(e.message));
  await assert.rejects(createAuthProviders([{ type: 'plugin', module: './nope.js' }], t.ctx, EXAMPLES_DIR), (e: RatatoskError) => e.code === 'RTK_PLUGIN_LOAD' && /auth\.providers\.0\.module: \.\/nope\.js: /.test(e.message));
  await assert.rejects(createAuthProviders([{ type: 'plugin', module: './scram-auth.js', config: {} }], t.ctx, EXAMPLES_DIR), /users: expected a mapping/);
  const [p] = await createAuthProviders([{ type: 'jwt', secret: 'short' }], t.ctx);
  assert.ok(p);
  assert.ok(t.logs.some((l) => l.level === 'warn' && /shorter than 32 bytes/.test(String(l.msg))));
});
