/**
 * Backpressure from a live subscriber that falls behind (src/session/session.ts holdBack and
 * farBehind, src/connection/connection.ts pauseForBackpressure): the publisher stops being read, and
 * once the queue is twice past the pause threshold the rest of the chunk it already sent stops being
 * decoded too, so the queue stays bounded instead of growing by a whole socket read (here about 1,800
 * small PUBLISHes) per publisher. Nothing is lost: the subscriber gets every message in order.
 *
 * Real sockets both ways. The subscriber takes at most 20 messages in flight (Receive Maximum) and
 * acknowledges 100 every 5 ms, so messages queue in its session while the publisher sends 20,000 in
 * one write.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { PacketDecoder } from '../../src/codec/decoder';
import { encodePacket } from '../../src/codec/encoder';
import type { Packet } from '../../src/codec/packets';
import { DEFAULT_TENANT } from '../../src/auth/dev-auth';
import { startBroker, type TestBroker } from '../helpers/broker';
import { waitUntil } from '../storage/broker-process';

const MESSAGES = 20_000;
const PAYLOAD = 8;
/** The queue length at which a live subscriber's publishers are paused (backlogHigh, inbox 100,000). */
const PAUSE_AT = 512;

function open(port: number, onPacket: (p: Packet) => void): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port }, () => resolve(s));
    const decoder = new PacketDecoder({ onPacket }, { protocolVersion: 5 });
    s.on('data', (chunk: Buffer) => decoder.push(chunk));
    s.once('error', reject);
  });
}

let tb: TestBroker;
before(async () => {
  tb = await startBroker({ tenants: { default: { inboxSize: 100_000, maxInflightOut: 64 } } });
});
after(() => tb.stop());

describe('backpressure from a slow live subscriber', () => {
  test('QoS 1: the queue stays within twice the pause threshold, and every message arrives once, in order', async () => {
    const got: number[] = [];
    const other: Packet[] = [];
    let toAck: number[] = [];
    const sub = await open(tb.port, (p) => {
      if (p.type === 3) {
        got.push(p.payload.readUInt32BE(0));
        toAck.push(p.packetId!);
      } else {
        other.push(p);
      }
    });
    // Receive Maximum 20: at most 20 messages in flight, the rest queue in the session.
    sub.write(encodePacket({ type: 1, protocolName: 'MQTT', protocolVersion: 5, clientId: 'slow', cleanStart: true, keepAlive: 60, properties: { receiveMaximum: 20 } }, 5));
    sub.write(encodePacket({ type: 8, packetId: 1, subscriptions: [{ filter: 'bp/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 5));
    assert.ok(await waitUntil(() => other.some((p) => p.type === 9), 3000), 'no SUBACK');

    const session = tb.broker.tenant(DEFAULT_TENANT)!.sessions.get('slow')!;
    let maxQueue = 0;
    const queue = session.queue;
    const push = queue.push.bind(queue);
    queue.push = (item): void => {
      push(item);
      if (queue.length > maxQueue) maxQueue = queue.length;
    };

    // The subscriber acknowledges at most 100 messages every 5 ms: it keeps up, slowly.
    const acker = setInterval(() => {
      const ids = toAck.slice(0, 100);
      toAck = toAck.slice(100);
      if (ids.length > 0) sub.write(Buffer.concat(ids.map((packetId) => encodePacket({ type: 4, packetId, reasonCode: 0 }, 5))));
    }, 5);

    const pub = await open(tb.port, () => undefined);
    pub.write(encodePacket({ type: 1, protocolName: 'MQTT', protocolVersion: 5, clientId: 'fast', cleanStart: true, keepAlive: 60 }, 5));
    const packets: Buffer[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const payload = Buffer.alloc(PAYLOAD);
      payload.writeUInt32BE(i, 0);
      packets.push(encodePacket({ type: 3, topic: `bp/${i % 10}`, payload, qos: 1, packetId: (i % 60_000) + 1, retain: false, dup: false }, 5));
    }
    // One write: the broker reads it in 64 KB chunks of about 1,800 PUBLISHes each.
    pub.write(Buffer.concat(packets));
    try {
      assert.ok(await waitUntil(() => got.length >= MESSAGES, 60_000), `all ${MESSAGES} messages (got ${got.length})`);
    } finally {
      clearInterval(acker);
    }
    assert.equal(got.length, MESSAGES);
    for (let i = 0; i < MESSAGES; i++) if (got[i] !== i) assert.fail(`message ${i} arrived as ${got[i]}`);
    assert.ok(maxQueue > PAUSE_AT, `the subscriber fell behind (its queue reached ${maxQueue})`);
    // One publisher: decoding stops at twice the threshold, with at most the packet that crossed it on top.
    assert.ok(maxQueue <= 2 * PAUSE_AT + 1, `the queue reached ${maxQueue} (pause at ${PAUSE_AT}, decoding stops at ${2 * PAUSE_AT})`);
    pub.destroy();
    sub.destroy();
  });
});
