/**
 * The broker's Receive Maximum (MQTT 5 sections 3.2.2.3.3, 3.3.4, 4.9): a client may have at most
 * that many QoS 1/2 PUBLISHes unacknowledged; one more is answered with DISCONNECT 0x93. A QoS 2
 * PUBLISH stays unacknowledged until the broker sent PUBCOMP. The tenant's Receive Maximum is 2.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AckPacket } from '../../src/codec/packets';
import { startBroker, type TestBroker } from '../helpers/broker';
import { Probe, closeProbes, connected, expectAlive, expectDisconnect, frame, guarded, hx } from './util';

let tb: TestBroker;
before(async () => {
  tb = await startBroker({ tenants: { default: { receiveMaximum: 2 } } });
});
after(async () => {
  closeProbes();
  await tb.stop();
});

/** PUBLISH QoS 2 to "q/2" with packet id `id` (DUP set when `dup`). */
function publishQoS2(id: number, dup = false): Buffer {
  return frame([
    dup ? 0x3c : 0x34, 0x08, //     PUBLISH QoS 2 (0x3c: with DUP), remaining length 8
    0x00, 0x03, 0x71, 0x2f, 0x32, // topic "q/2"
    0x00, id, //                    packet id
    0x00, //                        property length 0
  ]);
}

/** PUBREL for packet id `id`. */
function pubrel(id: number): Buffer {
  return frame([
    0x62, 0x02, // PUBREL, remaining length 2
    0x00, id, //   packet id
  ]);
}

async function expectAck(p: Probe, type: 5 | 7, id: number): Promise<void> {
  const got = await p.next();
  const name = type === 5 ? 'PUBREC' : 'PUBCOMP';
  if (got === undefined) assert.fail(`closed before ${name} ${id}`);
  if (got.type !== type) {
    const detail = got.type === 14 ? ` ${hx(got.reasonCode)}` : '';
    assert.fail(`expected ${name} ${id}, got packet type ${got.type}${detail}`);
  }
  const ack = got as AckPacket<5 | 7>;
  assert.equal(ack.packetId, id);
  assert.ok((ack.reasonCode ?? 0) < 0x80, `${name} ${id} failed with ${hx(ack.reasonCode)}`);
}

test('[MQTT-3.3.4-7] a third unacknowledged QoS 2 PUBLISH over Receive Maximum 2 is refused (DISCONNECT 0x93)', () =>
  guarded(tb, async () => {
    const p = await connected(tb.port, 5);
    assert.equal(p.connack?.properties?.receiveMaximum, 2, 'CONNACK announces Receive Maximum 2');
    p.write(Buffer.concat([publishQoS2(1), publishQoS2(2), publishQoS2(3)])); // no PUBREL for any
    await expectAck(p, 5, 1);
    await expectAck(p, 5, 2);
    await expectDisconnect(p, 0x93);
  }));

test('[MQTT-3.3.4-7] PUBCOMP frees a Receive Maximum slot; the next PUBLISH over it is refused (0x93)', () =>
  guarded(tb, async () => {
    const p = await connected(tb.port, 5);
    p.write(Buffer.concat([publishQoS2(1), publishQoS2(2)]));
    await expectAck(p, 5, 1);
    await expectAck(p, 5, 2);
    p.write(pubrel(1));
    await expectAck(p, 7, 1); // id 1 is complete: one slot free
    p.write(publishQoS2(3));
    await expectAck(p, 5, 3);
    await expectAlive(p);
    p.write(publishQoS2(4)); // 2 and 3 are unacknowledged: a third is too many
    await expectDisconnect(p, 0x93);
  }));

test('[MQTT-4.3.3-10] a QoS 2 PUBLISH resent after reconnect does not count again against Receive Maximum', () =>
  guarded(tb, async () => {
    const CONNECT_PERSISTENT = frame([
      0x10, 0x1b, //                      CONNECT, remaining length 27
      0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, // protocol name "MQTT"
      0x05, //                            protocol level 5
      0x00, //                            connect flags: clean start 0
      0x00, 0x3c, //                      keepalive 60
      0x05, //                            property length 5
      0x11, 0x00, 0x00, 0x00, 0x3c, //    Session Expiry Interval = 60
      0x00, 0x09, 0x72, 0x6d, 0x2d, 0x72, 0x65, 0x73, 0x75, 0x6d, 0x65, // client id "rm-resume"
    ]);
    const first = await Probe.open(tb.port, 5);
    first.write(Buffer.concat([CONNECT_PERSISTENT, publishQoS2(1), publishQoS2(2)]));
    const ack1 = await first.next(2);
    assert.ok(ack1?.type === 2 && ack1.reasonCode === 0);
    await expectAck(first, 5, 1);
    await expectAck(first, 5, 2);
    first.close(); // network loss: ids 1 and 2 are still unreleased in the session
    await first.waitClosed();

    const again = await Probe.open(tb.port, 5);
    again.write(CONNECT_PERSISTENT);
    const ack2 = await again.next(2);
    assert.ok(ack2?.type === 2 && ack2.reasonCode === 0);
    assert.equal(ack2.sessionPresent, true, 'the session was kept');
    // [MQTT-4.4.0-1] the client resends its unacknowledged PUBLISHes with their original ids.
    again.write(Buffer.concat([publishQoS2(1, true), publishQoS2(2, true)]));
    await expectAck(again, 5, 1);
    await expectAck(again, 5, 2);
    again.write(Buffer.concat([pubrel(1), pubrel(2)]));
    await expectAck(again, 7, 1);
    await expectAck(again, 7, 2);
    again.write(publishQoS2(3));
    await expectAck(again, 5, 3);
    again.write(frame([0xe0, 0x00])); // DISCONNECT, normal
    await again.waitClosed();
  }));
