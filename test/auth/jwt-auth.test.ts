/**
 * The `jwt` provider: HS secret, PEM public key (inline and file), JWKS URL; expiry, claims mapping,
 * refusals and what is skipped.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload, type KeyLike } from 'jose';
import { JwtAuthProvider } from '../../src/auth/jwt-auth';
import { createAuthProviders } from '../../src/auth/providers';
import { RatatoskError } from '../../src/errors';
import type { AuthProvider, AuthResult } from '../../src/plugins/types';
import { authRequest, json, startServer, testContext, type TestServer } from '../plugins/helpers';

const SECRET = 'a-very-long-shared-secret-of-at-least-32-bytes';
const NOW = 1_700_000_000_000;
const nowSec = NOW / 1000;

let ec: { publicKey: KeyLike; privateKey: KeyLike };
let rsa: { publicKey: KeyLike; privateKey: KeyLike };
let other: { publicKey: KeyLike; privateKey: KeyLike };
let ecPem: string;
let dir: string;
let jwks: TestServer;

function sign(claims: JWTPayload, key: KeyLike | Uint8Array, alg: string, header: Record<string, string> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, ...header }).sign(key);
}
const hs = (claims: JWTPayload, secret = SECRET): Promise<string> => sign(claims, Buffer.from(secret), 'HS256');

async function provider(options: Record<string, unknown>): Promise<{ p: JwtAuthProvider; t: ReturnType<typeof testContext> }> {
  const t = testContext(NOW);
  const [p] = await createAuthProviders([{ type: 'jwt', ...options }], t.ctx, dir);
  return { p: p as JwtAuthProvider, t };
}

function withPassword(p: AuthProvider, token: string | undefined, username: string | undefined = 'dev-1'): Promise<AuthResult> {
  return Promise.resolve(p.authenticate(authRequest({ username, password: token === undefined ? undefined : Buffer.from(token) })));
}

before(async () => {
  ec = await generateKeyPair('ES256');
  rsa = await generateKeyPair('RS256');
  other = await generateKeyPair('ES256');
  ecPem = await exportSPKI(ec.publicKey);
  dir = mkdtempSync(join(tmpdir(), 'rtk-jwt-'));
  writeFileSync(join(dir, 'ec.pem'), ecPem);
  const keys = [
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
  ];
  jwks = await startServer((req, _body, res) => (req.url === '/jwks.json' ? json(res, { keys }) : json(res, {}, 404)));
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await jwks.close();
});

describe('shared secret (HS256)', () => {
  test('a valid token: tenant, user and rules from the claims; expiresAt = exp * 1000', async () => {
    const { p } = await provider({ secret: SECRET });
    const acl = [{ action: 'publish', topic: 'd/%u/#', allow: true }];
    const r = await withPassword(p, await hs({ tenant: 'acme', sub: 'alice', acl, exp: nowSec + 60 }));
    assert.deepEqual(r, { ok: true, tenantId: 'acme', userId: 'alice', acl, expiresAt: (nowSec + 60) * 1000 });
  });

  test('with clockToleranceSeconds, a token just past exp is let in and its connection lasts until exp plus the tolerance', async () => {
    const { p, t } = await provider({ secret: SECRET, clockToleranceSeconds: 60 });
    t.clock.now = NOW + 10_000;
    const r = await withPassword(p, await hs({ tenant: 'acme', sub: 'late', exp: nowSec }));
    assert.deepEqual(r, { ok: true, tenantId: 'acme', userId: 'late', expiresAt: (nowSec + 60) * 1000 });
  });

  test('a token signed with another secret, or expired (by the injected clock), is refused with 0x86', async () => {
    const { p, t } = await provider({ secret: SECRET });
    const bad = await withPassword(p, await hs({ tenant: 'acme', sub: 'a' }, 'another-secret-another-secret-another'));
    assert.equal(bad.ok === false && bad.reasonCode, 0x86);
    const token = await hs({ tenant: 'acme', sub: 'a', exp: nowSec + 10 });
    assert.equal((await withPassword(p, token)).ok, true);
    t.clock.now = NOW + 11_000;
    assert.deepEqual(await withPassword(p, token), { ok: false, reasonCode: 0x86, reasonString: 'token expired' });
  });

  test('no token, or a password that is not shaped like a JWT, is skipped', async () => {
    const { p } = await provider({ secret: SECRET });
    assert.deepEqual(await withPassword(p, undefined), { ok: 'skip' });
    assert.deepEqual(await withPassword(p, ''), { ok: 'skip' });
    assert.deepEqual(await withPassword(p, 'just-a-password'), { ok: 'skip' });
    const enhanced = await p.authenticate(authRequest({ password: Buffer.from(await hs({ tenant: 't', sub: 's' })), authMethod: 'X' }));
    assert.deepEqual(enhanced, { ok: 'skip' });
  });

  test('issuer and audience are enforced', async () => {
    const { p } = await provider({ secret: SECRET, issuer: 'https://idp.example', audience: ['mqtt', 'other'] });
    assert.equal((await withPassword(p, await hs({ tenant: 't', sub: 's', iss: 'https://idp.example', aud: 'mqtt' }))).ok, true);
    assert.equal((await withPassword(p, await hs({ tenant: 't', sub: 's', iss: 'https://evil.example', aud: 'mqtt' }))).ok, false);
    assert.equal((await withPassword(p, await hs({ tenant: 't', sub: 's', iss: 'https://idp.example', aud: 'web' }))).ok, false);
    assert.equal((await withPassword(p, await hs({ tenant: 't', sub: 's' }))).ok, false, 'a token without iss/aud');
  });

  test('claims mapping: custom claim names, defaultTenant, user name fallback, token in the user name', async () => {
    const custom = (await provider({ secret: SECRET, tenantClaim: 'org', userClaim: 'uid', aclClaim: 'perms' })).p;
    const perms = [{ action: 'subscribe', topic: '#', allow: false }];
    assert.deepEqual(await withPassword(custom, await hs({ org: 'globex', uid: 'u7', perms, tenant: 'ignored' })), {
      ok: true,
      tenantId: 'globex',
      userId: 'u7',
      acl: perms,
    });
    const noTenant = await withPassword(custom, await hs({ uid: 'u7' }));
    assert.equal(noTenant.ok === false && noTenant.reasonCode, 0x86, 'a token without tenant claim is refused');
    const dflt = (await provider({ secret: SECRET, defaultTenant: 'shared' })).p;
    assert.deepEqual(await withPassword(dflt, await hs({}), 'bob'), { ok: true, tenantId: 'shared', userId: 'bob' }, 'no sub: the user name');
    const noUser = await dflt.authenticate(authRequest({ username: undefined, password: Buffer.from(await hs({})) }));
    assert.equal(noUser.ok, false, 'no sub and no user name');
    const fromUser = (await provider({ secret: SECRET, from: 'username' })).p;
    const token = await hs({ tenant: 'acme', sub: 'carol' });
    assert.deepEqual(await fromUser.authenticate(authRequest({ username: token, password: undefined })), { ok: true, tenantId: 'acme', userId: 'carol' });
  });

  test('ill-formed claims are refused: a non-string tenant, rules that are not rules', async () => {
    const { p } = await provider({ secret: SECRET });
    assert.equal((await withPassword(p, await hs({ tenant: 42, sub: 's' }))).ok, false);
    const r = await withPassword(p, await hs({ tenant: 't', sub: 's', acl: [{ action: 'read', topic: 'x', allow: true }] }));
    assert.deepEqual(r, { ok: false, reasonCode: 0x86, reasonString: "token claim 'acl' is not a list of access rules" });
  });
});

describe('public key', () => {
  test('an inline PEM key verifies ES256 tokens and refuses tokens of another key', async () => {
    const { p } = await provider({ publicKey: ecPem });
    assert.deepEqual(await withPassword(p, await sign({ tenant: 'acme', sub: 'x' }, ec.privateKey, 'ES256')), { ok: true, tenantId: 'acme', userId: 'x' });
    const forged = await withPassword(p, await sign({ tenant: 'acme', sub: 'x' }, other.privateKey, 'ES256'));
    assert.equal(forged.ok === false && forged.reasonCode, 0x86);
  });

  test('a key file relative to the config folder; an HS256 token made with the public key as secret is refused', async () => {
    const { p } = await provider({ publicKey: 'ec.pem' });
    assert.equal((await withPassword(p, await sign({ tenant: 'acme', sub: 'x' }, ec.privateKey, 'ES256'))).ok, true);
    const confused = await withPassword(p, await hs({ tenant: 'acme', sub: 'x' }, ecPem));
    assert.equal(confused.ok, false, 'algorithm confusion: HS256 with the public key as secret');
  });
});

describe('JWKS', () => {
  test('keys are fetched from the URL and picked by kid (EC and RSA)', async () => {
    const { p } = await provider({ jwksUrl: `${jwks.url}/jwks.json` });
    const a = await withPassword(p, await sign({ tenant: 'acme', sub: 'e' }, ec.privateKey, 'ES256', { kid: 'ec-1' }));
    const b = await withPassword(p, await sign({ tenant: 'acme', sub: 'r', exp: nowSec + 5 }, rsa.privateKey, 'RS256', { kid: 'rsa-1' }));
    assert.deepEqual(a, { ok: true, tenantId: 'acme', userId: 'e' });
    assert.deepEqual(b, { ok: true, tenantId: 'acme', userId: 'r', expiresAt: (nowSec + 5) * 1000 });
  });

  test('a token of a key not in the set is refused with 0x86', async () => {
    const { p } = await provider({ jwksUrl: `${jwks.url}/jwks.json` });
    const r = await withPassword(p, await sign({ tenant: 'acme', sub: 'e' }, other.privateKey, 'ES256', { kid: 'ec-1' }));
    assert.equal(r.ok === false && r.reasonCode, 0x86);
  });

  test('a failing or unreachable JWKS endpoint is a provider failure (rejects), not a refusal', async () => {
    const token = await sign({ tenant: 'acme', sub: 'e' }, ec.privateKey, 'ES256', { kid: 'ec-1' });
    const notFound = (await provider({ jwksUrl: `${jwks.url}/missing.json` })).p;
    await assert.rejects(withPassword(notFound, token), /200 OK/);
    const refused = (await provider({ jwksUrl: 'http://127.0.0.1:1/jwks.json' })).p;
    await assert.rejects(withPassword(refused, token), /ECONNREFUSED/);
  });
});

test('options: exactly one key source; bad keys and values name the key', async () => {
  const bad = async (o: Record<string, unknown>): Promise<RatatoskError> => {
    try {
      await createAuthProviders([{ type: 'jwt', ...o }], testContext().ctx, dir);
    } catch (err) {
      assert.ok(err instanceof RatatoskError);
      return err;
    }
    assert.fail('built');
  };
  assert.match((await bad({})).message, /auth\.providers\.0: give exactly one of secret, publicKey, jwksUrl/);
  assert.match((await bad({ secret: 's', jwksUrl: 'http://x' })).message, /give exactly one/);
  assert.match((await bad({ publicKey: 'missing.pem' })).message, /auth\.providers\.0\.publicKey: /);
  assert.match((await bad({ publicKey: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' })).message, /auth\.providers\.0\.publicKey: not a PEM/);
  assert.match((await bad({ secret: SECRET, from: 'header' })).message, /auth\.providers\.0\.from: /);
});
