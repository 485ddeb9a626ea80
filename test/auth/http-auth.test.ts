/**
 * The `http` provider against a local webhook: allow/deny/ignore, failures, caching, keep-alive,
 * authorization.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { HttpAuthProvider } from '../../src/auth/http-auth';
import { createAuthProviders } from '../../src/auth/providers';
import { RatatoskError } from '../../src/errors';
import type { AuthProvider, AuthorizeRequest } from '../../src/plugins/types';
import { authRequest, connInfo, identity, json, startServer, testContext, type TestServer } from '../plugins/helpers';

let server: TestServer;
const bodies: Record<string, unknown>[] = [];
const stuck: http.ServerResponse[] = [];

function onAuth(body: Record<string, unknown>, res: http.ServerResponse): void {
  switch (body.username) {
    case 'alice':
      if (body.password === 'pässword') json(res, { result: 'allow', tenant: 'acme', user: 'alice-id', attrs: { plan: 'gold' }, acl: [{ action: 'publish', topic: 'a/#', allow: true }] });
      else json(res, { result: 'deny' });
      return;
    case 'plain':
      return json(res, { result: 'allow' });
    case 'blocked':
      return json(res, { result: 'deny', reason: 'not_authorized' });
    case 'other':
      return json(res, { result: 'ignore' });
    case 'broken':
      return json(res, { error: 'boom' }, 500);
    case 'garbage':
      res.end('not json');
      return;
    case 'weird':
      return json(res, { result: 'maybe' });
    case 'slow':
      stuck.push(res); // never answered
      return;
    default:
      json(res, { result: 'deny', reason: 'unknown user' });
  }
}

function onAcl(body: Record<string, unknown>, res: http.ServerResponse): void {
  const topic = String(body.topic);
  json(res, { result: topic.startsWith('ok/') ? 'allow' : topic.startsWith('no/') ? 'deny' : 'ignore' });
}

before(async () => {
  server = await startServer((req, body, res) => {
    bodies.push(body as Record<string, unknown>);
    if (req.headers['x-api-key'] !== 'k1') return json(res, { error: 'no key' }, 401);
    if (req.url === '/auth') onAuth(body as Record<string, unknown>, res);
    else if (req.url === '/acl') onAcl(body as Record<string, unknown>, res);
    else json(res, {}, 404);
  });
});
after(async () => {
  for (const r of stuck) r.destroy();
  await server.close();
});

async function provider(options: Record<string, unknown> = {}): Promise<{ p: HttpAuthProvider; t: ReturnType<typeof testContext> }> {
  const t = testContext();
  const [p] = await createAuthProviders([{ type: 'http', url: `${server.url}/auth`, headers: { 'x-api-key': 'k1' }, ...options }], t.ctx);
  return { p: p as HttpAuthProvider, t };
}

function login(p: AuthProvider, username: string | undefined, password?: string, port = 50000) {
  return Promise.resolve(
    p.authenticate(authRequest({ username, password: password === undefined ? undefined : Buffer.from(password), conn: connInfo({ remotePort: port }) })),
  );
}

describe('authentication', () => {
  test('allow: tenant, user, attrs and rules from the answer; the request carries what the webhook needs', async () => {
    const { p } = await provider();
    const cert = { authorized: true, subject: { CN: 'dev1' }, issuer: { CN: 'ca' }, subjectAltNames: ['DNS:dev1'], fingerprint256: 'AB:CD', serialNumber: '01' };
    const r = await p.authenticate(
      authRequest({ clientId: 'cl-9', username: 'alice', password: Buffer.from('pässword'), protocolVersion: 4, conn: connInfo({ remoteAddress: '10.0.0.7', remotePort: 4242, listener: 'tls:8883', certificate: cert }) }),
    );
    assert.deepEqual(r, { ok: true, tenantId: 'acme', userId: 'alice-id', attrs: { plan: 'gold' }, acl: [{ action: 'publish', topic: 'a/#', allow: true }] });
    assert.deepEqual(bodies.at(-1), {
      clientId: 'cl-9',
      username: 'alice',
      password: 'pässword',
      address: '10.0.0.7',
      port: 4242,
      listener: 'tls:8883',
      protocolVersion: 4,
      certificate: cert,
    });
    p.close();
  });

  test('allow without tenant or user: tenant `default`, user = user name', async () => {
    const { p } = await provider();
    assert.deepEqual(await login(p, 'plain', 'x'), { ok: true, tenantId: 'default', userId: 'plain' });
    p.close();
  });

  test('deny is 0x86 (with the reason), or 0x87 for not_authorized; ignore is skip', async () => {
    const { p } = await provider();
    assert.deepEqual(await login(p, 'alice', 'wrong'), { ok: false, reasonCode: 0x86 });
    assert.deepEqual(await login(p, 'nobody', 'x'), { ok: false, reasonCode: 0x86, reasonString: 'unknown user' });
    assert.deepEqual(await login(p, 'blocked', 'x'), { ok: false, reasonCode: 0x87, reasonString: 'not_authorized' });
    assert.deepEqual(await login(p, 'other', 'x'), { ok: 'skip' });
    p.close();
  });

  test('a non-200 status, a body that is not JSON or not an answer, and a timeout all reject', async () => {
    const { p } = await provider({ timeoutMs: 150 });
    await assert.rejects(login(p, 'broken', 'x'), /HTTP 500/);
    await assert.rejects(login(p, 'garbage', 'x'), /not JSON/);
    await assert.rejects(login(p, 'weird', 'x'), /unexpected answer: result/);
    const started = Date.now();
    await assert.rejects(login(p, 'slow', 'x'), /no answer within 150 ms/);
    assert.ok(Date.now() - started < 2000, 'the timeout did not apply');
    p.close();
    const { p: noKey } = await provider({ headers: {} });
    await assert.rejects(login(noKey, 'plain', 'x'), /HTTP 401/, 'configured headers are sent');
    noKey.close();
  });

  test('errors (which are logged) name the URL without its credentials or query', async () => {
    const u = new URL(`${server.url}/auth`);
    u.username = 'svc';
    u.password = 'TOPSECRET';
    u.search = '?apikey=ALSOSECRET';
    const { p } = await provider({ url: u.href });
    const err = await login(p, 'broken', 'x').then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err, 'the call did not fail');
    assert.match(err.message, /HTTP/);
    assert.doesNotMatch(err.message, /TOPSECRET|ALSOSECRET/, err.message);
    p.close();
  });

  test('MQTT 5 enhanced authentication is skipped without asking the webhook', async () => {
    const { p } = await provider();
    const before = server.requests;
    assert.deepEqual(await p.authenticate(authRequest({ username: 'alice', authMethod: 'SCRAM-RTK', authData: Buffer.alloc(16) })), { ok: 'skip' });
    assert.equal(server.requests, before);
    p.close();
  });
});

describe('cache and connections', () => {
  test('an identical call is answered from the cache (even from another source port) until cacheSeconds pass', async () => {
    const { p, t } = await provider({ cacheSeconds: 30 });
    const start = server.requests;
    assert.equal((await login(p, 'alice', 'pässword', 1111)).ok, true);
    assert.equal((await login(p, 'alice', 'pässword', 2222)).ok, true);
    assert.equal(server.requests - start, 1, 'the second call reached the server');
    assert.equal((await login(p, 'alice', 'wrong')).ok, false);
    assert.equal((await login(p, 'alice', 'wrong')).ok, false);
    assert.equal(server.requests - start, 2, 'deny answers are cached too');
    await login(p, 'other', 'x');
    await login(p, 'other', 'x');
    assert.equal(server.requests - start, 4, 'ignore answers are not cached');
    t.clock.now += 30_001;
    await login(p, 'alice', 'pässword');
    assert.equal(server.requests - start, 5, 'an expired answer was reused');
    p.close();
  });

  test('identical calls in flight share one request', async () => {
    const { p } = await provider();
    const start = server.requests;
    const rs = await Promise.all([login(p, 'plain', 'y'), login(p, 'plain', 'y'), login(p, 'plain', 'y')]);
    assert.ok(rs.every((r) => r.ok === true));
    assert.equal(server.requests - start, 1);
    p.close();
  });

  test('keep-alive: many calls use one TCP connection', async () => {
    const { p } = await provider({ cacheSeconds: 0 });
    const conns = server.connections;
    const start = server.requests;
    for (let i = 0; i < 20; i++) assert.equal((await login(p, 'plain', `pw${i}`)).ok, true);
    assert.equal(server.requests - start, 20);
    assert.equal(server.connections - conns, 1, 'a new TCP connection was opened per call');
    p.close();
  });
});

describe('authorization (aclUrl)', () => {
  const req = (topic: string, action: AuthorizeRequest['action'] = 'publish'): AuthorizeRequest => ({ client: identity(), action, topic, qos: 1, retain: true });

  test('without aclUrl the provider does not authorize at all', async () => {
    const { p } = await provider();
    assert.equal(p.authorize, undefined);
    p.close();
  });

  test('allow, deny and ignore (no opinion); the request names tenant, user, client, action, topic, qos, retain', async () => {
    const { p } = await provider({ aclUrl: `${server.url}/acl` });
    assert.equal(await p.authorize!(req('ok/1')), true);
    assert.deepEqual(bodies.at(-1), { tenant: 'acme', user: 'alice', clientId: 'c1', action: 'publish', topic: 'ok/1', qos: 1, retain: true });
    assert.equal(await p.authorize!(req('no/1', 'subscribe')), false);
    assert.equal(await p.authorize!(req('other/1')), undefined);
    p.close();
  });

  test('answers are cached per request', async () => {
    const { p } = await provider({ aclUrl: `${server.url}/acl` });
    const start = server.requests;
    await p.authorize!(req('ok/2'));
    await p.authorize!(req('ok/2'));
    assert.equal(server.requests - start, 1);
    await p.authorize!(req('ok/2', 'subscribe'));
    assert.equal(server.requests - start, 2, 'another action is another question');
    p.close();
  });
});

test('options are validated and name the key', async () => {
  const bad = async (o: Record<string, unknown>): Promise<RatatoskError> => {
    try {
      await createAuthProviders([{ type: 'http', ...o }], testContext().ctx);
    } catch (err) {
      return err as RatatoskError;
    }
    assert.fail('built');
  };
  assert.match((await bad({})).message, /auth\.providers\.0\.url: /);
  assert.match((await bad({ url: 'ftp://x' })).message, /auth\.providers\.0\.url: expected an http/);
  assert.match((await bad({ url: 'http://x', timeoutMs: 0 })).message, /auth\.providers\.0\.timeoutMs/);
  assert.match((await bad({ url: 'http://x', headers: { a: 1 } })).message, /auth\.providers\.0\.headers\.a/);
});
