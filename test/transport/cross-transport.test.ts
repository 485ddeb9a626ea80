/**
 * One broker, four listeners (tcp, tls, ws, wss), MQTT.js on each: every transport publishes to
 * every transport (itself included), at QoS 0, 1 and 2, small and large payloads, with MQTT 3.1.1
 * and MQTT 5 on both ends. Every message must arrive exactly once, with its payload and QoS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { startBroker, type TestBroker } from '../helpers/broker';
import { SERVER_PEM, T, TRANSPORTS, connectVia, endClient, portOf, sleep, uid, until, type TransportKind } from './util';

const QOS = [0, 1, 2] as const;
/** A few bytes, and a payload larger than one TCP segment, one TLS record and the writer's 64 KiB batch. */
const SIZES = [16, 100_000];
const VERSIONS = [4, 5] as const;

let tb: TestBroker;
const clients: MqttClient[] = [];

before(async () => {
  tb = await startBroker({
    listeners: [
      { name: 'tcp', type: 'tcp', host: '127.0.0.1', port: 0 },
      { name: 'tls', type: 'tls', host: '127.0.0.1', port: 0, ...SERVER_PEM },
      { name: 'ws', type: 'ws', host: '127.0.0.1', port: 0 },
      { name: 'wss', type: 'wss', host: '127.0.0.1', port: 0, ...SERVER_PEM },
    ],
  });
});

after(async () => {
  await Promise.all(clients.map((c) => endClient(c, true)));
  await tb.stop();
});

async function open(kind: TransportKind, version: 4 | 5): Promise<MqttClient> {
  const c = await connectVia(kind, portOf(tb, kind), { protocolVersion: version });
  clients.push(c);
  return c;
}

interface Got {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  dup: boolean;
}

describe('every pair of transports', () => {
  for (const pubVersion of VERSIONS) {
    for (const subVersion of VERSIONS) {
      test(`publisher MQTT ${pubVersion === 4 ? '3.1.1' : '5'} → subscriber MQTT ${subVersion === 4 ? '3.1.1' : '5'}: tcp/tls/ws/wss × tcp/tls/ws/wss × QoS 0/1/2`, T, async () => {
        const run = uid('x');
        const received = new Map<TransportKind, Got[]>();
        const publishers = new Map<TransportKind, MqttClient>();
        for (const kind of TRANSPORTS) {
          const sub = await open(kind, subVersion);
          const got: Got[] = [];
          sub.on('message', (topic, payload, packet) => got.push({ topic, payload, qos: packet.qos, retain: packet.retain, dup: packet.dup }));
          const grants = await sub.subscribeAsync(`${run}/to-${kind}/#`, { qos: 2 });
          assert.equal(grants[0]?.qos, 2, `${kind} subscriber: granted QoS`);
          received.set(kind, got);
          publishers.set(kind, await open(kind, pubVersion));
        }

        const expected = new Map<TransportKind, Map<string, { payload: Buffer; qos: number }>>();
        const sends: Promise<unknown>[] = [];
        for (const to of TRANSPORTS) {
          const want = new Map<string, { payload: Buffer; qos: number }>();
          expected.set(to, want);
          for (const from of TRANSPORTS) {
            for (const qos of QOS) {
              for (const size of SIZES) {
                const topic = `${run}/to-${to}/from-${from}/q${qos}/s${size}`;
                const payload = Buffer.concat([Buffer.from(`${from}>${to} q${qos} `), randomBytes(size)]);
                want.set(topic, { payload, qos });
                sends.push(publishers.get(from)!.publishAsync(topic, payload, { qos }));
              }
            }
          }
        }
        await Promise.all(sends);

        const total = TRANSPORTS.length * QOS.length * SIZES.length;
        await until(
          () => TRANSPORTS.every((k) => received.get(k)!.length >= total),
          () => TRANSPORTS.map((k) => `${k} got ${received.get(k)!.length}/${total}`).join(', '),
          10_000,
        );
        await sleep(200); // room for a duplicate to show up

        for (const to of TRANSPORTS) {
          const got = received.get(to)!;
          const want = expected.get(to)!;
          const counts = new Map<string, number>();
          for (const m of got) counts.set(m.topic, (counts.get(m.topic) ?? 0) + 1);
          for (const [topic, n] of counts) assert.equal(n, 1, `${to}: ${topic} arrived ${n} times`);
          assert.deepEqual([...counts.keys()].sort(), [...want.keys()].sort(), `${to}: the set of messages received`);
          for (const m of got) {
            const w = want.get(m.topic)!;
            assert.equal(m.qos, w.qos, `${to}: QoS of ${m.topic}`);
            assert.ok(m.payload.equals(w.payload), `${to}: payload of ${m.topic} (${m.payload.length} bytes, expected ${w.payload.length})`);
            assert.equal(m.retain, false, `${to}: retain flag of ${m.topic}`);
            assert.equal(m.dup, false, `${to}: DUP flag of ${m.topic}`);
          }
        }
        await Promise.all([...publishers.values()].map((c) => endClient(c)));
      });
    }
  }
});
