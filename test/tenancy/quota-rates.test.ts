/**
 * Per-second rate limits of a tenant and of a connection, on a broker whose clock the tests set
 * (every rate window of the broker reads it): the clock stands in the middle of a second while a
 * test acts, so a burst lands in one window whatever the real time, and moving it to the next
 * second opens a fresh window without sleeping.
 *
 * - A tenant's rate windows (src/tenant/usage.ts) outlive the tenant object, which the registry drops
 *   whenever nothing of the tenant is connected (src/tenant/tenant-registry.ts).
 * - An UNSUBSCRIBE over `maxSubscribesPerSecond` gets an UNSUBACK code MQTT 5 allows (0x80), and is
 *   performed for 3.1.1, which cannot refuse one (src/connection/handle-subscribe.ts).
 * - The PUBLISH over `publishRate` is neither routed nor acknowledged (src/connection/traffic-limits.ts).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import type { Packet, UnsubackPacket } from '../../src/codec/packets';
import type { Clock } from '../../src/util/clock';
import { Harness, T, VERSIONS, eventually, hx, sleep, uid, userOf, type Client, type Raw } from './util';

const TENANTS = {
  rIdle: { maxConnectsPerSecond: 2, maxSubscribesPerSecond: 1, maxRetainedPublishesPerSecond: 1 },
  rIdleOther: { maxConnectsPerSecond: 2, maxSubscribesPerSecond: 1, maxRetainedPublishesPerSecond: 1 },
  rUnsub: { maxSubscribesPerSecond: 2 },
  rPub: { publishRate: 3 },
} as const;
type Limited = keyof typeof TENANTS;

/** The broker's time: the middle of a second, until a test moves it on. */
let time = 1_700_000_000_500;
const clock: Clock = { now: () => time };

/** Moves the broker's clock to the middle of the next one-second window. */
function nextWindow(): void {
  time = (Math.floor(time / 1000) + 1) * 1000 + 500;
}

const h = new Harness();
before(() => h.start({ tenants: TENANTS }, { clock }));
afterEach(() => h.closeClients());
after(() => h.stop());

function as(tenant: Limited, opts: IClientOptions = {}): Promise<Client> {
  return h.client({ username: userOf(tenant), ...opts });
}

/** Waits until the broker has dropped the tenant object (nothing of the tenant is connected). */
async function dropped(tenant: Limited): Promise<void> {
  await eventually(() => h.broker.tenant(tenant) === undefined, () => `tenant ${tenant} is still held`);
}

/** `quota.exceeded` events of the tenant for the quota; asserts there is one and its limit. */
function assertQuotaEvent(tenant: Limited, quota: string, limit: number): void {
  const events = h.log.quota(tenant, quota);
  assert.ok(events.length > 0, `no quota.exceeded event for ${tenant} ${quota}`);
  assert.equal(events[0]!.limit, limit, 'limit in the event');
}

describe('tenant rate windows and an idle tenant', () => {
  test('connects, subscribes and retained publishes are counted across connections that leave the tenant idle in between; another tenant and the next second are unaffected', T, async () => {
    nextWindow();
    const first = await as('rIdle');
    assert.deepEqual(await first.subscribe('ri/a', { qos: 1 }), [1]);
    assert.equal(await first.publish('ri/r1', 'r1', { qos: 1, retain: true }), 0x10, 'first retained publish (no subscriber)');
    await first.end();
    await dropped('rIdle');

    // Same second, new tenant object: the windows of the dropped one carry on.
    const second = await as('rIdle');
    assert.deepEqual(await second.subscribe('ri/b', { qos: 1 }), [0x97], 'second subscribe of the second');
    assert.equal(await second.publish('ri/r2', 'r2', { qos: 1, retain: true }), 0x97, 'second retained publish of the second');
    await second.end();
    await dropped('rIdle');
    const third = h.open({ username: userOf('rIdle') });
    assert.equal(await third.connackCode(), 0x9f, 'third CONNECT of the second');
    assertQuotaEvent('rIdle', 'subscribeRate', 1);
    assertQuotaEvent('rIdle', 'retainedPublishRate', 1);
    assertQuotaEvent('rIdle', 'connectRate', 2);

    // The windows of one tenant are not handed to another.
    const other = await as('rIdleOther');
    assert.deepEqual(await other.subscribe('ri/a', { qos: 1 }), [1]);
    await other.end();

    nextWindow();
    await dropped('rIdle');
    const later = await as('rIdle');
    assert.deepEqual(await later.subscribe('ri/c', { qos: 1 }), [1], 'subscribe in the next second');
    assert.equal(await later.publish('ri/r3', 'r3', { qos: 1, retain: true }), 0x10, 'retained publish in the next second');
    await as('rIdle');
  });
});

