/**
 * Malformed input: one test per validation rule, checking the error code and the MQTT 5 reason
 * code (never the message), that the same error comes when the bytes arrive one at a time, and that
 * the decoder is dead afterwards.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ErrorCode } from '../../src/errors';
import type { ProtocolVersion } from '../../src/codec/index';
import { decodeChunks, hex, packetHex, str } from './helpers';
import { withProperties } from './fixtures';
import { CONTEXTS, CONTEXT_NAMES, PROPERTY_SAMPLES, PROPERTY_TABLE } from './spec';

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;
const UNSUPPORTED_VERSION = 0x84;
const MQTT = '00 04 4d 51 54 54';

function expectError(text: string, version: ProtocolVersion, code: ErrorCode, reasonCode: number): void {
  const bytes = hex(text);
  const whole = decodeChunks([bytes], version);
  assert.ok(whole.error !== undefined, `expected ${code} for ${text}`);
  assert.equal(whole.error.code, code, whole.error.message);
  assert.equal(whole.error.reasonCode, reasonCode);
  assert.deepEqual(whole.packets, []);
  // Dead: the same error object, and a valid PINGREQ is not decoded.
  assert.equal(whole.decoder.push(hex('c0 00')), whole.error);
  assert.equal(whole.decoder.push(hex('c0 00')), whole.error);
  assert.deepEqual(whole.packets, []);
  const bytewise = decodeChunks([...bytes].map((b) => Buffer.from([b])), version);
  assert.equal(bytewise.error?.code, code);
  assert.equal(bytewise.error?.reasonCode, reasonCode);
}

describe('fixed header', () => {
  test('remaining length longer than four bytes', () => {
    expectError('30 ff ff ff ff 01', 4, 'RTK_DECODE_REMAINING_LENGTH', MALFORMED);
    expectError('30 80 80 80 80', 5, 'RTK_DECODE_REMAINING_LENGTH', MALFORMED);
  });

  test('packet type 0', () => {
    expectError('00 00', 4, 'RTK_DECODE_PACKET_TYPE', MALFORMED);
    expectError('0f 00', 5, 'RTK_DECODE_PACKET_TYPE', MALFORMED);
  });

  test('AUTH before MQTT 5', () => {
    expectError('f0 00', 4, 'RTK_DECODE_PACKET_TYPE', MALFORMED);
    expectError('f0 02 18 00', 3, 'RTK_DECODE_PACKET_TYPE', MALFORMED);
  });

  test('reserved flags on every packet type but PUBLISH', () => {
    for (let type = 1; type <= 15; type++) {
      if (type === 3) continue;
      const required = type === 6 || type === 8 || type === 10 ? 2 : 0;
      for (let flags = 0; flags < 16; flags++) {
        if (flags === required) continue;
        expectError(`${((type << 4) | flags).toString(16)} 00`, 5, 'RTK_DECODE_RESERVED_FLAGS', MALFORMED);
      }
    }
  });

  test('DUP on PUBREL, SUBSCRIBE, UNSUBSCRIBE: tolerated from 3.1 clients only', () => {
    expectError('6a 02 00 01', 4, 'RTK_DECODE_RESERVED_FLAGS', MALFORMED);
    expectError('8a 06 00 01 00 01 61 00', 5, 'RTK_DECODE_RESERVED_FLAGS', MALFORMED);
    const run = decodeChunks([hex('6a 02 00 01 8a 06 00 01 00 01 61 00 aa 05 00 01 00 01 61')], 3);
    assert.equal(run.error, undefined);
    assert.deepEqual(run.packets.map((p) => p.type), [6, 8, 10]);
  });

  test('PUBLISH with QoS 3', () => {
    expectError('36 05 00 01 74 00 01', 4, 'RTK_DECODE_QOS', MALFORMED);
    expectError('3f 05 00 01 74 00 01', 5, 'RTK_DECODE_QOS', MALFORMED);
  });

  test('PUBLISH QoS 0 with DUP', () => {
    expectError('38 03 00 01 74', 4, 'RTK_DECODE_RESERVED_FLAGS', MALFORMED);
    expectError('39 04 00 01 74 00', 5, 'RTK_DECODE_RESERVED_FLAGS', MALFORMED);
  });
});

describe('packet too large', () => {
  test('is refused from the fixed header alone, before buffering the body', () => {
    const run = decodeChunks([hex('30 e5 07')], 4, 1000); // 997 + 3 = 1000: fits
    assert.equal(run.error, undefined);
    assert.equal(run.decoder.bufferedBytes, 3);
    const over = decodeChunks([hex('30 e6 07')], 4, 1000); // 998 + 3 = 1001
    assert.equal(over.error?.code, 'RTK_DECODE_PACKET_TOO_LARGE');
    assert.equal(over.error?.reasonCode, 0x95);
    assert.equal(over.decoder.bufferedBytes, 0);
    assert.equal(over.decoder.push(hex('c0 00')), over.error);
  });

  test('counts the fixed header, on the fast path too', () => {
    expectErrorWithMax('30 05 00 01 74 68 69', 4, 6);
    const ok = decodeChunks([hex('30 05 00 01 74 68 69')], 4, 7);
    assert.equal(ok.error, undefined);
    assert.equal(ok.packets.length, 1);
  });

  test('maxPacketSize may change between pushes', () => {
    const run = decodeChunks([hex('30 05 00 01 74 68 69')], 4, 7);
    run.decoder.maxPacketSize = 6;
    assert.equal(run.decoder.push(hex('30 05 00 01 74 68 69'))?.code, 'RTK_DECODE_PACKET_TOO_LARGE');
  });

  function expectErrorWithMax(text: string, version: ProtocolVersion, max: number): void {
    const run = decodeChunks([hex(text)], version, max);
    assert.equal(run.error?.code, 'RTK_DECODE_PACKET_TOO_LARGE');
    assert.equal(run.error?.reasonCode, 0x95);
  }
});

describe('lengths', () => {
  test('a field running past the end of the packet', () => {
    expectError('30 03 00 05 74', 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // topic
    expectError('30 01 00', 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // topic length
    expectError('32 04 00 01 74 00', 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // packet id
    expectError('40 01 00', 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // PUBACK packet id
    expectError('20 01 00', 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // CONNACK return code
    expectError('20 02 00 00', 5, 'RTK_DECODE_TRUNCATED', MALFORMED); // CONNACK 5 without property length
    expectError(`10 0c ${MQTT} 04 02 00 3c 00 05`, 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // client id
    expectError('10 04 00 04 4d 51', 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // protocol name
    expectError(`10 09 ${MQTT} 04 02 00`, 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // keep alive
    // flags 06: a will, but no will topic or payload
    expectError(`10 0d ${MQTT} 04 06 00 3c 00 01 63`, 4, 'RTK_DECODE_TRUNCATED', MALFORMED);
    expectError(`10 0d ${MQTT} 04 82 00 3c 00 01 63`, 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // user name
    expectError('82 05 00 01 00 01 61', 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // subscription options
    expectError('a2 05 00 01 00 02 61', 4, 'RTK_DECODE_TRUNCATED', MALFORMED); // unsubscribe filter
    expectError('30 04 00 01 74 05', 5, 'RTK_DECODE_TRUNCATED', MALFORMED); // property length past the packet
    // Content Type of 4 bytes inside a property block of 3: runs past the block, not the packet
    expectError('30 0b 00 01 74 03 03 00 04 6a 73 6f 6e', 5, 'RTK_DECODE_TRUNCATED', MALFORMED);
  });

  test('bytes left over after the last field', () => {
    expectError('c0 01 00', 4, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
    expectError('d0 01 00', 5, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
    expectError('40 03 00 01 00', 4, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
    expectError('62 03 00 01 00', 3, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
    expectError('e0 01 00', 4, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
    expectError('b0 03 00 01 00', 4, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
    expectError('20 03 00 00 00', 4, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
    expectError('20 04 00 00 00 00', 5, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
    expectError(`10 0d ${MQTT} 04 02 00 3c 00 00 ff`, 4, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
    expectError('40 05 00 01 00 00 ff', 5, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
    expectError('e0 03 00 00 ff', 5, 'RTK_DECODE_TRAILING_BYTES', MALFORMED);
  });

  test('variable byte integers longer than four bytes', () => {
    expectError('30 09 00 01 74 ff ff ff ff 01 00', 5, 'RTK_DECODE_VARIABLE_INTEGER', MALFORMED); // property length
    expectError('30 0a 00 01 74 06 0b ff ff ff ff 01', 5, 'RTK_DECODE_VARIABLE_INTEGER', MALFORMED); // subscription id
  });
});

describe('UTF-8 strings', () => {
  // Not UTF-8: a lone continuation byte, an overlong '/', an encoded surrogate, a truncated sequence.
  const invalid = ['80', 'c0 af', 'ed a0 80', 'e2 82', 'f8 88 80 80 80'];
  const nul = ['00', '61 00 62'];
  const bad = (h: string): string => (hex(h).length.toString(16).padStart(4, '0') + ' ' + h);

  function each(build: (s: string) => { text: string; version: ProtocolVersion }): void {
    for (const h of [...invalid, ...nul]) {
      const { text, version } = build(bad(h));
      expectError(text, version, 'RTK_DECODE_INVALID_UTF8', MALFORMED);
    }
  }

  test('topic', () => each((s) => ({ text: packetHex('30', s, '68 69'), version: 4 })));
  test('topic, MQTT 5', () => each((s) => ({ text: packetHex('32', s, '00 01 00'), version: 5 })));
  test('client id', () => each((s) => ({ text: packetHex('10', MQTT, '04 02 00 3c', s), version: 4 })));
  test('will topic', () => each((s) => ({ text: packetHex('10', MQTT, '04 06 00 3c 00 01 63', s, '00 00'), version: 4 })));
  test('user name', () => each((s) => ({ text: packetHex('10', MQTT, '05 82 00 3c 00 00 01 63', s), version: 5 })));
  test('subscribe filter', () => each((s) => ({ text: packetHex('82', '00 01', s, '00'), version: 4 })));
  test('unsubscribe filter', () => each((s) => ({ text: packetHex('a2', '00 01 00', s), version: 5 })));
  test('string property', () => each((s) => ({ text: packetHex('30', '00 01 74', lenHex('03' + s), '03', s), version: 5 })));
  test('user property key', () => each((s) => ({ text: packetHex('e0', '00', lenHex('26' + s + str('v')), '26', s, str('v')), version: 5 })));
  test('user property value', () => each((s) => ({ text: packetHex('e0', '00', lenHex('26' + str('k') + s), '26', str('k'), s), version: 5 })));

  function lenHex(h: string): string {
    return hex(h).length.toString(16).padStart(2, '0');
  }

  test('valid multi-byte strings are accepted (sanity check of the cases above)', () => {
    const run = decodeChunks([hex(packetHex('30', str('é/€/𝄞'), '68 69'))], 4);
    assert.equal(run.error, undefined);
    assert.equal(run.packets.length, 1);
  });
});

describe('CONNECT', () => {
  test('protocol name other than MQTT and MQIsdp', () => {
    expectError(`10 0c 00 04 4d 51 54 58 04 02 00 3c 00 00`, 4, 'RTK_DECODE_PROTOCOL_NAME', MALFORMED);
    expectError(`10 0c 00 04 4d 51 54 58 05 02 00 3c 00 00`, 4, 'RTK_DECODE_PROTOCOL_NAME', MALFORMED);
    expectError(`10 0c 00 04 4d 51 54 58 07 02 00 3c 00 00`, 4, 'RTK_DECODE_PROTOCOL_NAME', UNSUPPORTED_VERSION);
    expectError(`10 08 00 00 06 02 00 3c 00 00`, 4, 'RTK_DECODE_PROTOCOL_NAME', UNSUPPORTED_VERSION);
  });

  test('protocol level that does not match the name', () => {
    expectError(`10 0c ${MQTT} 03 02 00 3c 00 00`, 4, 'RTK_DECODE_PROTOCOL_VERSION', UNSUPPORTED_VERSION);
    expectError(`10 0c ${MQTT} 06 02 00 3c 00 00`, 4, 'RTK_DECODE_PROTOCOL_VERSION', UNSUPPORTED_VERSION);
    expectError(`10 0c ${MQTT} 00 02 00 3c 00 00`, 4, 'RTK_DECODE_PROTOCOL_VERSION', UNSUPPORTED_VERSION);
    expectError(`10 0e 00 06 4d 51 49 73 64 70 04 02 00 3c 00 00`, 4, 'RTK_DECODE_PROTOCOL_VERSION', UNSUPPORTED_VERSION);
  });

  test('reserved connect flag', () => {
    expectError(`10 0c ${MQTT} 04 03 00 3c 00 00`, 4, 'RTK_DECODE_CONNECT_FLAGS', MALFORMED);
    expectError(`10 0d ${MQTT} 05 01 00 3c 00 00 00`, 5, 'RTK_DECODE_CONNECT_FLAGS', MALFORMED);
  });

  test('will QoS or will retain without the will flag', () => {
    expectError(`10 0c ${MQTT} 04 0a 00 3c 00 00`, 4, 'RTK_DECODE_CONNECT_FLAGS', MALFORMED); // QoS 1
    expectError(`10 0c ${MQTT} 04 12 00 3c 00 00`, 4, 'RTK_DECODE_CONNECT_FLAGS', MALFORMED); // QoS 2
    expectError(`10 0d ${MQTT} 05 22 00 3c 00 00 00`, 5, 'RTK_DECODE_CONNECT_FLAGS', MALFORMED); // retain
  });

  test('will QoS 3', () => {
    expectError(`10 11 ${MQTT} 04 1e 00 3c 00 00 00 01 77 00 00`, 4, 'RTK_DECODE_QOS', MALFORMED);
  });

  test('password without user name before MQTT 5', () => {
    expectError(`10 0f ${MQTT} 04 42 00 3c 00 00 00 01 70`, 4, 'RTK_DECODE_CONNECT_FLAGS', MALFORMED);
    expectError(`10 11 00 06 4d 51 49 73 64 70 03 42 00 3c 00 00 00 01 70`, 3, 'RTK_DECODE_CONNECT_FLAGS', MALFORMED);
  });

  test('CONNACK reserved acknowledge flags (3.1.1 and 5)', () => {
    expectError('20 02 02 00', 4, 'RTK_DECODE_CONNACK_FLAGS', MALFORMED);
    expectError('20 03 80 00 00', 5, 'RTK_DECODE_CONNACK_FLAGS', MALFORMED);
  });
});

describe('packet identifiers, SUBSCRIBE and UNSUBSCRIBE', () => {
  test('packet identifier 0 on PUBLISH QoS > 0, SUBSCRIBE, UNSUBSCRIBE: protocol error', () => {
    expectError('32 05 00 01 74 00 00', 4, 'RTK_DECODE_PACKET_ID', PROTOCOL_ERROR);
    expectError('34 06 00 01 74 00 00 00', 5, 'RTK_DECODE_PACKET_ID', PROTOCOL_ERROR);
    expectError('82 06 00 00 00 01 61 00', 4, 'RTK_DECODE_PACKET_ID', PROTOCOL_ERROR);
    expectError('a2 05 00 00 00 01 61', 4, 'RTK_DECODE_PACKET_ID', PROTOCOL_ERROR);
  });

  test('packet identifier 0 on acknowledgements: malformed', () => {
    for (const first of ['40', '50', '62', '70']) expectError(`${first} 02 00 00`, 4, 'RTK_DECODE_PACKET_ID', MALFORMED);
    expectError('90 03 00 00 00', 4, 'RTK_DECODE_PACKET_ID', MALFORMED);
    expectError('b0 02 00 00', 4, 'RTK_DECODE_PACKET_ID', MALFORMED);
    expectError('b0 04 00 00 00 00', 5, 'RTK_DECODE_PACKET_ID', MALFORMED);
  });

  test('SUBSCRIBE or UNSUBSCRIBE without a topic filter', () => {
    expectError('82 02 00 01', 4, 'RTK_DECODE_EMPTY_PAYLOAD', PROTOCOL_ERROR);
    expectError('82 03 00 01 00', 5, 'RTK_DECODE_EMPTY_PAYLOAD', PROTOCOL_ERROR);
    expectError('a2 02 00 01', 3, 'RTK_DECODE_EMPTY_PAYLOAD', PROTOCOL_ERROR);
    expectError('a2 03 00 01 00', 5, 'RTK_DECODE_EMPTY_PAYLOAD', PROTOCOL_ERROR);
  });

  test('3.1.1 subscription options: upper six bits reserved, QoS 3', () => {
    for (const options of ['04', '08', '10', '20', '40', '80']) {
      expectError(`82 06 00 01 00 01 61 ${options}`, 4, 'RTK_DECODE_SUBSCRIPTION_OPTIONS', MALFORMED);
    }
    expectError('82 06 00 01 00 01 61 03', 4, 'RTK_DECODE_QOS', MALFORMED);
  });

  test('MQTT 5 subscription options: bits 6-7 reserved, QoS 3, Retain Handling 3', () => {
    expectError('82 07 00 01 00 00 01 61 40', 5, 'RTK_DECODE_SUBSCRIPTION_OPTIONS', MALFORMED);
    expectError('82 07 00 01 00 00 01 61 80', 5, 'RTK_DECODE_SUBSCRIPTION_OPTIONS', MALFORMED);
    expectError('82 07 00 01 00 00 01 61 03', 5, 'RTK_DECODE_QOS', PROTOCOL_ERROR);
    expectError('82 07 00 01 00 00 01 61 30', 5, 'RTK_DECODE_SUBSCRIPTION_OPTIONS', PROTOCOL_ERROR);
    // the second subscription is the bad one
    expectError('82 0b 00 01 00 00 01 61 00 00 01 62 31', 5, 'RTK_DECODE_SUBSCRIPTION_OPTIONS', PROTOCOL_ERROR);
  });
});

describe('MQTT 5 properties', () => {
  test('unknown property identifier', () => {
    for (const id of ['00', '04', '0a', '10', '20', '2b', '7f', '80']) {
      expectError(packetHex('e0', '00 02', id, '00'), 5, 'RTK_DECODE_PROPERTY_UNKNOWN', MALFORMED);
    }
  });

  test('every property on every packet (or will) that may not carry it', () => {
    let count = 0;
    for (const { id, name, contexts } of PROPERTY_TABLE) {
      const sample = PROPERTY_SAMPLES.find((s) => s.id === id)!;
      for (const context of CONTEXTS) {
        if (contexts.includes(context)) continue;
        const { bytes } = withProperties(context, sample.hex, sample.value);
        assert.doesNotThrow(() => expectError(bytes, 5, 'RTK_DECODE_PROPERTY_NOT_ALLOWED', MALFORMED), `${name} on ${CONTEXT_NAMES[context]}`);
        count++;
      }
    }
    assert.ok(count > 250);
  });

  test('every property that may appear once, twice', () => {
    for (const { id, name, contexts } of PROPERTY_TABLE) {
      if (id === 0x26) continue; // User Property may repeat
      const sample = PROPERTY_SAMPLES.find((s) => s.id === id)!;
      for (const context of contexts) {
        if (id === 0x0b && context === 3) continue; // several Subscription Identifiers on PUBLISH
        const { bytes } = withProperties(context, `${sample.hex} ${sample.hex}`, sample.value);
        assert.doesNotThrow(() => expectError(bytes, 5, 'RTK_DECODE_PROPERTY_DUPLICATE', PROTOCOL_ERROR), `${name} on ${CONTEXT_NAMES[context]}`);
      }
    }
  });

  test('values out of range', () => {
    const cases: Array<[number, string]> = [
      [3, '01 02'], // Payload Format Indicator 2
      [0, '01 ff'], // ... in will properties
      [2, '24 02'], // Maximum QoS 2
      [2, '25 02'], // Retain Available 2
      [2, '28 02'], // Wildcard Subscription Available 2
      [2, '29 02'], // Subscription Identifier Available 2
      [2, '2a 02'], // Shared Subscription Available 2
      [1, '17 02'], // Request Problem Information 2
      [1, '19 02'], // Request Response Information 2
      [1, '21 00 00'], // Receive Maximum 0
      [2, '21 00 00'],
      [1, '27 00 00 00 00'], // Maximum Packet Size 0
      [2, '27 00 00 00 00'],
      [3, '0b 00'], // Subscription Identifier 0
      [8, '0b 00'],
    ];
    for (const [context, props] of cases) {
      const { bytes } = withProperties(context, props, {});
      assert.doesNotThrow(() => expectError(bytes, 5, 'RTK_DECODE_PROPERTY_VALUE', PROTOCOL_ERROR), `${props} on ${CONTEXT_NAMES[context]}`);
    }
  });

  test('[MQTT-3.3.2-8] Topic Alias 0 is answered with 0x94 Topic Alias invalid', () => {
    const { bytes } = withProperties(3, '23 00 00', {});
    expectError(bytes, 5, 'RTK_DECODE_PROPERTY_VALUE', 0x94);
  });

  test('the largest values in range are accepted', () => {
    const { bytes } = withProperties(3, '0b ff ff ff 7f 01 01 23 ff ff', {});
    const run = decodeChunks([hex(bytes)], 5);
    assert.equal(run.error, undefined);
    assert.deepEqual(run.packets[0] && 'properties' in run.packets[0] ? run.packets[0].properties : undefined,
      { subscriptionIdentifiers: [268_435_455], payloadFormatIndicator: 1, topicAlias: 0xffff });
  });
});
