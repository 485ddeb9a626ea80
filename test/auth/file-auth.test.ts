/**
 * The `file` provider: users file with scrypt hashes, tenants, ACL rules, reload, error messages.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAcl } from '../../src/auth/acl';
import { FileAuthProvider } from '../../src/auth/file-auth';
import { hashPassword } from '../../src/auth/passwd';
import { createAuthProviders } from '../../src/auth/providers';
import { RatatoskError } from '../../src/errors';
import type { AuthProvider, AuthResult } from '../../src/plugins/types';
import { authRequest, identity, testContext, until } from '../plugins/helpers';

let dir: string;
let aliceHash: string;
let bobHash: string;
let carolHash: string;

function usersYaml(alice = aliceHash): string {
  return `users:
  - username: alice
    password: "${alice}"
    tenant: acme
    attrs: { plan: gold }
    acl:
      - { action: publish, topic: "devices/%u/secret", allow: false }
      - { action: publish, topic: "devices/%u/#", allow: true }
      - { action: publish, topic: "clients/%c/status", allow: true }
      - { action: subscribe, topic: "devices/#", allow: true }
  - username: bob
    password: "${bobHash}"
    tenant: globex
  - username: carol
    password: "${carolHash}"
    tenant: acme
    user: carol-id
tenants:
  acme:
    acl:
      - { action: pubsub, topic: "public/#", allow: true }
      - { action: subscribe, topic: "tenants/%t/#", allow: true }
`;
}

function login(p: AuthProvider, username: string | undefined, password?: string, overrides = {}): Promise<AuthResult> {
  return Promise.resolve(p.authenticate(authRequest({ username, password: password === undefined ? undefined : Buffer.from(password), ...overrides })));
}

async function fileProvider(options: Record<string, unknown> = {}, file = 'users.yaml'): Promise<{ p: FileAuthProvider; t: ReturnType<typeof testContext> }> {
  const t = testContext();
  const [p] = await createAuthProviders([{ type: 'file', path: file, reloadSeconds: 0, ...options }], t.ctx, dir);
  return { p: p as FileAuthProvider, t };
}

async function configError(entry: Record<string, unknown>): Promise<RatatoskError> {
  try {
    await createAuthProviders([{ type: 'file', ...entry }] as never, testContext().ctx, dir);
  } catch (err) {
    assert.ok(err instanceof RatatoskError, `not a RatatoskError: ${String(err)}`);
    return err;
  }
  assert.fail('the provider was built');
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rtk-file-auth-'));
  [aliceHash, bobHash, carolHash] = await Promise.all([hashPassword('alice-pw'), hashPassword('bob-pw'), hashPassword('carol-pw')]);
  writeFileSync(join(dir, 'users.yaml'), usersYaml());
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('authentication', () => {
  test('the right password is accepted with the tenant, user and attrs of the file (path relative to baseDir)', async () => {
    const { p } = await fileProvider();
    const r = await login(p, 'alice', 'alice-pw');
    assert.equal(r.ok, true);
    if (r.ok !== true) return;
    assert.equal(r.tenantId, 'acme');
    assert.equal(r.userId, 'alice');
    assert.deepEqual(r.attrs, { plan: 'gold' });
    const carol = await login(p, 'carol', 'carol-pw');
    assert.equal(carol.ok === true && carol.userId, 'carol-id', '`user` overrides the username');
    p.close();
  });

  test('a wrong password, no password and an unknown user are refused with 0x86', async () => {
    const { p } = await fileProvider();
    assert.deepEqual(await login(p, 'alice', 'wrong'), { ok: false, reasonCode: 0x86 });
    assert.deepEqual(await login(p, 'alice'), { ok: false, reasonCode: 0x86 });
    assert.deepEqual(await login(p, 'alice', ''), { ok: false, reasonCode: 0x86 });
    assert.deepEqual(await login(p, 'mallory', 'alice-pw'), { ok: false, reasonCode: 0x86 });
    p.close();
  });

  test('unknownUsers: skip leaves unknown users to the next provider; no user name or enhanced auth is always skipped', async () => {
    const { p } = await fileProvider({ unknownUsers: 'skip' });
    assert.deepEqual(await login(p, 'mallory', 'x'), { ok: 'skip' });
    assert.deepEqual(await login(p, 'alice', 'wrong'), { ok: false, reasonCode: 0x86 }, 'a known user with a wrong password is still refused');
    assert.deepEqual(await login(p, undefined), { ok: 'skip' });
    assert.deepEqual(await login(p, 'alice', 'alice-pw', { authMethod: 'SCRAM-RTK' }), { ok: 'skip' });
    p.close();
  });

  test('successful verifications are cached (no second scrypt), keyed by password, and expire', async () => {
    const { p, t } = await fileProvider({ cacheSeconds: 10 });
    assert.equal((await login(p, 'alice', 'alice-pw')).ok, true);
    assert.equal(p.verifications, 1);
    assert.equal((await login(p, 'alice', 'alice-pw')).ok, true);
    assert.equal(p.verifications, 1, 'the second login ran scrypt again');
    assert.equal((await login(p, 'alice', 'wrong')).ok, false, 'the cache must not accept another password');
    assert.equal(p.verifications, 2);
    t.clock.now += 10_001;
    assert.equal((await login(p, 'alice', 'alice-pw')).ok, true);
    assert.equal(p.verifications, 3, 'an expired entry was reused');
    p.close();
  });

  test('cacheSeconds: 0 verifies every time', async () => {
    const { p } = await fileProvider({ cacheSeconds: 0 });
    await login(p, 'bob', 'bob-pw');
    await login(p, 'bob', 'bob-pw');
    assert.equal(p.verifications, 2);
    p.close();
  });
});

describe('access rules', () => {
  test('user rules come first, then the tenant defaults; a user without either has none', async () => {
    const { p } = await fileProvider();
    const alice = await login(p, 'alice', 'alice-pw');
    assert.ok(alice.ok === true);
    assert.equal(alice.acl?.length, 6);
    assert.deepEqual(alice.acl?.[0], { action: 'publish', topic: 'devices/%u/secret', allow: false });
    assert.deepEqual(alice.acl?.[4], { action: 'pubsub', topic: 'public/#', allow: true });
    const carol = await login(p, 'carol', 'carol-pw');
    assert.ok(carol.ok === true);
    assert.deepEqual(carol.acl?.map((r) => r.topic), ['public/#', 'tenants/%t/#'], 'carol has only the tenant rules');
    const bob = await login(p, 'bob', 'bob-pw');
    assert.ok(bob.ok === true);
    assert.equal(bob.acl, undefined, 'no rules at all: authorization is left to others');
    p.close();
  });

  test('%u, %c and %t are substituted; first match wins; no match denies', async () => {
    const { p } = await fileProvider();
    const r = await login(p, 'alice', 'alice-pw');
    assert.ok(r.ok === true);
    const me = identity({ tenantId: 'acme', userId: 'alice', clientId: 'c1', acl: r.acl });
    assert.equal(checkAcl(r.acl, me, 'publish', 'devices/alice/temp'), true);
    assert.equal(checkAcl(r.acl, me, 'publish', 'devices/alice/secret'), false, 'the earlier deny rule wins');
    assert.equal(checkAcl(r.acl, me, 'publish', 'devices/bob/temp'), false, '%u is alice, not a wildcard');
    assert.equal(checkAcl(r.acl, me, 'publish', 'clients/c1/status'), true);
    assert.equal(checkAcl(r.acl, me, 'publish', 'clients/c2/status'), false, '%c is the client id');
    assert.equal(checkAcl(r.acl, me, 'subscribe', 'devices/+/temp'), true);
    assert.equal(checkAcl(r.acl, me, 'subscribe', 'tenants/acme/news'), true, '%t is the tenant');
    assert.equal(checkAcl(r.acl, me, 'subscribe', 'tenants/globex/news'), false);
    assert.equal(checkAcl(r.acl, me, 'publish', 'public/x'), true, 'tenant default rule');
    assert.equal(checkAcl(r.acl, me, 'publish', 'elsewhere'), false, 'default deny');
    p.close();
  });
});

describe('reload', () => {
  test('a changed file is picked up by polling, without a restart', async () => {
    writeFileSync(join(dir, 'reload.yaml'), usersYaml());
    const { p, t } = await fileProvider({ reloadSeconds: 0.05 }, 'reload.yaml');
    assert.equal((await login(p, 'alice', 'alice-pw')).ok, true);
    writeFileSync(join(dir, 'reload.yaml'), usersYaml(await hashPassword('new-pw')).replace('plan: gold', 'plan: platinum'));
    await until(() => p.reloads === 1, 3000, 'the reload');
    assert.equal((await login(p, 'alice', 'alice-pw')).ok, false, 'the old password still works');
    const r = await login(p, 'alice', 'new-pw');
    assert.ok(r.ok === true);
    assert.deepEqual(r.attrs, { plan: 'platinum' });
    assert.ok(t.logs.some((l) => l.level === 'info' && l.msg === 'users file reloaded'));
    p.close();
  });

  test('a bad new file is logged (naming the key) and the old one stays in force', async () => {
    writeFileSync(join(dir, 'bad-reload.yaml'), usersYaml());
    const { p, t } = await fileProvider({}, 'bad-reload.yaml');
    writeFileSync(join(dir, 'bad-reload.yaml'), usersYaml('not-a-hash'));
    assert.equal(await p.reload(), false);
    assert.equal(p.reloadFailures, 1);
    const logged = t.logs.find((l) => l.level === 'error');
    assert.ok(logged, 'nothing was logged');
    assert.match(String((logged.obj as { err: Error }).err.message), /users\.0\.password/);
    assert.equal((await login(p, 'alice', 'alice-pw')).ok, true, 'the old users are gone');
    writeFileSync(join(dir, 'bad-reload.yaml'), 'users: [ {');
    assert.equal(await p.reload(), false, 'invalid YAML is not loaded');
    assert.equal(p.size, 3);
    assert.equal(await p.reload(), false, 'an unchanged file is not read again');
    assert.equal(p.reloadFailures, 2);
    p.close();
  });
});

describe('configuration errors name the key', () => {
  const cases: [string, string, RegExp][] = [
    ['bad hash', `users:\n  - { username: a, password: plain, tenant: t }\n`, /auth\.providers\.0\.path: .*users\.0\.password: expected scrypt/],
    ['missing tenant', `users:\n  - { username: a, password: "HASH" }\n`, /users\.0\.tenant/],
    ['duplicate user', `users:\n  - { username: a, password: "HASH", tenant: t }\n  - { username: a, password: "HASH", tenant: t }\n`, /users\.1\.username: duplicate username 'a'/],
    ['bad rule', `users:\n  - { username: a, password: "HASH", tenant: t, acl: [ { action: read, topic: x, allow: true } ] }\n`, /users\.0\.acl\.0\.action/],
    ['bad filter', `users:\n  - { username: a, password: "HASH", tenant: t, acl: [ { action: publish, topic: "a/#/b", allow: true } ] }\n`, /users\.0\.acl\.0\.topic: not a valid topic filter/],
    ['unknown key', `users:\n  - { username: a, password: "HASH", tenant: t, pasword: x }\n`, /users\.0\.pasword: unknown key/],
    ['tenant rules', `tenants:\n  t: { acl: [ { action: publish, topic: x } ] }\n`, /tenants\.t\.acl\.0\.allow/],
  ];
  for (const [name, yaml, re] of cases) {
    test(`users file: ${name}`, async () => {
      writeFileSync(join(dir, 'bad.yaml'), yaml.replaceAll('HASH', aliceHash));
      const err = await configError({ path: 'bad.yaml' });
      assert.equal(err.code, 'RTK_CONFIG_INVALID');
      assert.match(err.message, re);
      assert.match(err.message, /bad\.yaml/, 'the message names the file');
    });
  }

  test('a missing users file names the option', async () => {
    const err = await configError({ path: 'nope.yaml' });
    assert.equal(err.code, 'RTK_CONFIG_INVALID');
    assert.match(err.message, /auth\.providers\.0\.path: .*nope\.yaml/);
  });

  test('provider options are validated: missing path, wrong type, unknown key', async () => {
    assert.match((await configError({})).message, /auth\.providers\.0\.path: /);
    assert.match((await configError({ path: 'users.yaml', reloadSeconds: 'x' })).message, /auth\.providers\.0\.reloadSeconds: /);
    const unknown = await configError({ path: 'users.yaml', reloadSecs: 1 });
    assert.equal(unknown.code, 'RTK_CONFIG_UNKNOWN_KEY');
    assert.match(unknown.message, /auth\.providers\.0\.reloadSecs: unknown key/);
    assert.match((await configError({ path: 'users.yaml', unknownUsers: 'maybe' })).message, /auth\.providers\.0\.unknownUsers: /);
  });
});