describe('UNSUBSCRIBE over maxSubscribesPerSecond', () => {
  /** Sends UNSUBSCRIBE and returns the whole UNSUBACK. */
  async function unsuback(raw: Raw, filters: string[], packetId: number): Promise<UnsubackPacket> {
    raw.send({ type: 10, packetId, filters });
    const ack: Packet | undefined = await raw.next(11);
    if (ack?.type !== 11) assert.fail('closed instead of UNSUBACK');
    assert.equal(ack.packetId, packetId);
    return ack;
  }

  test('MQTT 5: UNSUBACK 0x80 with a reason string for each filter over the rate, which stays subscribed; quota.exceeded; 0x00 the next second', T, async () => {
    const topic = uid('us');
    const raw = await h.rawConnected(5, { username: userOf('rUnsub') });
    const publisher = await as('rUnsub');
    nextWindow();
    assert.deepEqual(await raw.subscribe([`${topic}/a`, `${topic}/b`]), [1, 1]);
    h.log.clear();
    const ack = await unsuback(raw, [`${topic}/a`, `${topic}/b`], 900);
    assert.deepEqual(ack.reasonCodes, [0x80, 0x80], `UNSUBACK codes ${ack.reasonCodes.map(hx).join(' ')}`);
    assert.match(ack.properties?.reasonString ?? '', /subscribe rate/, 'reason string');
    assertQuotaEvent('rUnsub', 'subscribeRate', 2);
    // Refused: the subscription is still there.
    await publisher.publish(`${topic}/a`, 'still-subscribed', { qos: 1 });
    const msg = await raw.next(3);
    assert.ok(msg?.type === 3 && msg.topic === `${topic}/a`, 'a message on the filter the UNSUBSCRIBE was refused for');
    nextWindow();
    assert.deepEqual(await raw.unsubscribe([`${topic}/a`]), [0], 'the next second');
  });

  test('MQTT 5 without problem information: UNSUBACK 0x80 without a reason string; an MQTT.js client accepts it', T, async () => {
    const topic = uid('us');
    const raw = await h.rawConnected(5, { username: userOf('rUnsub'), properties: { requestProblemInformation: 0 } });
    nextWindow();
    assert.deepEqual(await raw.subscribe([`${topic}/a`, `${topic}/b`]), [1, 1]);
    const ack = await unsuback(raw, [`${topic}/a`], 901);
    assert.deepEqual(ack.reasonCodes, [0x80]);
    assert.equal(ack.properties?.reasonString, undefined, 'no reason string when the client asked for none');

    const js = await as('rUnsub');
    const result = await new Promise<Error | undefined>((resolve) => js.mqtt.unsubscribe(`${topic}/b`, (err) => resolve(err ?? undefined)));
    assert.equal(result, undefined, 'MQTT.js unsubscribe callback error');
    await sleep(50);
    assert.equal(js.closed, false, 'MQTT.js closed the connection');
    assert.deepEqual(js.errors, [], 'MQTT.js errors');
  });

  test('MQTT 3.1.1: the UNSUBSCRIBE over the rate is performed (no more messages on the filter) and counted in the window', T, async () => {
    const topic = uid('us');
    const v4 = await as('rUnsub', { protocolVersion: 4 });
    const publisher = await as('rUnsub');
    nextWindow();
    assert.deepEqual(await v4.subscribe([`${topic}/a`, `${topic}/b`], { qos: 1 }), [1, 1]);
    h.log.clear();
    await new Promise<void>((resolve, reject) => v4.mqtt.unsubscribe(`${topic}/a`, (err) => (err ? reject(err) : resolve())));
    assertQuotaEvent('rUnsub', 'subscribeRate', 2);
    assert.equal(h.broker.tenant('rUnsub')!.usage.rates.subscribes.current(time), 3, 'filters counted in the window');
    await publisher.publish(`${topic}/a`, 'after-unsubscribe', { qos: 1 });
    await publisher.publish(`${topic}/b`, 'marker', { qos: 1 });
    await v4.waitPayload('marker');
    assert.deepEqual(v4.payloads, ['marker'], 'messages after the UNSUBACK');
  });
});

describe('publishRate', () => {
  for (const v of VERSIONS) {
    test(`publishRate 3, MQTT ${v === 5 ? '5' : '3.1.1'}: the fourth QoS 1 PUBLISH of a second is neither delivered nor acknowledged; the connection closes (DISCONNECT 0x96 for 5)`, T, async () => {
      const topic = uid('pr');
      const sub = await as('rPub');
      await sub.subscribe(topic, { qos: 1 });
      const raw = await h.rawConnected(v, { username: userOf('rPub') });
      nextWindow();
      for (let i = 0; i < 6; i++) raw.publish(topic, `m${i}`, 1);
      if (v === 5) await raw.expectDisconnect(0x96);
      else await raw.client.waitClosed();
      const acked = raw.client.packets.filter((p) => p.type === 4).map((p) => (p.type === 4 ? p.packetId : 0));
      assert.deepEqual(acked, [1, 2, 3], 'PUBACKs');
      await sub.waitPayload('m2');
      await sleep(100);
      assert.deepEqual(sub.payloads, ['m0', 'm1', 'm2'], 'delivered');
    });
  }

  test('publishRate 3: three PUBLISH in each of two seconds are all delivered and acknowledged', T, async () => {
    const topic = uid('pr');
    const sub = await as('rPub');
    await sub.subscribe(topic, { qos: 1 });
    const raw = await h.rawConnected(5, { username: userOf('rPub') });
    for (let second = 0; second < 2; second++) {
      nextWindow();
      const ids = [0, 1, 2].map((i) => raw.publish(topic, `s${second}m${i}`, 1));
      for (const id of ids) assert.equal(await raw.puback(id), 0);
    }
    await sub.waitMessages(6);
    assert.equal(raw.closed, false, 'disconnected within the rate');
  });
});
