/**
 * Plugin failures are isolated (docs/plugins.md "Failures"): a plugin that throws, rejects or hangs
 * is timed out, logged (RTK_PLUGIN_FAILED / RTK_PLUGIN_TIMEOUT) and counted, the failure policy
 * decides (`auth.onFailure` for auth providers, `plugins.onFailure` for the throttler; a failing
 * balancer lets the client in; a failing collector or setting provider changes nothing), and the
 * broker keeps serving everyone else. Fixture plugins: test/auth-e2e/fixtures/faulty-*.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { events as memoryEvents, clear as clearMemory } from '../../examples/plugins/memory-collector';
import type { TestBroker } from '../helpers/broker';
import {
  attempt,
  authServiceOf,
  captureLogger,
  end,
  hx,
  Inbox,
  type LogRecord,
  mustConnect,
  pluginGuardOf,
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

const FAULTY_AUTH = './dist/test/auth-e2e/fixtures/faulty-auth.js';
const FAULTY = './dist/test/auth-e2e/fixtures/faulty-plugins.js';
const TIMEOUT_MS = 300;

/** A subscriber and a publisher of one tenant exchange a message: the broker still serves. */
async function stillServing(port: number, tenant = 'acme'): Promise<void> {
  const sub = await mustConnect(port, { username: `${tenant}/s` });
  const pub = await mustConnect(port, { username: `${tenant}/p` });
  try {
    const inbox = new Inbox(sub);
    assert.deepEqual(await subCodes(sub, ['alive/#'], 1), [1]);
    const topic = `alive/${uid('t')}`;
    assert.ok((await pubCode(pub, topic, 'ping', 1)) < 0x80);
    await inbox.waitTopic(topic);
  } finally {
    await Promise.all([end(sub), end(pub)]);
  }
}

function failureLogs(lines: LogRecord[], plugin: string): LogRecord[] {
  return lines.filter((l) => l.plugin === plugin && (l.code === 'RTK_PLUGIN_FAILED' || l.code === 'RTK_PLUGIN_TIMEOUT'));
}

/** A broker whose only auth provider is the faulty fixture with `config` (onFailure deny), and its captured log. */
async function withFaultyAuth(config: Record<string, unknown>): Promise<{ tb: TestBroker; logs: LogRecord[] }> {
  const captured = captureLogger();
  const tb = await start({ auth: { timeoutMs: TIMEOUT_MS, providers: [{ type: 'plugin', module: FAULTY_AUTH, config }] } }, { logger: captured.logger });
  return { tb, logs: captured.lines };
}

