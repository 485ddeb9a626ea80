/**
 * Known-good packets, spelled in hex from the specifications (MQTT 3.1, 3.1.1 and 5.0), with the
 * packet each one decodes to. `decodeOnly` marks valid but non-canonical forms that our encoder
 * writes differently (e.g. the 3-byte MQTT 5 PUBACK).
 */
import type { Packet, Properties, ProtocolVersion } from '../../src/codec/index';
import { hex, packetHex, len1 } from './helpers';
import { CONTEXT_NAMES, PROPERTY_SAMPLES, PROPERTY_TABLE } from './spec';

export interface Fixture {
  name: string;
  version: ProtocolVersion;
  bytes: Buffer;
  packet: Packet;
  decodeOnly?: boolean;
}

const MQTT = '00 04 4d 51 54 54'; // 'MQTT'
const MQISDP = '00 06 4d 51 49 73 64 70'; // 'MQIsdp'
const b = (s: string): Buffer => Buffer.from(s, 'utf8');

function f(name: string, version: ProtocolVersion, text: string, packet: Packet, decodeOnly = false): Fixture {
  return decodeOnly ? { name, version, bytes: hex(text), packet, decodeOnly } : { name, version, bytes: hex(text), packet };
}

/** The packets whose bodies do not change between 3.1 and 3.1.1. */
function commonV3V4(version: 3 | 4): Fixture[] {
  return [
    f('PUBLISH QoS 0', version, '30 05 00 01 74 68 69',
      { type: 3, topic: 't', payload: b('hi'), qos: 0, retain: false, dup: false }),
    f('PUBLISH QoS 1 retain dup', version, '3b 07 00 01 74 12 34 68 69',
      { type: 3, topic: 't', payload: b('hi'), qos: 1, retain: true, dup: true, packetId: 0x1234 }),
    f('PUBLISH QoS 2 empty payload', version, '34 05 00 01 74 00 01',
      { type: 3, topic: 't', payload: b(''), qos: 2, retain: false, dup: false, packetId: 1 }),
    f('PUBLISH two-byte remaining length', version, '30 cb 01 00 01 74' + '61'.repeat(200),
      { type: 3, topic: 't', payload: b('a'.repeat(200)), qos: 0, retain: false, dup: false }),
    f('PUBACK', version, '40 02 00 01', { type: 4, packetId: 1 }),
    f('PUBREC', version, '50 02 ff ff', { type: 5, packetId: 0xffff }),
    f('PUBREL', version, '62 02 00 02', { type: 6, packetId: 2 }),
    f('PUBCOMP', version, '70 02 00 03', { type: 7, packetId: 3 }),
    f('SUBSCRIBE', version, '82 0c 00 01 00 03 61 2f 23 01 00 01 62 02', {
      type: 8, packetId: 1, subscriptions: [
        { filter: 'a/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { filter: 'b', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    }),
    f('SUBACK', version, '90 04 00 01 01 80', { type: 9, packetId: 1, reasonCodes: [1, 0x80] }),
    f('UNSUBSCRIBE', version, 'a2 09 00 02 00 01 61 00 02 62 2f', { type: 10, packetId: 2, filters: ['a', 'b/'] }),
    f('UNSUBACK', version, 'b0 02 00 02', { type: 11, packetId: 2, reasonCodes: [] }),
    f('PINGREQ', version, 'c0 00', { type: 12 }),
    f('PINGRESP', version, 'd0 00', { type: 13 }),
    f('DISCONNECT', version, 'e0 00', { type: 14 }),
  ];
}

export const V3_FIXTURES: Fixture[] = [
  f('CONNECT 3.1 minimal', 3, `10 12 ${MQISDP} 03 02 00 3c 00 04 63 6c 69 31`, {
    type: 1, protocolName: 'MQIsdp', protocolVersion: 3, cleanStart: true, keepAlive: 60, clientId: 'cli1',
  }),
  // flags ee: user name, password, will retain, will QoS 1, will, clean session
  f('CONNECT 3.1 will, user name, password', 3, `10 1d ${MQISDP} 03 ee 00 0a 00 01 63 00 01 77 00 02 62 79 00 01 75 00 02 70 77`, {
    type: 1, protocolName: 'MQIsdp', protocolVersion: 3, cleanStart: true, keepAlive: 10, clientId: 'c',
    will: { topic: 'w', payload: b('by'), qos: 1, retain: true }, username: 'u', password: b('pw'),
  }),
  f('CONNACK 3.1', 3, '20 02 00 00', { type: 2, sessionPresent: false, reasonCode: 0 }),
  f('SUBACK 3.1 single', 3, '90 03 00 01 00', { type: 9, packetId: 1, reasonCodes: [0] }),
  ...commonV3V4(3),
];

export const V4_FIXTURES: Fixture[] = [
  f('CONNECT 3.1.1 minimal, empty client id', 4, `10 0c ${MQTT} 04 02 00 3c 00 00`, {
    type: 1, protocolName: 'MQTT', protocolVersion: 4, cleanStart: true, keepAlive: 60, clientId: '',
  }),
  // flags c4: user name, password, will (QoS 0, no retain), no clean session
  f('CONNECT 3.1.1 will, user name, password', 4, `10 20 ${MQTT} 04 c4 00 00 00 02 69 64 00 03 61 2f 62 00 00 00 04 75 73 65 72 00 03 01 02 03`, {
    type: 1, protocolName: 'MQTT', protocolVersion: 4, cleanStart: false, keepAlive: 0, clientId: 'id',
    will: { topic: 'a/b', payload: b(''), qos: 0, retain: false }, username: 'user', password: Buffer.from([1, 2, 3]),
  }),
  f('CONNECT 3.1.1 user name only', 4, `10 11 ${MQTT} 04 82 ff ff 00 00 00 03 c3 a9 65`, {
    type: 1, protocolName: 'MQTT', protocolVersion: 4, cleanStart: true, keepAlive: 65535, clientId: '', username: 'ée',
  }),
  f('CONNACK 3.1.1 session present, not authorized', 4, '20 02 01 05', { type: 2, sessionPresent: true, reasonCode: 5 }),
  ...commonV3V4(4),
];

export const V5_FIXTURES: Fixture[] = [
  f('CONNECT 5 minimal', 5, `10 0d ${MQTT} 05 02 00 3c 00 00 00`, {
    type: 1, protocolName: 'MQTT', protocolVersion: 5, cleanStart: true, keepAlive: 60, clientId: '',
  }),
  // flags ee; CONNECT properties: Session Expiry 120; will properties: Will Delay 5
  f('CONNECT 5 will, user name, password, properties', 5,
    `10 27 ${MQTT} 05 ee 00 1e 05 11 00 00 00 78 00 03 63 6c 69 05 18 00 00 00 05 00 01 77 00 01 78 00 01 75 00 01 70`, {
      type: 1, protocolName: 'MQTT', protocolVersion: 5, cleanStart: true, keepAlive: 30, clientId: 'cli',
      properties: { sessionExpiryInterval: 120 },
      will: { topic: 'w', payload: b('x'), qos: 1, retain: true, properties: { willDelayInterval: 5 } },
      username: 'u', password: b('p'),
    }),
  // MQTT 5 allows a password without a user name (3.1.2.9)
  f('CONNECT 5 password without user name', 5, `10 10 ${MQTT} 05 40 00 00 00 00 00 00 01 ab`, {
    type: 1, protocolName: 'MQTT', protocolVersion: 5, cleanStart: false, keepAlive: 0, clientId: '', password: Buffer.from([0xab]),
  }),
  f('CONNACK 5', 5, '20 03 00 00 00', { type: 2, sessionPresent: false, reasonCode: 0 }),
  f('CONNACK 5 session present, refused', 5, '20 03 01 87 00', { type: 2, sessionPresent: true, reasonCode: 0x87 }),
  f('PUBLISH 5 QoS 0', 5, '30 06 00 01 74 00 68 69',
    { type: 3, topic: 't', payload: b('hi'), qos: 0, retain: false, dup: false }),
  f('PUBLISH 5 QoS 2, UTF-8 topic', 5, '34 0b 00 06 c3 bc 2f e2 82 ac 00 0a 00',
    { type: 3, topic: 'ü/€', payload: b(''), qos: 2, retain: false, dup: false, packetId: 10 }),
  f('PUBLISH 5 two subscription identifiers', 5, '30 0a 00 01 74 04 0b 01 0b 7f 68 69', {
    type: 3, topic: 't', payload: b('hi'), qos: 0, retain: false, dup: false, properties: { subscriptionIdentifiers: [1, 127] },
  }),
  f('PUBLISH 5 topic alias, empty topic', 5, '31 06 00 00 03 23 00 05',
    { type: 3, topic: '', payload: b(''), qos: 0, retain: true, dup: false, properties: { topicAlias: 5 } }),
  f('PUBLISH 5 repeated user properties', 5, '30 14 00 01 74 0f 26 00 01 6b 00 01 76 26 00 01 6b 00 02 c3 a9 21', {
    type: 3, topic: 't', payload: b('!'), qos: 0, retain: false, dup: false,
    properties: { userProperties: [['k', 'v'], ['k', 'é']] },
  }),
  f('PUBACK 5 short form', 5, '40 02 00 01', { type: 4, packetId: 1 }),
  f('PUBACK 5 no matching subscribers', 5, '40 04 00 01 10 00', { type: 4, packetId: 1, reasonCode: 0x10 }),
  f('PUBACK 5 reason code without property length', 5, '40 03 00 01 10', { type: 4, packetId: 1, reasonCode: 0x10 }, true),
  f('PUBACK 5 success with property length 0', 5, '40 04 00 01 00 00', { type: 4, packetId: 1, reasonCode: 0 }, true),
  f('PUBREC 5', 5, '50 02 00 09', { type: 5, packetId: 9 }),
  f('PUBREC 5 quota exceeded', 5, '50 04 00 09 97 00', { type: 5, packetId: 9, reasonCode: 0x97 }),
  f('PUBREL 5', 5, '62 02 00 02', { type: 6, packetId: 2 }),
  f('PUBREL 5 packet id not found', 5, '62 04 00 02 92 00', { type: 6, packetId: 2, reasonCode: 0x92 }),
  f('PUBCOMP 5', 5, '70 02 00 03', { type: 7, packetId: 3 }),
  f('PUBCOMP 5 packet id not found', 5, '70 04 00 03 92 00', { type: 7, packetId: 3, reasonCode: 0x92 }),
  // options 2d: QoS 1, No Local, Retain As Published, Retain Handling 2; options 10: QoS 0, Retain Handling 1
  f('SUBSCRIBE 5 options', 5, '82 0d 00 0a 00 00 03 61 2f 2b 2d 00 01 62 10', {
    type: 8, packetId: 10, subscriptions: [
      { filter: 'a/+', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
      { filter: 'b', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 1 },
    ],
  }),
  f('SUBACK 5', 5, '90 05 00 01 00 02 a2', { type: 9, packetId: 1, reasonCodes: [2, 0xa2] }),
  f('UNSUBSCRIBE 5', 5, 'a2 06 00 02 00 00 01 61', { type: 10, packetId: 2, filters: ['a'] }),
  f('UNSUBACK 5', 5, 'b0 05 00 02 00 00 11', { type: 11, packetId: 2, reasonCodes: [0, 0x11] }),
  f('PINGREQ 5', 5, 'c0 00', { type: 12 }),
  f('PINGRESP 5', 5, 'd0 00', { type: 13 }),
  f('DISCONNECT 5 empty', 5, 'e0 00', { type: 14 }),
  f('DISCONNECT 5 with will message', 5, 'e0 02 04 00', { type: 14, reasonCode: 4 }),
  f('DISCONNECT 5 reason code only', 5, 'e0 01 8e', { type: 14, reasonCode: 0x8e }, true),
  f('AUTH 5 empty', 5, 'f0 00', { type: 15 }),
  f('AUTH 5 continue', 5, 'f0 02 18 00', { type: 15, reasonCode: 0x18 }),
];

/**
 * A packet carrying the property block `props` (hex of the properties, without their length) in
 * `context`, and the packet it decodes to. Used to put every property on every packet that allows it.
 */
export function withProperties(context: number, props: string, value: Properties): { bytes: string; packet: Packet } {
  const block = len1(props) + props;
  const connect = { type: 1, protocolName: 'MQTT', protocolVersion: 5, cleanStart: true, keepAlive: 60, clientId: 'c' } as const;
  switch (context) {
    case 0: // will properties; flags 06: will (QoS 0), clean start
      return {
        bytes: packetHex('10', MQTT, '05 06 00 3c 00 00 01 63', block, '00 01 77 00 01 78'),
        packet: { ...connect, will: { topic: 'w', payload: b('x'), qos: 0, retain: false, properties: value } },
      };
    case 1:
      return { bytes: packetHex('10', MQTT, '05 02 00 3c', block, '00 01 63'), packet: { ...connect, properties: value } };
    case 2:
      return { bytes: packetHex('20', '00 00', block), packet: { type: 2, sessionPresent: false, reasonCode: 0, properties: value } };
    case 3:
      return {
        bytes: packetHex('32', '00 01 74 00 07', block, '68 69'),
        packet: { type: 3, topic: 't', payload: b('hi'), qos: 1, retain: false, dup: false, packetId: 7, properties: value },
      };
    case 4: case 5: case 6: case 7: {
      const first = (context << 4) | (context === 6 ? 2 : 0);
      return {
        bytes: packetHex(first.toString(16), '00 01 00', block),
        packet: { type: context, packetId: 1, reasonCode: 0, properties: value },
      };
    }
    case 8:
      return {
        bytes: packetHex('82', '00 01', block, '00 01 61 00'),
        packet: { type: 8, packetId: 1, properties: value, subscriptions: [{ filter: 'a', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] },
      };
    case 9:
      return { bytes: packetHex('90', '00 01', block, '00'), packet: { type: 9, packetId: 1, reasonCodes: [0], properties: value } };
    case 10:
      return { bytes: packetHex('a2', '00 01', block, '00 01 61'), packet: { type: 10, packetId: 1, filters: ['a'], properties: value } };
    case 11:
      return { bytes: packetHex('b0', '00 01', block, '00'), packet: { type: 11, packetId: 1, reasonCodes: [0], properties: value } };
    case 14:
      return { bytes: packetHex('e0', '00', block), packet: { type: 14, reasonCode: 0, properties: value } };
    case 15:
      return { bytes: packetHex('f0', '18', block), packet: { type: 15, reasonCode: 0x18, properties: value } };
    default:
      throw new Error(`no template for context ${context}`);
  }
}

/** Every MQTT 5 property on every packet (or will) that may carry it. */
export const PROPERTY_FIXTURES: Fixture[] = PROPERTY_TABLE.flatMap(({ id, name, contexts }) => {
  const sample = PROPERTY_SAMPLES.find((s) => s.id === id);
  if (sample === undefined) throw new Error(`no sample for property ${name}`);
  return contexts.map((context) => {
    const { bytes, packet } = withProperties(context, sample.hex, sample.value);
    return f(`${name} on ${CONTEXT_NAMES[context]}`, 5, bytes, packet);
  });
});

/** Every property at once on the packets that allow many (in identifier order, as encoded). */
export const ALL_PROPERTY_FIXTURES: Fixture[] = [0, 1, 2, 3].map((context) => {
  const samples = PROPERTY_TABLE.filter((p) => p.contexts.includes(context)).map((p) => PROPERTY_SAMPLES.find((s) => s.id === p.id)!);
  const value: Properties = Object.assign({}, ...samples.map((s) => s.value));
  const { bytes, packet } = withProperties(context, samples.map((s) => s.hex).join(' '), value);
  return f(`every property of ${CONTEXT_NAMES[context]}`, 5, bytes, packet);
});

export const ALL_FIXTURES: Fixture[] = [...V3_FIXTURES, ...V4_FIXTURES, ...V5_FIXTURES, ...PROPERTY_FIXTURES, ...ALL_PROPERTY_FIXTURES];
