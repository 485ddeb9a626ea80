/**
 * Example plugin examples/plugins/scram-auth.ts (SCRAM-RTK enhanced authentication), loaded with
 * loadPlugin and driven through a full exchange, a wrong proof, an unknown user and re-authentication.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadPlugin } from '../../src/plugins/loader';
import type { AuthProvider, AuthRequest, AuthResult } from '../../src/plugins/types';
import { authRequest, connInfo, EXAMPLES_DIR, testContext } from './helpers';

interface ScramModule {
  clientFinal(username: string, password: string, clientNonce: Buffer, serverFirst: Buffer): { proof: Buffer; serverSignature: Buffer };
  scramCredentials(password: string, salt: Buffer, iterations: number): { salt: Buffer; iterations: number; storedKey: Buffer; serverKey: Buffer };
}
const scram = require(`${EXAMPLES_DIR}/scram-auth.js`) as ScramModule;

const salt = Buffer.from('0123456789abcdef');
const stored = scram.scramCredentials('bob-pw', salt, 1000);
const config = {
  iterations: 1000,
  users: {
    alice: { password: 'alice-pw', tenant: 'acme' },
    bob: { tenant: 'globex', user: 'bob-id', salt: salt.toString('base64'), iterations: 1000, storedKey: stored.storedKey.toString('base64'), serverKey: stored.serverKey.toString('base64') },
  },
};

async function load(): Promise<{ p: AuthProvider & { inProgress: number }; t: ReturnType<typeof testContext> }> {
  const t = testContext();
  const p = await loadPlugin<AuthProvider & { inProgress: number }>({ module: './scram-auth.js', config }, t.ctx, EXAMPLES_DIR);
  return { p, t };
}

function req(username: string, authData: Buffer | undefined, port = 40000): AuthRequest {
  return authRequest({ username, authMethod: 'SCRAM-RTK', authData, conn: connInfo({ remotePort: port }) });
}

/** Runs the exchange as a client would; returns the final result and the signature the client expects. */
async function exchange(p: AuthProvider, username: string, password: string, port = 40000): Promise<{ final: AuthResult; expected: Buffer }> {
  const nonce = randomBytes(24);
  const first = await p.authenticate(req(username, nonce, port));
  assert.equal(first.ok, 'continue');
  if (first.ok !== 'continue') throw new Error('no challenge');
  const { proof, serverSignature } = scram.clientFinal(username, password, nonce, first.authData);
  const final = await p.continueAuth!(req(username, proof, port), 1);
  return { final, expected: serverSignature };
}

test('the right password: accepted, with the server signature the client computes', async () => {
  const { p } = await load();
  const { final, expected } = await exchange(p, 'alice', 'alice-pw');
  assert.ok(final.ok === true);
  assert.equal(final.tenantId, 'acme');
  assert.equal(final.userId, 'alice');
  assert.ok(final.authData?.equals(expected), 'the server signature does not match');
  const bob = await exchange(p, 'bob', 'bob-pw', 40001);
  assert.ok(bob.final.ok === true && bob.final.userId === 'bob-id', 'precomputed credentials (salt, storedKey, serverKey) work');
  assert.equal(p.inProgress, 0, 'finished exchanges are forgotten');
});

test('a wrong password: 0x87; an unknown user gets a challenge too and is refused at the proof', async () => {
  const { p } = await load();
  assert.deepEqual((await exchange(p, 'alice', 'wrong')).final, { ok: false, reasonCode: 0x87 });
  const unknown = await exchange(p, 'mallory', 'x', 40002);
  assert.deepEqual(unknown.final, { ok: false, reasonCode: 0x87 });
  // The made-up salt is stable, so asking twice does not reveal that the user is unknown.
  const a = await p.authenticate(req('mallory', randomBytes(16), 40003));
  const b = await p.authenticate(req('mallory', randomBytes(16), 40004));
  assert.ok(a.ok === 'continue' && b.ok === 'continue');
  assert.ok(a.authData.subarray(32).equals(b.authData.subarray(32)));
});

test('re-authentication runs the same exchange again on the same connection', async () => {
  const { p } = await load();
  assert.equal((await exchange(p, 'alice', 'alice-pw', 40010)).final.ok, true);
  const again = await exchange(p, 'alice', 'alice-pw', 40010);
  assert.equal(again.final.ok, true);
  assert.ok(again.final.ok === true && again.final.authData?.equals(again.expected));
});

test('other methods are skipped; a bad nonce, a replayed proof and a second step are refused', async () => {
  const { p } = await load();
  assert.deepEqual(await p.authenticate(authRequest({ username: 'alice', password: Buffer.from('alice-pw') })), { ok: 'skip' });
  assert.deepEqual(await p.authenticate(authRequest({ username: 'alice', authMethod: 'OTHER', authData: randomBytes(16) })), { ok: 'skip' });
  const short = await p.authenticate(req('alice', Buffer.alloc(4)));
  assert.equal(short.ok === false && short.reasonCode, 0x87);
  const nonce = randomBytes(16);
  const first = await p.authenticate(req('alice', nonce, 40020));
  assert.ok(first.ok === 'continue');
  const { proof } = scram.clientFinal('alice', 'alice-pw', nonce, first.authData);
  assert.equal((await p.continueAuth!(req('alice', proof, 40020), 1)).ok, true);
  const replay = await p.continueAuth!(req('alice', proof, 40020), 1);
  assert.equal(replay.ok === false && replay.reasonCode, 0x82, 'a proof is good for one exchange only');
  await p.authenticate(req('alice', nonce, 40021));
  const second = await p.continueAuth!(req('alice', proof, 40021), 2);
  assert.equal(second.ok, false);
});

test('a stale exchange (older than a minute by the injected clock) is refused', async () => {
  const { p, t } = await load();
  const nonce = randomBytes(16);
  const first = await p.authenticate(req('alice', nonce, 40030));
  assert.ok(first.ok === 'continue');
  t.clock.now += 61_000;
  const { proof } = scram.clientFinal('alice', 'alice-pw', nonce, first.authData);
  assert.equal((await p.continueAuth!(req('alice', proof, 40030), 1)).ok, false);
});
