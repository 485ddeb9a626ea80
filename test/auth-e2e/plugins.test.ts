/**
 * Plugins loaded from the configuration by module path, end to end: the example ClientBalancer
 * (MQTT 5 server redirection), SettingProvider (a tenant's maxQoS changed without a restart),
 * EventCollector (memory collector: every event kind with its fields), the built-in `http` event
 * collector against a local server, and the example ResourceThrottler (connection cap, 0x97).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { clear as clearMemory, events as memoryEvents } from '../../examples/plugins/memory-collector';
import type { TimedEvent } from '../../src/plugins/event-bus';
import type { TestBroker } from '../helpers/broker';
import { RawClient } from '../helpers/raw-client';
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
  sleep,
  start,
  subCodes,
  T,
  uid,
  until,
} from './helpers';

const EX = './dist/examples/plugins';

describe('ClientBalancer plugin (examples/plugins/redirect-balancer)', () => {
  const balancer = (permanent: boolean) => ({
    plugins: { balancer: { module: `${EX}/redirect-balancer.js`, config: { tenants: ['acme'], serverReference: 'mqtt-eu.example.com:1883', permanent } } },
  });

  it('MQTT 5 clients of a listed tenant get CONNACK 0x9C with the Server Reference; others connect', T, async () => {
    const tb = await start(balancer(false));
    try {
      const events = recordEvents(tb.broker);
      const a = await attempt(tb.port, { username: 'acme/u1' });
      assert.equal(a.code, RC.UseAnotherServer, `got ${hx(a.code)}`);
      assert.equal(a.connack?.properties?.serverReference, 'mqtt-eu.example.com:1883');
      const refused = events.find((e) => e.type === 'client.refused');
      assert.ok(refused && refused.type === 'client.refused');
      assert.equal(refused.reasonCode, RC.UseAnotherServer);
      const other = await mustConnect(tb.port, { username: 'globex/u1' });
      await end(other);
    } finally {
      await tb.stop();
    }
  });

  it('with permanent: true the code is 0x9D Server moved', T, async () => {
    const tb = await start(balancer(true));
    try {
      const a = await attempt(tb.port, { username: 'acme/u1' });
      assert.equal(a.code, RC.ServerMoved, `got ${hx(a.code)}`);
      assert.equal(a.connack?.properties?.serverReference, 'mqtt-eu.example.com:1883');
    } finally {
      await tb.stop();
    }
  });

  it('a 3.1.1 client of that tenant is not redirected (it has no way to follow): it connects', T, async () => {
    const tb = await start(balancer(true));
    try {
      const c = await mustConnect(tb.port, { username: 'acme/u1', protocolVersion: 4 });
      assert.ok((await pubCode(c, 'x/y', 'z', 1)) < 0x80);
      await end(c);
    } finally {
      await tb.stop();
    }
  });
});

describe('SettingProvider plugin (examples/plugins/tenant-settings)', () => {
  let dir: string;
  let file: string;
  let tb: TestBroker;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rtk-settings-'));
    file = join(dir, 'tenants.json');
    writeFileSync(file, JSON.stringify({ acme: { maxQoS: 2 } }));
    tb = await start({ plugins: { settings: { module: `${EX}/tenant-settings.js`, refreshSeconds: 0.2, config: { path: file, checkMs: 0 } } } });
  });

  after(async () => {
    await tb.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** CONNACK Maximum QoS of new acme connections until it is `want` (or `ms` pass); the last one seen. */
  async function waitMaxQoS(username: string, want: number | undefined, ms: number): Promise<number | undefined> {
    const since = Date.now();
    let seen: number | undefined;
    do {
      const a = await attempt(tb.port, { username });
      assert.equal(a.code, 0);
      seen = a.connack?.properties?.maximumQoS;
      if (seen === want) {
        if (want === 1) assert.deepEqual(await subCodes(a.client!, ['s/#'], 2), [1], 'QoS 2 is granted as 1 now');
        await end(a.client);
        return seen;
      }
      await end(a.client);
      await sleep(100);
    } while (Date.now() - since < ms);
    return seen;
  }

  it('a change of a tenant\'s maxQoS applies to its new connections without a restart, to that tenant only', T, async () => {
    writeFileSync(file, JSON.stringify({ acme: { maxQoS: 2 } }));
    // A client of the tenant stays connected meanwhile: the tenant is in use.
    const keeper = await mustConnect(tb.port, { username: 'acme/keeper' });
    try {
      assert.equal(await waitMaxQoS('acme/u', undefined, 2000), undefined, 'QoS 2 allowed at first');
      writeFileSync(file, JSON.stringify({ acme: { maxQoS: 1 } }));
      assert.equal(await waitMaxQoS('acme/u', 1, 4000), 1, 'CONNACK Maximum QoS 1 within 4 s of the change');
      const other = await attempt(tb.port, { username: 'globex/u' });
      assert.equal(other.code, 0);
      assert.equal(other.connack?.properties?.maximumQoS, undefined, 'another tenant keeps QoS 2');
      await end(other.client);
    } finally {
      await end(keeper);
    }
  });

  it('a change made while the tenant has no connection applies to its next connection', T, async () => {
    writeFileSync(file, JSON.stringify({ globex: { maxQoS: 2 } }));
    assert.equal(await waitMaxQoS('globex/u', undefined, 2000), undefined, 'QoS 2 allowed at first');
    // Nobody of globex is connected now; the file changes; the refresh interval (0.2 s) passes.
    writeFileSync(file, JSON.stringify({ globex: { maxQoS: 1 } }));
    await sleep(1000);
    const a = await attempt(tb.port, { username: 'globex/u' });
    await end(a.client);
    assert.equal(a.code, 0);
    assert.equal(a.connack?.properties?.maximumQoS, 1, 'the next connection of the tenant gets Maximum QoS 1');
  });
});

