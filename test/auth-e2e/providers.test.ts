/**
 * Every built-in auth provider end to end: a broker configured with `auth.providers` exactly as an
 * operator writes it, MQTT.js clients over real sockets (TCP and TLS), MQTT 3.1.1 and 5 where the
 * answers differ. The tenant a client lands in is proved by isolation: a subscriber of that tenant
 * gets its message, a subscriber of another tenant with the same filter does not.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { IClientOptions } from 'mqtt';
import { hashPassword } from '../../src/auth/passwd';
import { encodePacket } from '../../src/codec/encoder';
import { RawClient } from '../helpers/raw-client';
import type { TestBroker } from '../helpers/broker';
import {
  attempt,
  end,
  httpServer,
  hx,
  Inbox,
  mustConnect,
  proveTenant,
  pubCode,
  RC,
  RC311,
  recordEvents,
  serverClose,
  sleep,
  start,
  subCodes,
  T,
  TLS,
  TLS_EXTRA,
  uid,
  type TestHttpServer,
} from './helpers';

/** A users file in the format of docs/plugins.md, with hashes as `ratatosk passwd` prints them. */
async function usersYaml(users: { username: string; password: string; tenant: string; user?: string }[]): Promise<string> {
  const lines = ['users:'];
  for (const u of users) {
    lines.push(`  - username: ${u.username}`, `    password: "${await hashPassword(u.password)}"`, `    tenant: ${u.tenant}`);
    if (u.user) lines.push(`    user: ${u.user}`);
  }
  return `${lines.join('\n')}\n`;
}

const pw = (username: string, password: string, extra: IClientOptions = {}): IClientOptions => ({ username, password, ...extra });

describe('file provider', () => {
  let dir: string;
  let path: string;
  let tb: TestBroker;
  const base = [
    { username: 'alice', password: 'wonderland', tenant: 'acme', user: 'alice-a' },
    { username: 'acme-watch', password: 'w1', tenant: 'acme' },
    { username: 'globex-watch', password: 'w2', tenant: 'globex' },
  ];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rtk-file-auth-'));
    path = join(dir, 'users.yaml');
    writeFileSync(path, await usersYaml(base));
    tb = await start({ auth: { providers: [{ type: 'file', path, reloadSeconds: 0.5 }] } });
  });

  after(async () => {
    await tb.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the right password connects into the user\'s tenant (proved by isolation)', T, async () => {
    const events = recordEvents(tb.broker);
    const clientId = uid('alice');
    await proveTenant(tb.port, pw('alice', 'wonderland', { clientId }), pw('acme-watch', 'w1'), pw('globex-watch', 'w2'), 'news/file');
    const connected = events.find((e) => e.type === 'client.connected' && e.clientId === clientId);
    assert.ok(connected && connected.type === 'client.connected');
    assert.equal(connected.tenantId, 'acme');
    assert.equal(connected.userId, 'alice-a');
  });

  for (const version of [5, 4] as const) {
    it(`a wrong password or an unknown user is refused: ${version === 5 ? 'CONNACK 0x86' : '3.1.1 return code 4'}`, T, async () => {
      const want = version === 5 ? RC.BadUserNameOrPassword : RC311.BadUserNameOrPassword;
      const wrong = await attempt(tb.port, pw('alice', 'not-it', { protocolVersion: version }));
      assert.equal(wrong.code, want, `wrong password: got ${hx(wrong.code)}`);
      const unknown = await attempt(tb.port, pw('mallory', 'wonderland', { protocolVersion: version }));
      assert.equal(unknown.code, want, `unknown user: got ${hx(unknown.code)}`);
      const none = await attempt(tb.port, pw('alice', '', { protocolVersion: version, password: undefined }));
      assert.equal(none.code, want, `no password: got ${hx(none.code)}`);
    });
  }

  it('a client that sends CONNECT (with a will) and a PUBLISH, then FIN, before its password is checked: both are handled', T, async () => {
    const watch = await mustConnect(tb.port, pw('acme-watch', 'w1'));
    try {
      const inbox = new Inbox(watch);
      assert.deepEqual(await subCodes(watch, ['halfclose/#'], 1), [1]);
      const topic = `halfclose/${uid('m')}`;
      const raw = await RawClient.open(tb.port, 5);
      const will = { topic: `${topic}/will`, payload: Buffer.from('gone'), qos: 1 as const, retain: false };
      raw.write(
        Buffer.concat([
          encodePacket({ type: 1, protocolName: 'MQTT', protocolVersion: 5, cleanStart: true, keepAlive: 60, clientId: uid('hc'), username: 'alice', password: Buffer.from('wonderland'), will }, 5),
          encodePacket({ type: 3, topic, payload: Buffer.from('before FIN'), qos: 1, retain: false, dup: false, packetId: 1 }, 5),
        ]),
      );
      raw.socket.end(); // FIN while the scrypt check is still running
      await inbox.waitTopic(topic);
      await inbox.waitTopic(`${topic}/will`);
    } finally {
      await end(watch);
    }
  });

  it('a user added to the file can connect within ~3 s, without a restart', T, async () => {
    const before = await attempt(tb.port, pw('carol', 'c4rol'));
    assert.equal(before.code, RC.BadUserNameOrPassword, 'carol is not in the file yet');
    writeFileSync(path, await usersYaml([...base, { username: 'carol', password: 'c4rol', tenant: 'globex' }]));
    const changed = Date.now();
    let last = -1;
    while (Date.now() - changed < 3000) {
      const a = await attempt(tb.port, pw('carol', 'c4rol'));
      last = a.code;
      await end(a.client);
      if (a.code === 0) break;
      await sleep(200);
    }
    assert.equal(last, 0, `carol still refused (${hx(last)}) 3 s after the file changed`);
    // She lands in the tenant the new file gives her.
    await proveTenant(tb.port, pw('carol', 'c4rol'), pw('globex-watch', 'w2'), pw('acme-watch', 'w1'), 'news/reload');
    assert.ok(readFileSync(path, 'utf8').includes('carol'));
  });
});

