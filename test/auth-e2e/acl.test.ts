/**
 * Access rules end to end: rules from a users file (`file` provider) decide PUBLISH and SUBSCRIBE
 * for real MQTT.js clients; %u, %c and %t substitution; first match wins; default deny; the user's
 * rules before the tenant's; the answers and events of a refusal in MQTT 5 and 3.1.1; wildcard
 * subscriptions only within a rule. Then the per-connection authorization cache with an `http`
 * authorizer, and its reset by MQTT 5 re-authentication (SCRAM example plugin).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { hashPassword } from '../../src/auth/passwd';
import type { TestBroker } from '../helpers/broker';
import {
  attempt,
  end,
  httpServer,
  hx,
  Inbox,
  mustConnect,
  pubCode,
  RC,
  RC311,
  recordEvents,
  scramConnect,
  scramReauth,
  rawPublish,
  sleep,
  start,
  subCodes,
  T,
  uid,
  unsubCodes,
  until,
  type TestHttpServer,
} from './helpers';

const PASSWORD = 'same-for-all';

/** Users and their rules (username → tenant, user id, rules). */
const USERS: { username: string; tenant: string; user?: string; acl?: { action: string; topic: string; allow: boolean }[] }[] = [
  { username: 'byclient', tenant: 'acme', acl: [{ action: 'publish', topic: 'devices/%c/#', allow: true }] },
  {
    username: 'byuser',
    user: 'bob',
    tenant: 'acme',
    acl: [
      { action: 'publish', topic: 'users/%u/#', allow: true },
      { action: 'subscribe', topic: 'users/%u/#', allow: true },
    ],
  },
  { username: 'bytenant', tenant: 'acme', acl: [{ action: 'pubsub', topic: 'tenants/%t/#', allow: true }] },
  {
    username: 'denyfirst',
    tenant: 'acme',
    acl: [
      { action: 'publish', topic: 'a/b', allow: false },
      { action: 'publish', topic: 'a/#', allow: true },
      { action: 'subscribe', topic: 'devices/#', allow: true },
    ],
  },
  {
    username: 'allowfirst',
    tenant: 'acme',
    acl: [
      { action: 'publish', topic: 'a/#', allow: true },
      { action: 'publish', topic: 'a/b', allow: false },
    ],
  },
  { username: 'watcher', tenant: 'acme', acl: [{ action: 'subscribe', topic: '#', allow: true }] },
  // Tenant beta has default rules (below); `own` adds one of its own in front of them.
  { username: 'own', tenant: 'beta', acl: [{ action: 'pubsub', topic: 'public/secret', allow: false }] },
  { username: 'plain', tenant: 'beta' },
];

const TENANTS = `tenants:
  beta:
    acl:
      - { action: pubsub, topic: "public/#", allow: true }
`;

async function usersFile(): Promise<string> {
  const hash = await hashPassword(PASSWORD);
  const lines = ['users:'];
  for (const u of USERS) {
    lines.push(`  - username: ${u.username}`, `    password: "${hash}"`, `    tenant: ${u.tenant}`);
    if (u.user) lines.push(`    user: ${u.user}`);
    if (u.acl) {
      lines.push('    acl:');
      for (const r of u.acl) lines.push(`      - { action: ${r.action}, topic: "${r.topic}", allow: ${r.allow} }`);
    }
  }
  return `${lines.join('\n')}\n${TENANTS}`;
}