describe('a failing auth provider, auth.onFailure deny (the default)', () => {
  let tb: TestBroker;
  let logs: LogRecord[];
  let early: MqttClient;

  before(async () => {
    ({ tb, logs } = await withFaultyAuth({ throwFor: ['acme/bad'], rejectFor: ['acme/worse'], hangFor: ['acme/slow'], authorizeThrowsOn: 'boom/', authorizeHangsOn: 'hang/' }));
    early = await mustConnect(tb.port, { username: 'acme/early' });
  });

  after(async () => {
    await end(early);
    await tb.stop();
  });

  for (const version of [5, 4] as const) {
    it(`authenticate throws or rejects: CONNACK ${version === 5 ? '0x88 Server unavailable' : 'return code 3'} at once; logged and counted`, T, async () => {
      const failures = authServiceOf(tb.broker).failures;
      for (const username of ['acme/bad', 'acme/worse']) {
        const a = await attempt(tb.port, { username, protocolVersion: version });
        assert.equal(a.code, version === 5 ? RC.ServerUnavailable : RC311.ServerUnavailable, `${username}: got ${hx(a.code)}`);
        assert.ok(a.ms < TIMEOUT_MS, `${username}: answered after ${a.ms} ms; a throw needs no timeout`);
      }
      assert.equal(authServiceOf(tb.broker).failures, failures + 2, 'two provider failures counted');
      await until(() => failureLogs(logs, 'auth#0.authenticate').filter((l) => l.code === 'RTK_PLUGIN_FAILED').length >= 2, () => 'RTK_PLUGIN_FAILED logged');
      await stillServing(tb.port);
    });
  }

  it('authenticate never resolves: CONNACK 0x88 after auth.timeoutMs; logged as a timeout; others are served meanwhile', T, async () => {
    const failures = authServiceOf(tb.broker).failures;
    const slow = attempt(tb.port, { username: 'acme/slow' });
    // While the hung call waits for its timeout, other clients connect and work.
    await stillServing(tb.port);
    const a = await slow;
    assert.equal(a.code, RC.ServerUnavailable, `got ${hx(a.code)}`);
    assert.ok(a.ms >= TIMEOUT_MS - 20 && a.ms < TIMEOUT_MS + 1000, `answered after ${a.ms} ms (timeout ${TIMEOUT_MS} ms)`);
    assert.equal(authServiceOf(tb.broker).failures, failures + 1);
    assert.ok(failureLogs(logs, 'auth#0.authenticate').some((l) => l.code === 'RTK_PLUGIN_TIMEOUT'), 'RTK_PLUGIN_TIMEOUT logged');
  });

  it('authorize throws or hangs: the action is refused (PUBACK/SUBACK 0x87), the client stays connected', T, async () => {
    const events = recordEvents(tb.broker);
    const c = await mustConnect(tb.port, { username: 'acme/auth' });
    try {
      const failures = authServiceOf(tb.broker).failures;
      assert.equal(await pubCode(c, 'boom/x', 'm', 1), RC.NotAuthorized, 'throwing authorize');
      assert.deepEqual(await subCodes(c, ['boom/#', 'fine/#'], 1), [RC.NotAuthorized, 1]);
      const started = Date.now();
      assert.equal(await pubCode(c, 'hang/x', 'm', 1), RC.NotAuthorized, 'hanging authorize');
      assert.ok(Date.now() - started >= TIMEOUT_MS - 20, 'refused after the timeout');
      assert.ok((await pubCode(c, 'fine/x', 'm', 1)) < 0x80, 'other topics are fine');
      assert.ok(authServiceOf(tb.broker).failures >= failures + 3, 'authorize failures counted');
      assert.ok(events.some((e) => e.type === 'acl.denied' && e.topic === 'boom/x'));
      assert.ok(failureLogs(logs, 'authorize#0').length >= 3, 'authorize failures logged');
      assert.equal(c.connected, true);
    } finally {
      await end(c);
    }
    // A client connected before all this was never disturbed.
    assert.equal(early.connected, true);
    assert.ok((await pubCode(early, 'fine/early', 'm', 1)) < 0x80);
  });
});

describe('an auth provider answering values of the wrong shape (auth.onFailure deny)', () => {
  let tb: TestBroker;
  let logs: LogRecord[];
  const answers: Record<string, unknown> = {
    'acme/code0': { ok: false, reasonCode: 0 },
    'acme/nocode': { ok: false },
    'acme/longreason': { ok: false, reasonCode: 0x87, reasonString: 'x'.repeat(70_000) },
    'acme/numbertenant': { ok: true, tenantId: 42, userId: 'u' },
    'acme/badrules': { ok: true, tenantId: 'acme', userId: 'u', acl: [{ action: 'publish', topic: 7, allow: true }] },
    'acme/nothing': null,
  };

  before(async () => {
    ({ tb, logs } = await withFaultyAuth({ answerFor: answers, authorizeAnswers: { 'null/': null, 'str/': 'yes', 'num/': 1 } }));
  });

  after(async () => {
    await tb.stop();
  });

  it('each counts as a failed call: CONNACK 0x88, logged; never success, never a crash', T, async () => {
    const failures = authServiceOf(tb.broker).failures;
    for (const username of Object.keys(answers)) {
      const a = await attempt(tb.port, { username });
      assert.equal(a.code, RC.ServerUnavailable, `${username}: got ${hx(a.code)}`);
    }
    assert.equal(authServiceOf(tb.broker).failures, failures + Object.keys(answers).length);
    assert.ok(failureLogs(logs, 'auth#0.authenticate').some((l) => String((l.err as { message?: string } | undefined)?.message).includes('answered')), 'logged as a wrong answer');
    await stillServing(tb.port);
  });

  it('authorize answering null (no opinion) is refused as no opinion; a string or a number counts as a failure: PUBACK 0x87, connected', T, async () => {
    const c = await mustConnect(tb.port, { username: 'acme/authz' });
    try {
      for (const topic of ['null/x', 'str/x', 'num/x']) assert.equal(await pubCode(c, topic, 'm', 1), RC.NotAuthorized, topic);
      assert.ok(c.connected, 'the client stays connected');
      assert.ok((await pubCode(c, 'fine/x', 'm', 1)) < 0x80);
    } finally {
      await end(c);
    }
    await stillServing(tb.port);
  });
});

