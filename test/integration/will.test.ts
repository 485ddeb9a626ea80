/**
 * Will messages end to end: published when the network connection fails, discarded on a normal
 * DISCONNECT, requested with DISCONNECT 0x04, the Will Delay Interval, a resumed session cancelling
 * the will, and a session that ends before the delay (MQTT 5 sections 3.1.2.5, 3.1.3.2, 3.14.4;
 * 3.1.1 section 3.1.2.5).
 *
 * Statement ids in test names are MQTT 5.0's (they name the rule for both versions where 3.1.1 has
 * it too); "(3.1.1)" marks an id of the 3.1.1 specification.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import { Harness, T, VERSIONS, sleep, uid, type Client, type Version } from './util';

const h = new Harness();
before(() => h.start());
afterEach(() => h.closeClients());
after(() => h.stop());

/** A client subscribed to the will topic. */
async function watcher(topic: string, v: Version = 5): Promise<Client> {
  const w = await h.client({ protocolVersion: v });
  await w.subscribe(topic, { qos: 1 });
  return w;
}

function willOpts(topic: string, payload: string, extra: Partial<NonNullable<IClientOptions['will']>> = {}): IClientOptions['will'] {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false, ...extra };
}

/** Publishes a sentinel on the will topic and waits for it: a will due before it would be there. */
async function sentinel(w: Client, topic: string, v: Version = 5): Promise<void> {
  const p = await h.client({ protocolVersion: v });
  await p.publish(topic, 'sentinel', { qos: 1 });
  await w.waitPayload('sentinel');
  await p.end();
}

for (const v of VERSIONS) {
  describe(`v${v}`, () => {
    test(`[MQTT-3.1.2-8] v${v}: the will is published when the network connection breaks`, T, async () => {
      const topic = `will/${uid()}`;
      const w = await watcher(topic, v);
      const c = await h.client({ protocolVersion: v, will: willOpts(topic, 'gone') });
      c.kill();
      const m = await w.waitPayload('gone');
      assert.equal(m.packet.qos, 1, 'published at the will QoS');
      assert.equal(m.packet.retain, false, '[MQTT-3.1.2-14]');
    });

    test(`[MQTT-3.14.4-3] [MQTT-3.1.2-10] v${v}: no will after a normal DISCONNECT`, T, async () => {
      const topic = `will/${uid()}`;
      const w = await watcher(topic, v);
      const c = await h.client({ protocolVersion: v, will: willOpts(topic, 'must not appear') });
      await c.end();
      await sentinel(w, topic, v);
      assert.deepEqual(w.payloads, ['sentinel']);
    });

    test(`[MQTT-3.1.2-15] v${v}: a will with Will Retain 1 is published as a retained message`, T, async () => {
      const topic = `will/${uid()}`;
      const c = await h.client({ protocolVersion: v, will: willOpts(topic, 'retained will', { retain: true }) });
      const w = await watcher(topic, v);
      c.kill();
      await w.waitPayload('retained will');
      const later = await h.client({ protocolVersion: v });
      await later.subscribe(topic, { qos: 1 });
      const m = await later.waitPayload('retained will');
      assert.equal(m.packet.retain, true);
      await later.publish(topic, '', { qos: 1, retain: true });
    });
  });
}

test('[MQTT-3.1.2-8] v4: the will is published when the broker closes a connection for keepalive timeout', T, async () => {
  const topic = `will/${uid()}`;
  const w = await watcher(topic, 4);
  const r = await h.rawConnected(4, { keepAlive: 1, will: { topic, payload: Buffer.from('timed out'), qos: 1, retain: false } });
  await w.waitPayload('timed out', topic, 3000);
  assert.equal(r.closed, true);
});

describe('v5 will control', () => {
  test('[MQTT-3.1.2-8] v5: DISCONNECT 0x04 (disconnect with will message) publishes the will', T, async () => {
    const topic = `will/${uid()}`;
    const w = await watcher(topic);
    const c = await h.client({ protocolVersion: 5, will: willOpts(topic, 'asked for') });
    await c.end(false, { reasonCode: 0x04 });
    await w.waitPayload('asked for');
  });

  test('[MQTT-3.3.2-15] [MQTT-3.3.2-17] [MQTT-3.3.2-20] v5: will properties travel with the will', T, async () => {
    const topic = `will/${uid()}`;
    const w = await watcher(topic);
    const c = await h.client({
      protocolVersion: 5,
      will: willOpts(topic, '{"gone":true}', {
        properties: {
          contentType: 'application/json',
          responseTopic: 'will/reply',
          correlationData: Buffer.from([1, 2, 3]),
          userProperties: { reason: 'test' },
          payloadFormatIndicator: true,
        },
      }),
    });
    c.kill();
    const m = await w.waitPayload('{"gone":true}');
    const p = m.packet.properties ?? {};
    assert.equal(p.contentType, 'application/json');
    assert.equal(p.responseTopic, 'will/reply');
    assert.deepEqual([...(p.correlationData ?? [])], [1, 2, 3]);
    assert.deepEqual({ ...p.userProperties }, { reason: 'test' });
    assert.equal(p.payloadFormatIndicator, true);
  });

  test('[MQTT-3.1.2-8] v5: the will is not published before the Will Delay Interval (1 s) has passed', T, async () => {
    const topic = `will/${uid()}`;
    const w = await watcher(topic);
    const c = await h.client({
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 10 },
      will: willOpts(topic, 'delayed', { properties: { willDelayInterval: 1 } }),
    });
    const killed = Date.now();
    c.kill();
    await sleep(600);
    assert.deepEqual(w.payloads, [], 'published before the will delay');
    await w.waitPayload('delayed', topic, 2000);
    const elapsed = Date.now() - killed;
    assert.ok(elapsed >= 900, `published after ${elapsed} ms`);
  });

  test('[MQTT-3.1.3-9] v5: no will when the session is resumed before the Will Delay Interval ends', T, async () => {
    const topic = `will/${uid()}`;
    const clientId = uid();
    const w = await watcher(topic);
    const c = await h.client({
      clientId,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 10 },
      will: willOpts(topic, 'cancelled', { properties: { willDelayInterval: 1 } }),
    });
    c.kill();
    await sleep(300);
    const back = await h.client({ clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 10 } });
    assert.equal(back.connack!.sessionPresent, true);
    await sleep(1200);
    await sentinel(w, topic);
    assert.deepEqual(w.payloads, ['sentinel'], 'the will of a resumed session was published');
  });

  test('[MQTT-3.1.2-8] v5: the will is published when the session expires before the Will Delay Interval', T, async () => {
    const topic = `will/${uid()}`;
    const w = await watcher(topic);
    const c = await h.client({
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 1 },
      will: willOpts(topic, 'session ended', { properties: { willDelayInterval: 30 } }),
    });
    const killed = Date.now();
    c.kill();
    await w.waitPayload('session ended', topic, 2500);
    const elapsed = Date.now() - killed;
    assert.ok(elapsed >= 900, `published after ${elapsed} ms, before the session expiry of 1 s`);
    assert.ok(elapsed < 2500, `published after ${elapsed} ms, not at the session expiry`);
  });

  test('[MQTT-3.1.2-8] v5: a will with delay is published at once when the session has expiry 0', T, async () => {
    const topic = `will/${uid()}`;
    const w = await watcher(topic);
    const c = await h.client({ protocolVersion: 5, will: willOpts(topic, 'no session', { properties: { willDelayInterval: 30 } }) });
    const killed = Date.now();
    c.kill();
    await w.waitPayload('no session', topic, 1000);
    assert.ok(Date.now() - killed < 1000);
  });
});