describe('access rules from the file provider', () => {
  let dir: string;
  let tb: TestBroker;
  const clients: MqttClient[] = [];
  const as = async (username: string, version: 4 | 5 = 5, clientId = uid(username)): Promise<MqttClient> => {
    const c = await mustConnect(tb.port, { username, password: PASSWORD, protocolVersion: version, clientId });
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rtk-acl-'));
    const path = join(dir, 'users.yaml');
    writeFileSync(path, await usersFile());
    tb = await start({ auth: { providers: [{ type: 'file', path }] } });
  });

  after(async () => {
    await Promise.all(clients.map((c) => end(c)));
    await tb.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('%c: `devices/%c/#` lets client c1 publish to devices/c1/x but not devices/c2/x', T, async () => {
    const id = uid('dev');
    const c = await as('byclient', 5, id);
    assert.ok((await pubCode(c, `devices/${id}/x`, 'm', 1)) < 0x80, 'own client id');
    assert.equal(await pubCode(c, `devices/${id}z/x`, 'm', 1), RC.NotAuthorized, 'another client id');
    assert.equal(await pubCode(c, 'devices/byclient/x', 'm', 1), RC.NotAuthorized, '%c is the client id, not the user name');
    // A publish rule grants no subscription.
    assert.deepEqual(await subCodes(c, [`devices/${id}/#`]), [RC.NotAuthorized]);
  });

  it('%u: the user id (not the user name) fills the rule, for publish and subscribe', T, async () => {
    const c = await as('byuser');
    assert.ok((await pubCode(c, 'users/bob/x', 'm', 1)) < 0x80);
    assert.equal(await pubCode(c, 'users/byuser/x', 'm', 1), RC.NotAuthorized);
    assert.equal(await pubCode(c, 'users/alice/x', 'm', 1), RC.NotAuthorized);
    assert.deepEqual(await subCodes(c, ['users/bob/#', 'users/alice/#', 'users/+/x']), [1, RC.NotAuthorized, RC.NotAuthorized]);
  });

  it('%t and pubsub: one rule covers both publish and subscribe in the own tenant only', T, async () => {
    const c = await as('bytenant');
    assert.ok((await pubCode(c, 'tenants/acme/x', 'm', 1)) < 0x80);
    assert.equal(await pubCode(c, 'tenants/beta/x', 'm', 1), RC.NotAuthorized);
    assert.deepEqual(await subCodes(c, ['tenants/acme/#', 'tenants/beta/#']), [1, RC.NotAuthorized]);
  });

  it('unsubscribe is always allowed, even from a filter no rule grants', T, async () => {
    const c = await as('byclient');
    assert.deepEqual(await subCodes(c, ['secret/#']), [RC.NotAuthorized]);
    // 0x11 No subscription existed: the UNSUBSCRIBE was processed, not refused (0x87).
    assert.deepEqual(await unsubCodes(c, ['secret/#']), [RC.NoSubscriptionExisted]);
    const d = await as('denyfirst');
    assert.deepEqual(await subCodes(d, ['devices/a/#']), [1]);
    assert.deepEqual(await unsubCodes(d, ['devices/a/#']), [RC.Success]);
  });

  it('first match wins; when no rule matches, the action is denied', T, async () => {
    const deny = await as('denyfirst');
    assert.equal(await pubCode(deny, 'a/b', 'm', 1), RC.NotAuthorized, 'deny a/b comes first');
    assert.ok((await pubCode(deny, 'a/c', 'm', 1)) < 0x80, 'a/# allows the rest');
    assert.equal(await pubCode(deny, 'b/c', 'm', 1), RC.NotAuthorized, 'no rule matches b/c: default deny');
    const allow = await as('allowfirst');
    assert.ok((await pubCode(allow, 'a/b', 'm', 1)) < 0x80, 'allow a/# comes first');
    assert.deepEqual(await subCodes(allow, ['a/#']), [RC.NotAuthorized], 'no subscribe rule: default deny');
  });

  it('the user\'s rules come before the tenant\'s defaults', T, async () => {
    const own = await as('own');
    assert.equal(await pubCode(own, 'public/secret', 'm', 1), RC.NotAuthorized, 'own deny before the tenant allow');
    assert.ok((await pubCode(own, 'public/news', 'm', 1)) < 0x80, 'the tenant rule still applies after');
    assert.deepEqual(await subCodes(own, ['public/secret', 'public/news']), [RC.NotAuthorized, 1]);
    const plain = await as('plain');
    assert.ok((await pubCode(plain, 'public/secret', 'm', 1)) < 0x80, 'a user without rules of his own gets the tenant rules');
    assert.equal(await pubCode(plain, 'private/x', 'm', 1), RC.NotAuthorized, 'and default deny beyond them');
  });

  it('a denied PUBLISH: MQTT 5 PUBACK/PUBREC 0x87 and an acl.denied event; nothing is delivered', T, async () => {
    const events = recordEvents(tb.broker);
    const watcher = await as('watcher');
    const inbox = new Inbox(watcher);
    assert.deepEqual(await subCodes(watcher, ['#']), [1]);
    const id = uid('v5pub');
    const c = await as('denyfirst', 5, id);
    assert.equal(await pubCode(c, 'a/b', 'q1', 1), RC.NotAuthorized, 'PUBACK');
    assert.equal(await pubCode(c, 'a/b', 'q2', 2), RC.NotAuthorized, 'PUBREC');
    assert.ok((await pubCode(c, 'a/ok', 'fine', 1)) < 0x80);
    await inbox.waitTopic('a/ok');
    await sleep(100);
    assert.deepEqual(inbox.topics(), ['a/ok']);
    const denied = events.filter((e) => e.type === 'acl.denied' && e.clientId === id);
    assert.equal(denied.length, 2);
    assert.deepEqual({ ...denied[0], time: 0 }, { type: 'acl.denied', tenantId: 'acme', clientId: id, action: 'publish', topic: 'a/b', time: 0 });
    assert.equal(typeof denied[0]!.time, 'number');
  });

  it('a denied PUBLISH: MQTT 3.1.1 drops it silently (acknowledged, not delivered, still connected) and reports acl.denied', T, async () => {
    const events = recordEvents(tb.broker);
    const watcher = await as('watcher');
    const inbox = new Inbox(watcher);
    assert.deepEqual(await subCodes(watcher, ['#']), [1]);
    const id = uid('v4pub');
    const c = await as('denyfirst', 4, id);
    assert.equal(await pubCode(c, 'a/b', 'q1', 1), 0, 'PUBACK (no reason code in 3.1.1)');
    assert.equal(await pubCode(c, 'a/b', 'q2', 2), 0, 'PUBREC/PUBCOMP');
    await pubCode(c, 'a/b', 'q0', 0);
    assert.ok((await pubCode(c, 'a/ok3', 'fine', 1)) < 0x80);
    await inbox.waitTopic('a/ok3');
    await sleep(100);
    assert.deepEqual(inbox.topics(), ['a/ok3'], 'the denied messages must not be delivered');
    assert.equal(c.connected, true);
    await until(() => events.filter((e) => e.type === 'acl.denied' && e.clientId === id).length === 3, () => 'three acl.denied events');
  });

  for (const version of [5, 4] as const) {
    it(`a denied SUBSCRIBE: SUBACK ${version === 5 ? '0x87' : '0x80'} and an acl.denied event`, T, async () => {
      const events = recordEvents(tb.broker);
      const id = uid('sub');
      const c = await as('denyfirst', version, id);
      assert.deepEqual(await subCodes(c, ['secret/#', 'devices/x/temp'], 1), [version === 5 ? RC.NotAuthorized : 0x80, 1]);
      const denied = events.find((e) => e.type === 'acl.denied' && e.clientId === id);
      assert.ok(denied && denied.type === 'acl.denied');
      assert.equal(denied.action, 'subscribe');
      assert.equal(denied.topic, 'secret/#');
      assert.equal(denied.tenantId, 'acme');
    });
  }

  it('a will the rules do not let the client publish: CONNACK 0x87 (3.1.1: 5) and acl.denied; an allowed will is published', T, async () => {
    const events = recordEvents(tb.broker);
    const watcher = await as('watcher');
    const inbox = new Inbox(watcher);
    assert.deepEqual(await subCodes(watcher, ['#']), [1]);
    for (const version of [5, 4] as const) {
      const id = uid(`will${version}`);
      const will = { topic: 'alarm/all', payload: Buffer.from('forged'), qos: 1 as const, retain: true };
      const refused = await attempt(tb.port, { username: 'byclient', password: PASSWORD, protocolVersion: version, clientId: id, will });
      assert.equal(refused.code, version === 5 ? RC.NotAuthorized : RC311.NotAuthorized, `MQTT ${version}: ${refused.connack?.properties?.reasonString ?? ''}`);
      const denied = events.filter((e) => e.type === 'acl.denied' && e.clientId === id);
      assert.deepEqual(
        denied.map((e) => e.type === 'acl.denied' && [e.action, e.topic]),
        [['publish', 'alarm/all']],
      );
    }
    const id = uid('willok');
    const ok = await mustConnect(tb.port, { username: 'byclient', password: PASSWORD, clientId: id, will: { topic: `devices/${id}/lwt`, payload: Buffer.from('gone'), qos: 1, retain: false } });
    ok.stream.destroy(); // no DISCONNECT: the will goes out
    await inbox.waitTopic(`devices/${id}/lwt`);
    await sleep(100);
    assert.ok(!inbox.topics().includes('alarm/all'), `a refused will was published: ${inbox.topics().join(', ')}`);
  });

  it('a wildcard subscription is granted only when the rule covers it (`devices/#`)', T, async () => {
    const c = await as('denyfirst');
    // `devices/#` also matches the parent level `devices` [MQTT-4.7.1-2], so it covers that filter.
    assert.deepEqual(await subCodes(c, ['devices/+/temp', 'devices/#', 'devices/a/b/c', 'devices', '#', '+/temp', 'device/+', '+/#']), [
      1,
      1,
      1,
      1,
      RC.NotAuthorized,
      RC.NotAuthorized,
      RC.NotAuthorized,
      RC.NotAuthorized,
    ]);
  });
});

describe('per-connection authorization cache', () => {
  let hook: TestHttpServer;
  let acl: string[];
  const providers = (url: string) => [
    { type: 'plugin', module: './dist/examples/plugins/scram-auth.js', config: { iterations: 64, users: { alice: { password: 'scram-pw', tenant: 'acme' } } } },
    // The provider's own answer cache is off: every question reaches the endpoint unless the
    // connection's cache answers.
    { type: 'http', url: `${url}/auth`, aclUrl: `${url}/acl`, cacheSeconds: 0 },
  ];

  before(async () => {
    acl = [];
    hook = await httpServer((path, body) => {
      if (path === '/acl') {
        const b = body as { action: string; topic: string; retain?: boolean };
        acl.push(`${b.action} ${b.topic}${b.retain ? ' retained' : ''}`);
        return [200, { result: b.topic.startsWith('no/') || b.retain === true ? 'deny' : 'allow' }];
      }
      return [200, { result: 'ignore' }];
    });
  });

  after(async () => {
    await hook.close();
  });

  it('with aclCacheSeconds, a second identical PUBLISH does not ask the authorizer again; re-authentication (AUTH 0x19) drops the cache', T, async () => {
    const tb = await start({ auth: { providers: providers(hook.url), aclCacheSeconds: 30 } });
    const { raw, connack } = await scramConnect(tb.port, 'alice', 'scram-pw');
    try {
      assert.equal(connack?.reasonCode, RC.Success);
      acl.length = 0;
      assert.ok((await rawPublish(raw, 'c/t')) < 0x80);
      assert.ok((await rawPublish(raw, 'c/t')) < 0x80);
      assert.equal(await rawPublish(raw, 'no/t'), RC.NotAuthorized);
      assert.equal(await rawPublish(raw, 'no/t'), RC.NotAuthorized);
      assert.deepEqual(acl, ['publish c/t', 'publish no/t'], 'one question per topic while cached');
      const { end: done } = await scramReauth(raw, 'alice', 'scram-pw');
      assert.ok(done?.type === 15 && (done.reasonCode ?? 0) === 0, `re-authentication ended with packet type ${done?.type} ${hx((done as { reasonCode?: number } | undefined)?.reasonCode)}`);
      assert.ok((await rawPublish(raw, 'c/t')) < 0x80);
      assert.equal(await rawPublish(raw, 'no/t'), RC.NotAuthorized);
      assert.deepEqual(acl, ['publish c/t', 'publish no/t', 'publish c/t', 'publish no/t'], 'asked again after re-authentication');
    } finally {
      raw.close();
      await tb.stop();
    }
  });

  it('a cached answer is per QoS and retain flag: a retained PUBLISH after an allowed plain one is asked about, and refused', T, async () => {
    const tb = await start({ auth: { providers: providers(hook.url), aclCacheSeconds: 30 } });
    const { raw, connack } = await scramConnect(tb.port, 'alice', 'scram-pw');
    try {
      assert.equal(connack?.reasonCode, RC.Success);
      acl.length = 0;
      assert.ok((await rawPublish(raw, 'r/t')) < 0x80);
      assert.equal(await rawPublish(raw, 'r/t', 'keep me', true), RC.NotAuthorized, 'the retained PUBLISH got the plain one\'s answer');
      assert.deepEqual(acl, ['publish r/t', 'publish r/t retained']);
    } finally {
      raw.close();
      await tb.stop();
    }
  });

  it('with aclCacheSeconds 0, every PUBLISH asks the authorizer', T, async () => {
    const tb = await start({ auth: { providers: providers(hook.url), aclCacheSeconds: 0 } });
    const { raw, connack } = await scramConnect(tb.port, 'alice', 'scram-pw');
    try {
      assert.equal(connack?.reasonCode, RC.Success);
      acl.length = 0;
      assert.ok((await rawPublish(raw, 'c/t')) < 0x80);
      assert.ok((await rawPublish(raw, 'c/t')) < 0x80);
      assert.deepEqual(acl, ['publish c/t', 'publish c/t']);
    } finally {
      raw.close();
      await tb.stop();
    }
  });
});
