/**
 * The `cert` provider: user and tenant from the client certificate, and its refusals.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthProviders } from '../../src/auth/providers';
import { RatatoskError } from '../../src/errors';
import { fieldsOf } from '../../src/transport/client-certificate';
import type { AuthProvider, AuthResult, ClientCertificate } from '../../src/plugins/types';
import { authRequest, connInfo, testContext } from '../plugins/helpers';

function cert(overrides: Partial<ClientCertificate> = {}): ClientCertificate {
  return {
    authorized: true,
    subject: { CN: 'sensor-17', O: 'acme', OU: 'plant-2' },
    issuer: { CN: 'Acme CA' },
    subjectAltNames: ['DNS:sensor-17.acme.example', 'URI:urn:ratatosk:tenant:globex', 'URI:spiffe://acme/sensor-17', 'email:ops@acme.example'],
    fingerprint256: 'AA:BB',
    serialNumber: '0F',
    ...overrides,
  };
}

async function provider(options: Record<string, unknown> = {}): Promise<AuthProvider> {
  const [p] = await createAuthProviders([{ type: 'cert', ...options }], testContext().ctx);
  return p!;
}

function auth(p: AuthProvider, c: ClientCertificate | undefined): Promise<AuthResult> {
  return Promise.resolve(p.authenticate(authRequest({ username: 'ignored', conn: connInfo({ transport: 'tls', ...(c ? { certificate: c } : {}) }) })));
}

function who(r: AuthResult): [string, string] | AuthResult {
  return r.ok === true ? [r.tenantId, r.userId] : r;
}

describe('mappings', () => {
  test('defaults: user from CN, tenant from O; attrs carry the fingerprint and serial', async () => {
    const r = await auth(await provider(), cert());
    assert.deepEqual(r, { ok: true, tenantId: 'acme', userId: 'sensor-17', attrs: { certFingerprint: 'AA:BB', certSerial: '0F' } });
  });

  const cases: [Record<string, unknown>, [string, string]][] = [
    [{ userFrom: 'san-dns' }, ['acme', 'sensor-17.acme.example']],
    [{ userFrom: 'san-uri' }, ['acme', 'urn:ratatosk:tenant:globex']],
    [{ userFrom: 'san-email' }, ['acme', 'ops@acme.example']],
    [{ tenantFrom: 'ou' }, ['plant-2', 'sensor-17']],
    [{ tenantFrom: 'san-uri-prefix:urn:ratatosk:tenant:' }, ['globex', 'sensor-17']],
    [{ tenantFrom: 'san-uri-prefix:spiffe://' }, ['acme/sensor-17', 'sensor-17']],
    [{ tenantFrom: 'fixed:devices' }, ['devices', 'sensor-17']],
  ];
  for (const [options, expected] of cases) {
    test(`${JSON.stringify(options)} → tenant ${expected[0]}, user ${expected[1]}`, async () => {
      assert.deepEqual(who(await auth(await provider(options), cert())), expected);
    });
  }

  test('a subject field repeated in the certificate (Node gives a list): the first counts', async () => {
    // As Node's getPeerCertificate() gives it, through what the TLS listener makes of it.
    const c = cert({ subject: fieldsOf({ CN: 'x', O: ['first', 'second'] }) });
    assert.deepEqual(who(await auth(await provider(), c)), ['first', 'x']);
  });
});

describe('refusals', () => {
  test('no certificate, or MQTT 5 enhanced authentication: skip (another provider decides)', async () => {
    assert.deepEqual(await auth(await provider(), undefined), { ok: 'skip' });
    const enhanced = await (await provider()).authenticate(authRequest({ authMethod: 'SCRAM-RTK', authData: Buffer.alloc(16), conn: connInfo({ certificate: cert() }) }));
    assert.deepEqual(enhanced, { ok: 'skip' });
  });

  test('an untrusted certificate: 0x86, unless requireAuthorized is off', async () => {
    const untrusted = cert({ authorized: false });
    assert.deepEqual(await auth(await provider(), untrusted), { ok: false, reasonCode: 0x86, reasonString: 'client certificate not trusted' });
    assert.deepEqual(who(await auth(await provider({ requireAuthorized: false }), untrusted)), ['acme', 'sensor-17']);
  });

  test('a trusted certificate without the user or tenant field: 0x87', async () => {
    const noCn = await auth(await provider(), cert({ subject: { O: 'acme' } }));
    assert.deepEqual(noCn, { ok: false, reasonCode: 0x87, reasonString: 'client certificate has no cn' });
    const noSan = await auth(await provider({ userFrom: 'san-dns' }), cert({ subjectAltNames: [] }));
    assert.equal(noSan.ok === false && noSan.reasonCode, 0x87);
    const noPrefix = await auth(await provider({ tenantFrom: 'san-uri-prefix:urn:other:' }), cert());
    assert.equal(noPrefix.ok === false && noPrefix.reasonCode, 0x87);
    const noO = await auth(await provider(), cert({ subject: { CN: 'x' } }));
    assert.equal(noO.ok === false && noO.reasonCode, 0x87);
  });
});

test('options are validated and name the key', async () => {
  const bad = async (o: Record<string, unknown>): Promise<RatatoskError> => {
    try {
      await provider(o);
    } catch (err) {
      assert.ok(err instanceof RatatoskError);
      return err;
    }
    assert.fail('built');
  };
  assert.match((await bad({ tenantFrom: 'cn' })).message, /auth\.providers\.0\.tenantFrom: expected 'o', 'ou'/);
  assert.match((await bad({ tenantFrom: 'fixed:' })).message, /auth\.providers\.0\.tenantFrom/);
  assert.match((await bad({ userFrom: 'serial' })).message, /auth\.providers\.0\.userFrom/);
  assert.equal((await bad({ requireAuth: true })).code, 'RTK_CONFIG_UNKNOWN_KEY');
});