describe('EventCollector plugin (examples/plugins/memory-collector)', () => {
  let tb: TestBroker;

  before(async () => {
    clearMemory();
    tb = await start({
      auth: {
        providers: [
          {
            type: 'plugin',
            module: './dist/test/auth-e2e/fixtures/faulty-auth.js',
            config: { acl: [{ action: 'pubsub', topic: 'ok/#', allow: true }] },
          },
        ],
      },
      events: [{ type: 'plugin', module: `${EX}/memory-collector.js`, config: { max: 1000 } }],
    });
  });

  after(async () => {
    await tb.stop();
  });

  const find = <K extends TimedEvent['type']>(type: K, pred: (e: Extract<TimedEvent, { type: K }>) => boolean = () => true) =>
    memoryEvents.find((e) => e.type === type && pred(e as Extract<TimedEvent, { type: K }>)) as Extract<TimedEvent, { type: K }> | undefined;
  const waitFor = async <K extends TimedEvent['type']>(type: K, pred: (e: Extract<TimedEvent, { type: K }>) => boolean = () => true) => {
    await until(() => find(type, pred) !== undefined, () => `no ${type} event; got ${memoryEvents.map((e) => e.type).join(', ')}`);
    return find(type, pred)!;
  };

  it('receives client.connected / session.started / acl.denied / retain.changed / message.dropped / client.disconnected / session.ended with their fields', T, async () => {
    const pubId = uid('pub');
    const subId = uid('sub');
    const started = Date.now();
    const pub = await mustConnect(tb.port, { username: 'acme/alice', clientId: pubId, keepalive: 42 });
    // A subscriber that accepts at most 128-byte packets: a bigger message is dropped for it.
    const sub = await mustConnect(tb.port, { username: 'acme/bob', clientId: subId, properties: { maximumPacketSize: 128 } });
    const inbox = new Inbox(sub);
    assert.deepEqual(await subCodes(sub, ['ok/#'], 1), [1]);

    const connected = await waitFor('client.connected', (e) => e.clientId === pubId);
    assert.equal(connected.tenantId, 'acme');
    assert.equal(connected.userId, 'alice');
    assert.match(connected.address, /127\.0\.0\.1$/);
    assert.equal(connected.protocolVersion, 5);
    assert.equal(connected.cleanStart, true);
    assert.equal(connected.sessionPresent, false);
    assert.equal(connected.keepAlive, 42);
    assert.equal(typeof connected.listener, 'string');
    assert.ok(connected.time >= started - 5 && connected.time <= Date.now() + 5, 'time is the event time in ms');

    const session = await waitFor('session.started', (e) => e.clientId === pubId);
    assert.deepEqual({ ...session, time: 0 }, { type: 'session.started', tenantId: 'acme', clientId: pubId, persistent: false, resumed: false, time: 0 });

    assert.equal(await pubCode(pub, 'no/x', 'denied', 1), RC.NotAuthorized);
    const denied = await waitFor('acl.denied', (e) => e.clientId === pubId);
    assert.deepEqual({ ...denied, time: 0 }, { type: 'acl.denied', tenantId: 'acme', clientId: pubId, action: 'publish', topic: 'no/x', time: 0 });

    assert.ok((await pubCode(pub, 'ok/r', 'kept', 1, true)) < 0x80);
    const retained = await waitFor('retain.changed', (e) => e.topic === 'ok/r' && !e.deleted);
    assert.equal(retained.tenantId, 'acme');
    assert.ok((await pubCode(pub, 'ok/r', '', 1, true)) < 0x80);
    await waitFor('retain.changed', (e) => e.topic === 'ok/r' && e.deleted);

    assert.ok((await pubCode(pub, 'ok/big', 'x'.repeat(400), 1)) < 0x80);
    const dropped = await waitFor('message.dropped', (e) => e.clientId === subId);
    assert.deepEqual({ ...dropped, time: 0 }, { type: 'message.dropped', tenantId: 'acme', clientId: subId, topic: 'ok/big', qos: 1, reason: 'packet-too-large', time: 0 });
    assert.ok(!inbox.topics().includes('ok/big'));

    await end(pub);
    const gone = await waitFor('client.disconnected', (e) => e.clientId === pubId);
    assert.equal(gone.tenantId, 'acme');
    assert.equal(gone.by, 'client');
    assert.equal(gone.reasonCode, 0);
    assert.match(gone.address, /127\.0\.0\.1$/);
    assert.equal(typeof gone.reason, 'string');
    const ended = await waitFor('session.ended', (e) => e.clientId === pubId);
    assert.equal(ended.reason, 'clean');
    assert.equal(ended.tenantId, 'acme');
    await end(sub);
  });

  it('receives client.refused for a refused CONNECT, and client.disconnected 0x8E (by server) on a takeover', T, async () => {
    const id = uid('take');
    const first = await mustConnect(tb.port, { username: 'acme/t', clientId: id });
    const second = await mustConnect(tb.port, { username: 'acme/t', clientId: id });
    const gone = await waitFor('client.disconnected', (e) => e.clientId === id);
    assert.equal(gone.by, 'server');
    assert.equal(gone.reasonCode, 0x8e, 'session taken over');
    await Promise.all([end(first), end(second)]);
    // A CONNECT refused by the broker: an empty client id with a persistent 3.1.1 session
    // (MQTT.js will not send that: a raw socket does).
    const raw = await RawClient.open(tb.port, 4);
    try {
      raw.send({ type: 1, protocolName: 'MQTT', protocolVersion: 4, cleanStart: false, keepAlive: 30, clientId: '', username: 'acme/r' }, 4);
      const connack = await raw.next(2);
      assert.equal(connack?.type === 2 ? connack.reasonCode : undefined, 2, 'identifier rejected');
    } finally {
      raw.close();
    }
    const ev = await waitFor('client.refused', (e) => e.reasonCode === 0x85);
    assert.match(ev.address, /127\.0\.0\.1$/);
    assert.equal(typeof ev.reason, 'string');
  });
});

