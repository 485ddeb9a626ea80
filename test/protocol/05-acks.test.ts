/**
 * QoS 2 acknowledgements for packet identifiers that are not in flight, and DISCONNECT rules
 * (MQTT 5 sections 3.5-3.7, 3.14, 4.3.3).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type TestBroker } from '../helpers/broker';
import { closeProbes, connected, expectAlive, expectDisconnect, frame, guarded } from './util';

let tb: TestBroker;
before(async () => {
  tb = await startBroker();
});
after(async () => {
  closeProbes();
  await tb.stop();
});

describe('4.3.3 QoS 2 acknowledgements', () => {
  test('(4.3.3) QoS 2 in order: PUBLISH -> PUBREC 0x10, PUBREL -> PUBCOMP 0x00', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x34, 0x08, //                  PUBLISH QoS 2, remaining length 8
          0x00, 0x03, 0x71, 0x2f, 0x32, // topic "q/2"
          0x00, 0x05, //                  packet id 5
          0x00, //                        property length 0
        ]),
      );
      const rec = await p.next(5);
      assert.ok(rec?.type === 5);
      assert.equal(rec.packetId, 5);
      assert.equal(rec.reasonCode ?? 0, 0x10, 'PUBREC 0x10: no matching subscribers');
      p.write(frame([0x62, 0x02, 0x00, 0x05])); // PUBREL, remaining length 2, packet id 5
      const comp = await p.next(7);
      assert.ok(comp?.type === 7);
      assert.equal(comp.packetId, 5);
      assert.equal(comp.reasonCode ?? 0, 0x00);
      p.close();
    }));

  test('(3.7.2.1) PUBREL for an unknown packet id gets PUBCOMP 0x92 and the connection stays', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x62, 0x02, // PUBREL, remaining length 2
          0x00, 0x07, // packet id 7: never received
        ]),
      );
      const comp = await p.next(7);
      assert.ok(comp?.type === 7, 'PUBCOMP expected');
      assert.equal(comp.packetId, 7);
      assert.equal(comp.reasonCode, 0x92, 'PUBCOMP 0x92 Packet Identifier not found');
      await expectAlive(p);
      p.close();
    }));

  test('(3.6.2.1) PUBREC for an unknown packet id gets PUBREL 0x92 and the connection stays', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(
        frame([
          0x50, 0x02, // PUBREC, remaining length 2
          0x00, 0x09, // packet id 9: never sent by the broker
        ]),
      );
      const rel = await p.next(6);
      assert.ok(rel?.type === 6, 'PUBREL expected');
      assert.equal(rel.packetId, 9);
      assert.equal(rel.reasonCode, 0x92, 'PUBREL 0x92 Packet Identifier not found');
      await expectAlive(p);
      p.close();
    }));

  test('(4.3.3) 3.1.1: PUBREL for an unknown packet id still gets PUBCOMP (70 02 00 07)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 4);
      p.write(
        frame([
          0x62, 0x02, // PUBREL, remaining length 2
          0x00, 0x07, // packet id 7: never received
        ]),
      );
      await p.next(7);
      assert.deepEqual([...p.takeBytes()], [0x70, 0x02, 0x00, 0x07], 'PUBCOMP, remaining length 2, packet id 7');
      await expectAlive(p);
      p.close();
    }));
});

describe('3.14 DISCONNECT', () => {
  test('[MQTT-3.14.2-2] DISCONNECT with Session Expiry > 0 after CONNECT with 0 is a protocol error (DISCONNECT 0x82)', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5); // CONNECT had no Session Expiry Interval: 0
      p.write(
        frame([
          0xe0, 0x07, //                  DISCONNECT, remaining length 7
          0x00, //                        reason code 0x00 normal disconnection
          0x05, //                        property length 5
          0x11, 0x00, 0x00, 0x00, 0x3c, // Session Expiry Interval = 60
        ]),
      );
      await expectDisconnect(p, 0x82);
    }));

  test('(3.14.4) a normal DISCONNECT closes the connection without a reply', () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(frame([0xe0, 0x00])); // DISCONNECT, remaining length 0: reason 0x00, no properties
      await p.waitClosed();
      assert.equal(p.takeBytes().toString('hex'), '', 'the server sends nothing after a client DISCONNECT');
    }));
});