describe('http provider', () => {
  let hook: TestHttpServer;
  let tb: TestBroker;

  before(async () => {
    hook = await httpServer((path, body) => {
      const b = body as { username?: string | null; password?: string | null; topic?: string; action?: string };
      if (path === '/auth') {
        if (b.username === 'alice' && b.password === 'pw') return [200, { result: 'allow', tenant: 'acme', user: 'alice-h' }];
        if (b.username === 'watch-acme') return [200, { result: 'allow', tenant: 'acme' }];
        if (b.username === 'watch-globex') return [200, { result: 'allow', tenant: 'globex' }];
        if (b.username === 'stranger') return [200, { result: 'deny', reason: 'not_authorized' }];
        return [200, { result: 'deny', reason: 'bad credentials' }];
      }
      if (path === '/acl') return [200, { result: b.topic?.startsWith('secret') ? 'deny' : 'allow' }];
      return [404, {}];
    });
    tb = await start({ auth: { providers: [{ type: 'http', url: `${hook.url}/auth`, aclUrl: `${hook.url}/acl` }] } });
  });

  after(async () => {
    await tb.stop();
    await hook.close();
  });

  it('allow: the client connects with the tenant and user the endpoint returns', T, async () => {
    const events = recordEvents(tb.broker);
    const clientId = uid('alice');
    await proveTenant(tb.port, pw('alice', 'pw', { clientId }), pw('watch-acme', 'x'), pw('watch-globex', 'x'), 'news/http');
    const connected = events.find((e) => e.type === 'client.connected' && e.clientId === clientId);
    assert.ok(connected && connected.type === 'client.connected');
    assert.equal(connected.tenantId, 'acme');
    assert.equal(connected.userId, 'alice-h');
    const asked = hook.requests.find((r) => r.path === '/auth' && (r.body as { clientId: string }).clientId === clientId);
    assert.ok(asked, 'the webhook was asked');
    assert.equal((asked.body as { password: string }).password, 'pw');
    assert.equal((asked.body as { protocolVersion: number }).protocolVersion, 5);
  });

  for (const version of [5, 4] as const) {
    it(`deny: ${version === 5 ? 'CONNACK 0x86 (0x87 for reason not_authorized)' : '3.1.1 return codes 4 and 5'}`, T, async () => {
      const bad = await attempt(tb.port, pw('alice', 'wrong', { protocolVersion: version }));
      assert.equal(bad.code, version === 5 ? RC.BadUserNameOrPassword : RC311.BadUserNameOrPassword, `got ${hx(bad.code)}`);
      if (version === 5) assert.equal(bad.connack?.properties?.reasonString, 'bad credentials');
      const stranger = await attempt(tb.port, pw('stranger', 'x', { protocolVersion: version }));
      assert.equal(stranger.code, version === 5 ? RC.NotAuthorized : RC311.NotAuthorized, `got ${hx(stranger.code)}`);
    });
  }

  it('aclUrl deny on PUBLISH: MQTT 5 gets PUBACK/PUBREC 0x87', T, async () => {
    const c = await mustConnect(tb.port, pw('alice', 'pw'));
    try {
      assert.equal(await pubCode(c, 'secret/plans', 'x', 1), RC.NotAuthorized, 'PUBACK');
      assert.equal(await pubCode(c, 'secret/plans', 'x', 2), RC.NotAuthorized, 'PUBREC');
      assert.ok((await pubCode(c, 'open/plans', 'x', 1)) < 0x80, 'an allowed topic is accepted');
    } finally {
      await end(c);
    }
  });

  it('aclUrl deny on PUBLISH: MQTT 3.1.1 drops it silently (acknowledged, not delivered)', T, async () => {
    const watcher = await mustConnect(tb.port, pw('watch-acme', 'x'));
    const c = await mustConnect(tb.port, pw('alice', 'pw', { protocolVersion: 4 }));
    try {
      const inbox = new Inbox(watcher);
      assert.deepEqual(await subCodes(watcher, ['#'], 1), [1]);
      assert.equal(await pubCode(c, 'secret/v3', 'x', 1), 0, 'a 3.1.1 PUBACK has no reason code');
      assert.equal(await pubCode(c, 'open/v3', 'x', 1), 0);
      await inbox.waitTopic('open/v3');
      await sleep(150);
      assert.deepEqual(inbox.topics(), ['open/v3'], 'the denied message must not be delivered');
      assert.equal(c.connected, true, 'the 3.1.1 client stays connected');
    } finally {
      await Promise.all([end(watcher), end(c)]);
    }
  });

  for (const version of [5, 4] as const) {
    it(`aclUrl deny on SUBSCRIBE: SUBACK ${version === 5 ? '0x87' : '0x80'}`, T, async () => {
      const c = await mustConnect(tb.port, pw('alice', 'pw', { protocolVersion: version }));
      try {
        assert.deepEqual(await subCodes(c, ['secret/#', 'open/#'], 1), [version === 5 ? RC.NotAuthorized : 0x80, 1]);
      } finally {
        await end(c);
      }
      const acl = hook.requests.filter((r) => r.path === '/acl').map((r) => r.body as { action: string; topic: string; tenant: string; user: string });
      assert.ok(acl.some((b) => b.action === 'subscribe' && b.topic === 'secret/#' && b.tenant === 'acme' && b.user === 'alice-h'), 'the ACL endpoint was asked');
    });
  }
});