describe('built-in http event collector', () => {
  it('POSTs batches (arrays of at most batchSize events) to a local server', T, async () => {
    const batches: unknown[][] = [];
    const hook = await httpServer((path, body) => {
      if (path === '/events' && Array.isArray(body)) batches.push(body);
      return [200, {}];
    });
    const tb = await start({ events: [{ type: 'http', url: `${hook.url}/events`, batchSize: 3, flushMs: 100, types: ['client.connected', 'client.disconnected'] }] });
    try {
      const ids = [uid('h'), uid('h'), uid('h'), uid('h')];
      for (const id of ids) await end(await mustConnect(tb.port, { username: 'acme/h', clientId: id }));
      const all = (): { type: string; clientId?: string; time?: number }[] => batches.flat() as { type: string; clientId?: string }[];
      await until(() => all().filter((e) => e.type === 'client.disconnected').length >= ids.length, () => `events received: ${JSON.stringify(all())}`, 5000);
      assert.ok(batches.length >= 3, `8 events in batches of at most 3 need at least 3 requests, got ${batches.length}`);
      for (const b of batches) assert.ok(b.length >= 1 && b.length <= 3, `a batch of ${b.length}`);
      for (const id of ids) {
        const c = all().find((e) => e.type === 'client.connected' && e.clientId === id);
        assert.ok(c, `client.connected of ${id}`);
        assert.equal(typeof c.time, 'number');
      }
      assert.ok(all().every((e) => e.type === 'client.connected' || e.type === 'client.disconnected'), 'only the configured types');
    } finally {
      await tb.stop();
      await hook.close();
    }
  });
});

describe('ResourceThrottler plugin (examples/plugins/connection-cap)', () => {
  let tb: TestBroker;
  const instance = `cap-${process.pid}`;

  before(async () => {
    tb = await start({
      plugins: { throttler: { module: `${EX}/connection-cap.js`, config: { instance, default: 0, limits: { acme: 2 } } } },
      events: [{ type: 'plugin', module: `${EX}/connection-cap.js`, config: { instance } }],
    });
  });

  after(async () => {
    await tb.stop();
  });

  it('refuses connections beyond its cap with 0x97 (3.1.1: return code 3); other tenants and freed slots connect', T, async () => {
    const events = recordEvents(tb.broker);
    const one = await mustConnect(tb.port, { username: 'acme/1' });
    const two = await mustConnect(tb.port, { username: 'acme/2' });
    try {
      const three = await attempt(tb.port, { username: 'acme/3' });
      assert.equal(three.code, RC.QuotaExceeded, `got ${hx(three.code)}`);
      const three4 = await attempt(tb.port, { username: 'acme/3', protocolVersion: 4 });
      assert.equal(three4.code, RC311.ServerUnavailable, `3.1.1: got ${three4.code}`);
      const quota = events.find((e) => e.type === 'quota.exceeded');
      assert.ok(quota && quota.type === 'quota.exceeded');
      assert.equal(quota.tenantId, 'acme');
      assert.equal(quota.quota, 'connections');
      const g = await mustConnect(tb.port, { username: 'globex/1' });
      await end(g);
      await end(one);
      await until(() => events.some((e) => e.type === 'client.disconnected' && e.tenantId === 'acme'), () => 'acme/1 disconnected');
      const again = await mustConnect(tb.port, { username: 'acme/3' });
      await end(again);
    } finally {
      await Promise.all([end(one), end(two)]);
    }
  });
});
