/**
 * SUBSCRIBE and UNSUBSCRIBE, byte by byte (MQTT 5 sections 2.2.1, 3.8, 3.10): packet identifier,
 * empty payloads, subscription option bits and SUBSCRIBE properties.
 */
import { after, before, describe, test } from 'node:test';
import { startBroker, type TestBroker } from '../helpers/broker';
import { closeProbes, connected, expectDisconnect, frame, guarded } from './util';

let tb: TestBroker;
before(async () => {
  tb = await startBroker();
});
after(async () => {
  closeProbes();
  await tb.stop();
});

/** A connected MQTT 5 client sends `bytes`; the broker must answer DISCONNECT with one of `codes`. */
function refused(bytes: number[], codes: number | number[]): () => Promise<void> {
  return () =>
    guarded(tb, async () => {
      const p = await connected(tb.port, 5);
      p.write(frame(bytes));
      await expectDisconnect(p, codes);
    });
}

describe('3.8 SUBSCRIBE', () => {
  test(
    '[MQTT-2.2.1-3] SUBSCRIBE with packet id 0 is refused (DISCONNECT 0x81 or 0x82)',
    refused(
      [
        0x82, 0x09, //                  SUBSCRIBE, remaining length 9
        0x00, 0x00, //                  packet id 0
        0x00, //                        property length 0
        0x00, 0x03, 0x61, 0x2f, 0x62, // filter "a/b"
        0x00, //                        subscription options: QoS 0
      ],
      // A packet id of 0 breaks a MUST; the specification names no reason code for it.
      [0x81, 0x82],
    ),
  );

  test(
    '[MQTT-3.8.3-2] SUBSCRIBE with no topic filter is a protocol error (DISCONNECT 0x82)',
    refused(
      [
        0x82, 0x03, // SUBSCRIBE, remaining length 3
        0x00, 0x01, // packet id 1
        0x00, //       property length 0; no payload follows
      ],
      0x82,
    ),
  );

  test(
    '[MQTT-3.8.3-5] reserved subscription option bits 7-6 are malformed (DISCONNECT 0x81)',
    refused(
      [
        0x82, 0x09, //                  SUBSCRIBE, remaining length 9
        0x00, 0x01, //                  packet id 1
        0x00, //                        property length 0
        0x00, 0x03, 0x61, 0x2f, 0x62, // filter "a/b"
        0xc0, //                        subscription options: reserved bits 7-6 set
      ],
      0x81,
    ),
  );

  test(
    '(3.8.3.1) Retain Handling 3 is a protocol error (DISCONNECT 0x82)',
    refused(
      [
        0x82, 0x09, //                  SUBSCRIBE, remaining length 9
        0x00, 0x01, //                  packet id 1
        0x00, //                        property length 0
        0x00, 0x03, 0x61, 0x2f, 0x62, // filter "a/b"
        0x30, //                        subscription options: Retain Handling 3 (bits 5-4)
      ],
      0x82,
    ),
  );

  test(
    '(3.8.2.1.2) Subscription Identifier 0 is a protocol error (DISCONNECT 0x82)',
    refused(
      [
        0x82, 0x0b, //                  SUBSCRIBE, remaining length 11
        0x00, 0x01, //                  packet id 1
        0x02, //                        property length 2
        0x0b, 0x00, //                  Subscription Identifier = 0
        0x00, 0x03, 0x61, 0x2f, 0x62, // filter "a/b"
        0x00, //                        subscription options: QoS 0
      ],
      0x82,
    ),
  );

  test(
    '(2.2.2.2) a property SUBSCRIBE may not carry (Topic Alias) is malformed (DISCONNECT 0x81)',
    refused(
      [
        0x82, 0x0c, //                  SUBSCRIBE, remaining length 12
        0x00, 0x01, //                  packet id 1
        0x03, //                        property length 3
        0x23, 0x00, 0x01, //            Topic Alias = 1: PUBLISH only
        0x00, 0x03, 0x61, 0x2f, 0x62, // filter "a/b"
        0x00, //                        subscription options: QoS 0
      ],
      0x81,
    ),
  );

  test(
    '[MQTT-3.8.3-4] No Local on a shared subscription is a protocol error (DISCONNECT 0x82)',
    refused(
      [
        0x82, 0x11, //                  SUBSCRIBE, remaining length 17
        0x00, 0x01, //                  packet id 1
        0x00, //                        property length 0
        0x00, 0x0b, //                  filter length 11
        0x24, 0x73, 0x68, 0x61, 0x72, 0x65, 0x2f, 0x67, 0x2f, 0x61, 0x62, // "$share/g/ab"
        0x04, //                        subscription options: No Local (bit 2), QoS 0
      ],
      0x82,
    ),
  );
});

describe('3.10 UNSUBSCRIBE', () => {
  test(
    '[MQTT-3.10.3-2] UNSUBSCRIBE with no topic filter is a protocol error (DISCONNECT 0x82)',
    refused(
      [
        0xa2, 0x03, // UNSUBSCRIBE, remaining length 3
        0x00, 0x01, // packet id 1
        0x00, //       property length 0; no payload follows
      ],
      0x82,
    ),
  );

  test(
    '[MQTT-2.2.1-3] UNSUBSCRIBE with packet id 0 is refused (DISCONNECT 0x81 or 0x82)',
    refused(
      [
        0xa2, 0x08, //                  UNSUBSCRIBE, remaining length 8
        0x00, 0x00, //                  packet id 0
        0x00, //                        property length 0
        0x00, 0x03, 0x61, 0x2f, 0x62, // filter "a/b"
      ],
      [0x81, 0x82],
    ),
  );
});