describe('jwt provider', () => {
  const secret = 'an-hs256-secret-of-at-least-32-bytes!!';
  const hs = (claims: Record<string, unknown>, expSeconds: number | undefined = 600): Promise<string> => {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
    if (expSeconds !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expSeconds);
    return jwt.sign(Buffer.from(secret));
  };
  const watchAcl = [{ action: 'subscribe', topic: 'tele/#', allow: true }];
  let tb: TestBroker;

  before(async () => {
    tb = await start({ auth: { providers: [{ type: 'jwt', secret }] } });
  });

  after(async () => {
    await tb.stop();
  });

  it('HS256: tenant, user and rules come from the claims', T, async () => {
    const events = recordEvents(tb.broker);
    const acl = [
      { action: 'publish', topic: 'tele/%u/#', allow: true },
      { action: 'subscribe', topic: 'tele/#', allow: true },
    ];
    const clientId = uid('dev');
    const token = await hs({ tenant: 'acme', sub: 'dev-7', acl });
    await proveTenant(
      tb.port,
      { clientId, username: 'ignored', password: token },
      { username: 'w', password: await hs({ tenant: 'acme', sub: 'w-a', acl: watchAcl }) },
      { username: 'w', password: await hs({ tenant: 'globex', sub: 'w-g', acl: watchAcl }) },
      'tele/dev-7/temp',
    );
    const connected = events.find((e) => e.type === 'client.connected' && e.clientId === clientId);
    assert.ok(connected && connected.type === 'client.connected');
    assert.equal(connected.tenantId, 'acme');
    assert.equal(connected.userId, 'dev-7');
    // The rules of the token apply: %u is the user from `sub`.
    const c = await mustConnect(tb.port, { username: 'ignored', password: token });
    try {
      assert.ok((await pubCode(c, 'tele/dev-7/hum', 'x', 1)) < 0x80);
      assert.equal(await pubCode(c, 'tele/dev-8/hum', 'x', 1), RC.NotAuthorized);
      assert.deepEqual(await subCodes(c, ['tele/+/hum', 'other/#'], 1), [1, RC.NotAuthorized]);
    } finally {
      await end(c);
    }
  });

  for (const version of [5, 4] as const) {
    it(`an expired or badly signed token is refused: ${version === 5 ? '0x86' : 'return code 4'}`, T, async () => {
      const want = version === 5 ? RC.BadUserNameOrPassword : RC311.BadUserNameOrPassword;
      const expired = await attempt(tb.port, { protocolVersion: version, username: 'u', password: await hs({ tenant: 'acme', sub: 'x' }, -60) });
      assert.equal(expired.code, want, `expired: got ${hx(expired.code)}`);
      if (version === 5) assert.equal(expired.connack?.properties?.reasonString, 'token expired');
      const forged = await new SignJWT({ tenant: 'acme', sub: 'x' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from('another-secret-of-at-least-32-bytes-long'));
      const bad = await attempt(tb.port, { protocolVersion: version, username: 'u', password: forged });
      assert.equal(bad.code, want, `bad signature: got ${hx(bad.code)}`);
    });
  }

  it('a token expiring 2 s after connect ends the connection with DISCONNECT 0x87 at expiry', T, async () => {
    const exp = Math.ceil(Date.now() / 1000) + 2;
    const token = await new SignJWT({ tenant: 'acme', sub: 'short' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(Buffer.from(secret));
    const c = await mustConnect(tb.port, { username: 'u', password: token });
    const closed = serverClose(c, 6000);
    await sleep(exp * 1000 - Date.now() - 400);
    assert.equal(c.connected, true, 'still connected shortly before expiry');
    const { disconnect, at } = await closed;
    await end(c);
    assert.equal(disconnect?.reasonCode, RC.NotAuthorized, `DISCONNECT ${hx(disconnect?.reasonCode)}`);
    assert.ok(at >= exp * 1000 - 50, `closed ${exp * 1000 - at} ms before expiry`);
    assert.ok(at <= exp * 1000 + 1000, `closed ${at - exp * 1000} ms after expiry`);
  });

  describe('with a JWKS endpoint', () => {
    let jwks: TestHttpServer;
    let tbk: TestBroker;
    let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

    before(async () => {
      const pair = await generateKeyPair('ES256', { extractable: true });
      privateKey = pair.privateKey;
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
      jwks = await httpServer((path) => (path === '/jwks' ? [200, { keys: [jwk] }] : [404, {}]));
      tbk = await start({ auth: { providers: [{ type: 'jwt', jwksUrl: `${jwks.url}/jwks`, issuer: 'https://idp.test' }] } });
    });

    after(async () => {
      await tbk.stop();
      await jwks.close();
    });

    const es = (claims: Record<string, unknown>, key = privateKey, kid = 'k1'): Promise<string> =>
      new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).setIssuer('https://idp.test').setExpirationTime('10m').sign(key);

    it('a token signed by a key of the set connects with the tenant and user of its claims', T, async () => {
      const events = recordEvents(tbk.broker);
      const clientId = uid('jwks');
      await proveTenant(
        tbk.port,
        { clientId, username: 'u', password: await es({ tenant: 'globex', sub: 'sensor-1' }) },
        { username: 'u', password: await es({ tenant: 'globex', sub: 'w1' }) },
        { username: 'u', password: await es({ tenant: 'acme', sub: 'w2' }) },
        'jwks/t',
      );
      const connected = events.find((e) => e.type === 'client.connected' && e.clientId === clientId);
      assert.ok(connected && connected.type === 'client.connected');
      assert.equal(connected.tenantId, 'globex');
      assert.equal(connected.userId, 'sensor-1');
      assert.ok(jwks.count('/jwks') >= 1, 'the key set was fetched');
      // Rules in the token apply.
      const c = await mustConnect(tbk.port, { username: 'u', password: await es({ tenant: 'globex', sub: 's', acl: [{ action: 'publish', topic: 'up/%u', allow: true }] }) });
      try {
        assert.ok((await pubCode(c, 'up/s', 'x', 1)) < 0x80);
        assert.equal(await pubCode(c, 'up/t', 'x', 1), RC.NotAuthorized);
      } finally {
        await end(c);
      }
    });

    it('a token of an unknown key or issuer is refused with 0x86', T, async () => {
      const other = await generateKeyPair('ES256');
      const unknownKey = await attempt(tbk.port, { username: 'u', password: await es({ tenant: 'globex', sub: 'x' }, other.privateKey, 'k9') });
      assert.equal(unknownKey.code, RC.BadUserNameOrPassword, `unknown key: ${hx(unknownKey.code)}`);
      const wrongIssuer = await new SignJWT({ tenant: 'globex', sub: 'x' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://evil.test').setExpirationTime('10m').sign(privateKey);
      const wi = await attempt(tbk.port, { username: 'u', password: wrongIssuer });
      assert.equal(wi.code, RC.BadUserNameOrPassword, `wrong issuer: ${hx(wi.code)}`);
    });
  });
});

describe('cert provider', () => {
  const ca = readFileSync(resolve(TLS, 'ca.pem'));
  const device1 = { cert: readFileSync(resolve(TLS, 'client.pem')), key: readFileSync(resolve(TLS, 'client.key')) };
  /** O=globex, CN=device-2, URI SAN urn:ratatosk:tenant:initech (test/auth-e2e/fixtures/tls). */
  const device2 = { cert: readFileSync(resolve(TLS_EXTRA, 'split.pem')), key: readFileSync(resolve(TLS_EXTRA, 'split.key')) };
  const rogue = { cert: readFileSync(resolve(TLS, 'rogue.pem')), key: readFileSync(resolve(TLS, 'rogue.key')) };

  const tlsListener = (clientCert: 'required' | 'optional') => ({
    name: 'secure',
    type: 'tls' as const,
    port: 0,
    host: '127.0.0.1',
    cert: resolve(TLS, 'server.pem'),
    key: resolve(TLS, 'server.key'),
    ca: resolve(TLS, 'ca.pem'),
    clientCert,
  });
  const listeners = (clientCert: 'required' | 'optional') => [{ type: 'tcp' as const, port: 0, host: '127.0.0.1' }, tlsListener(clientCert)];
  const over = (tb: TestBroker, creds: { cert: Buffer; key: Buffer } | undefined, extra: IClientOptions = {}): [number, IClientOptions] => [
    tb.broker.port('tls'),
    { protocol: 'mqtts', ca, rejectUnauthorized: true, ...(creds ?? {}), ...extra },
  ];

  it('required client certificate, tenant from O: device-1 lands in acme, device-2 in globex', T, async () => {
    const tb = await start({ listeners: listeners('required'), auth: { providers: [{ type: 'cert', tenantFrom: 'o' }] } });
    try {
      const events = recordEvents(tb.broker);
      const [port, d1] = over(tb, device1);
      const [, d2] = over(tb, device2);
      const clientId = uid('d1');
      await proveTenant(port, { ...d1, clientId }, d1, d2, 'cert/o');
      const connected = events.find((e) => e.type === 'client.connected' && e.clientId === clientId);
      assert.ok(connected && connected.type === 'client.connected');
      assert.equal(connected.tenantId, 'acme');
      assert.equal(connected.userId, 'device-1');
      assert.equal(connected.listener, 'secure');
      // A certificate the CA does not vouch for never gets past the handshake.
      const [, r] = over(tb, rogue);
      const refused = await attempt(port, r);
      assert.equal(refused.code, -1, `the rogue certificate got CONNACK ${hx(refused.code)}`);
      // Without a certificate on the plain TCP listener nobody answers: refused.
      const plain = await attempt(tb.port, { username: 'x', password: 'y' });
      assert.equal(plain.code, RC.BadUserNameOrPassword);
    } finally {
      await tb.stop();
    }
  });

  it('tenant from the URI SAN prefix urn:ratatosk:tenant: (device-2 lands in initech, not in its O)', T, async () => {
    const tb = await start({ listeners: listeners('required'), auth: { providers: [{ type: 'cert', tenantFrom: 'san-uri-prefix:urn:ratatosk:tenant:' }] } });
    try {
      const events = recordEvents(tb.broker);
      const [port, d1] = over(tb, device1);
      const [, d2] = over(tb, device2);
      const clientId = uid('d2');
      await proveTenant(port, { ...d2, clientId }, d2, d1, 'cert/san');
      const connected = events.find((e) => e.type === 'client.connected' && e.clientId === clientId);
      assert.ok(connected && connected.type === 'client.connected');
      assert.equal(connected.tenantId, 'initech');
      assert.ok(events.some((e) => e.type === 'client.connected' && e.tenantId === 'acme'), 'device-1 maps to acme by its URI SAN');
    } finally {
      await tb.stop();
    }
  });

  it('a trusted certificate without the tenant field gets 0x87; an untrusted one on an optional listener 0x86', T, async () => {
    const tb = await start({ listeners: listeners('optional'), auth: { providers: [{ type: 'cert', tenantFrom: 'ou' }] } });
    try {
      const [port, d1] = over(tb, device1);
      const noOu = await attempt(port, d1);
      assert.equal(noOu.code, RC.NotAuthorized, `no OU: ${hx(noOu.code)}`);
      const [, r] = over(tb, rogue);
      const untrusted = await attempt(port, r);
      assert.equal(untrusted.code, RC.BadUserNameOrPassword, `untrusted: ${hx(untrusted.code)}`);
      const untrusted4 = await attempt(port, { ...r, protocolVersion: 4 });
      assert.equal(untrusted4.code, RC311.BadUserNameOrPassword);
    } finally {
      await tb.stop();
    }
  });

  it('chain cert then file on an optional-cert listener: certificate clients by cert, password clients by file', T, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtk-chain-'));
    const path = join(dir, 'users.yaml');
    writeFileSync(
      path,
      await usersYaml([
        { username: 'alice', password: 'pw-a', tenant: 'globex', user: 'alice-f' },
        { username: 'acme-watch', password: 'pw-w', tenant: 'acme' },
      ]),
    );
    const tb = await start({ listeners: listeners('optional'), auth: { providers: [{ type: 'cert' }, { type: 'file', path }] } });
    try {
      const events = recordEvents(tb.broker);
      const [port, d1] = over(tb, device1);
      const [, noCert] = over(tb, undefined);
      // A certificate client is mapped by cert (acme), whatever user name it sends.
      const certId = uid('cert');
      await proveTenant(port, { ...d1, clientId: certId, username: 'alice', password: 'not-her-password' }, pw('acme-watch', 'pw-w', noCert), pw('alice', 'pw-a', noCert), 'chain/cert');
      // A password client without a certificate is mapped by file (globex).
      const fileId = uid('file');
      await proveTenant(port, pw('alice', 'pw-a', { ...noCert, clientId: fileId }), pw('alice', 'pw-a', noCert), d1, 'chain/file');
      const byId = (id: string) => events.find((e) => e.type === 'client.connected' && e.clientId === id) as { tenantId: string; userId: string } | undefined;
      assert.deepEqual([byId(certId)?.tenantId, byId(certId)?.userId], ['acme', 'device-1']);
      assert.deepEqual([byId(fileId)?.tenantId, byId(fileId)?.userId], ['globex', 'alice-f']);
      // Without a certificate, the file decides: a wrong password is refused.
      const wrong = await attempt(port, pw('alice', 'nope', noCert));
      assert.equal(wrong.code, RC.BadUserNameOrPassword);
    } finally {
      await tb.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