describe('a failing auth provider, auth.onFailure allow', () => {
  it('authentication moves on to the next provider; authorization allows', T, async () => {
    const tb = await start({
      auth: {
        timeoutMs: TIMEOUT_MS,
        onFailure: 'allow',
        providers: [
          { type: 'plugin', module: FAULTY_AUTH, config: { throwFor: ['acme/bad'], hangFor: ['acme/slow'], authorizeThrowsOn: 'boom/' } },
          { type: 'dev' },
        ],
      },
    });
    try {
      const events = recordEvents(tb.broker);
      const badId = uid('bad');
      const bad = await mustConnect(tb.port, { username: 'acme/bad', clientId: badId });
      const slow = await attempt(tb.port, { username: 'acme/slow' });
      assert.equal(slow.code, 0, `a hung provider is skipped after the timeout, got ${hx(slow.code)}`);
      assert.ok(slow.ms >= TIMEOUT_MS - 20);
      await end(slow.client);
      const connected = events.find((e) => e.type === 'client.connected' && e.clientId === badId);
      assert.ok(connected && connected.type === 'client.connected');
      assert.equal(connected.tenantId, 'acme', 'the dev provider decided');
      // The failing authorize allows under this policy: the message is delivered.
      const watcher = await mustConnect(tb.port, { username: 'acme/w' });
      const inbox = new Inbox(watcher);
      assert.deepEqual(await subCodes(watcher, ['boom/#'], 1), [1]);
      assert.ok((await pubCode(bad, 'boom/x', 'm', 1)) < 0x80);
      await inbox.waitTopic('boom/x');
      assert.ok(authServiceOf(tb.broker).failures >= 3);
      await Promise.all([end(bad), end(watcher)]);
    } finally {
      await tb.stop();
    }
  });

  it('when the failing provider is the only one, nobody answers: the client is refused (0x86), not let in', T, async () => {
    const tb = await start({
      auth: { timeoutMs: TIMEOUT_MS, onFailure: 'allow', providers: [{ type: 'plugin', module: FAULTY_AUTH, config: { throwFor: ['acme/bad'] } }] },
    });
    try {
      const a = await attempt(tb.port, { username: 'acme/bad' });
      assert.equal(a.code, RC.BadUserNameOrPassword, `got ${hx(a.code)}`);
      await stillServing(tb.port);
    } finally {
      await tb.stop();
    }
  });
});

describe('failing event collectors', () => {
  it('a collector that throws or rejects is logged and counted; the broker and the other collectors go on', T, async () => {
    clearMemory();
    const captured = captureLogger();
    const tb = await start(
      {
        events: [
          { type: 'plugin', module: FAULTY, config: { kind: 'collector', mode: 'throw' } },
          { type: 'plugin', module: FAULTY, config: { kind: 'collector', mode: 'reject' } },
          { type: 'plugin', module: './dist/examples/plugins/memory-collector.js' },
        ],
      },
      { logger: captured.logger },
    );
    try {
      const id = uid('ev');
      const c = await mustConnect(tb.port, { username: 'acme/e', clientId: id });
      await end(c);
      await stillServing(tb.port);
      await until(() => memoryEvents.some((e) => e.type === 'client.disconnected' && e.clientId === id), () => 'the memory collector got the events');
      assert.ok(tb.broker.events.failures >= 4, `collector failures counted: ${tb.broker.events.failures}`);
      assert.ok(captured.lines.some((l) => l.code === 'RTK_PLUGIN_FAILED' && l.msg === 'event collector failed'), 'collector failures logged');
    } finally {
      await tb.stop();
    }
  });
});

describe('a failing client balancer', () => {
  for (const mode of ['throw', 'hang', 'garbage'] as const) {
    it(`a balancer that ${mode === 'throw' ? 'throws' : mode === 'hang' ? 'hangs' : 'answers a number for the server reference'} lets the client in; logged and counted`, T, async () => {
      const captured = captureLogger();
      const tb = await start(
        { plugins: { timeoutMs: TIMEOUT_MS, balancer: { module: FAULTY, config: { kind: 'balancer', mode } } } },
        { logger: captured.logger },
      );
      try {
        const failures = pluginGuardOf(tb.broker).failures;
        const a = await attempt(tb.port, { username: 'acme/b' });
        assert.equal(a.code, 0, `got ${hx(a.code)}`);
        if (mode === 'hang') assert.ok(a.ms >= TIMEOUT_MS - 20, `connected after ${a.ms} ms`);
        await end(a.client);
        assert.equal(pluginGuardOf(tb.broker).failures, failures + 1);
        assert.equal(failureLogs(captured.lines, 'balancer.redirect').length, 1);
        await stillServing(tb.port);
      } finally {
        await tb.stop();
      }
    });
  }
});

describe('a failing setting provider', () => {
  it('a provider that throws for a tenant: logged and counted at every refresh; the tenant keeps working with its settings', T, async () => {
    const captured = captureLogger();
    const tb = await start(
      {
        tenants: { acme: { maxQoS: 1 } },
        plugins: { timeoutMs: TIMEOUT_MS, settings: { module: FAULTY, refreshSeconds: 0.1, config: { kind: 'settings', mode: 'throw', tenant: 'acme' } } },
      },
      { logger: captured.logger },
    );
    try {
      const keeper = await mustConnect(tb.port, { username: 'acme/k' });
      const failures = pluginGuardOf(tb.broker).failures;
      await until(() => pluginGuardOf(tb.broker).failures >= failures + 2, () => 'failures at every refresh', 3000);
      assert.ok(failureLogs(captured.lines, 'settings.settings').length >= 2);
      // The last good settings (here: the config file's) stay in force.
      const a = await attempt(tb.port, { username: 'acme/n' });
      assert.equal(a.code, 0);
      assert.equal(a.connack?.properties?.maximumQoS, 1);
      await end(a.client);
      await stillServing(tb.port);
      await stillServing(tb.port, 'globex');
      await end(keeper);
    } finally {
      await tb.stop();
    }
  });

  it('a provider that hangs does not hold up connections; it times out', T, async () => {
    const tb = await start({
      plugins: { timeoutMs: TIMEOUT_MS, settings: { module: FAULTY, refreshSeconds: 0.1, config: { kind: 'settings', mode: 'hang', tenant: 'acme' } } },
    });
    try {
      const keeper = await mustConnect(tb.port, { username: 'acme/k' });
      await sleep(TIMEOUT_MS + 200);
      const a = await attempt(tb.port, { username: 'acme/n' });
      assert.equal(a.code, 0);
      assert.ok(a.ms < TIMEOUT_MS, `connecting took ${a.ms} ms`);
      await end(a.client);
      assert.ok(pluginGuardOf(tb.broker).timeouts >= 1, 'the hung call timed out');
      await end(keeper);
    } finally {
      await tb.stop();
    }
  });
});

describe('a failing resource throttler', () => {
  const throttler = (mode: 'throw' | 'promise', onFailure: 'deny' | 'allow') => ({
    plugins: { timeoutMs: TIMEOUT_MS, onFailure, throttler: { module: FAULTY, config: { kind: 'throttler', mode, tenant: 'acme' } } },
  });

  for (const mode of ['throw', 'promise'] as const) {
    it(`a throttler that ${mode === 'throw' ? 'throws' : 'answers with a promise'}, plugins.onFailure deny: the tenant is refused; logged and counted; others are served`, T, async () => {
      const captured = captureLogger();
      const tb = await start(throttler(mode, 'deny'), { logger: captured.logger });
      try {
        const failures = pluginGuardOf(tb.broker).failures;
        const a = await attempt(tb.port, { username: 'acme/q' });
        assert.ok(a.code === RC.QuotaExceeded || a.code === 0x9f, `a quota refusal, got ${hx(a.code)}`);
        const a4 = await attempt(tb.port, { username: 'acme/q', protocolVersion: 4 });
        assert.equal(a4.code, RC311.ServerUnavailable);
        await stillServing(tb.port, 'globex');
        assert.ok(pluginGuardOf(tb.broker).failures > failures, 'the failure is counted');
        assert.ok(failureLogs(captured.lines, 'throttler.hasResource').length >= 1, 'the failure is logged');
      } finally {
        await tb.stop();
      }
    });
  }

  it('a throttler that throws, plugins.onFailure allow: the tenant is served', T, async () => {
    const tb = await start(throttler('throw', 'allow'));
    try {
      await stillServing(tb.port, 'acme');
      assert.ok(pluginGuardOf(tb.broker).failures >= 1);
    } finally {
      await tb.stop();
    }
  });
});
