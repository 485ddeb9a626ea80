/**
 * fast-check arbitraries for every packet type of every protocol version, with random MQTT 5
 * properties valid for the packet that carries them. Packets are generated in the form the codec
 * gives back (optional fields absent rather than undefined) where that is cheap; `normalise` in
 * helpers.ts does the rest.
 */
import * as fc from 'fast-check';
import type {
  ConnectPacket,
  Packet,
  Properties,
  ProtocolVersion,
  QoS,
  Subscription,
  Will,
} from '../../src/codec/index';
import { PROPERTY_TABLE, V4_CONNACK_CODES, V4_SUBACK_CODES, V5_REASON_CODES, WILL } from './spec';

/** Strings MQTT can carry: any Unicode scalar value but U+0000, and plain ASCII more often. */
export function mqttString(maxLength = 12): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength }).filter((s) => !s.includes('\u0000')) },
  );
}

export function bytes(maxLength = 24): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
}

const flag = fc.integer({ min: 0, max: 1 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u16NonZero = fc.integer({ min: 1, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u32NonZero = fc.integer({ min: 1, max: 0xffff_ffff });
const packetId = fc.integer({ min: 1, max: 0xffff });
const qos = fc.constantFrom<QoS>(0, 1, 2);
const subscriptionId = fc.oneof(fc.integer({ min: 1, max: 127 }), fc.integer({ min: 1, max: 268_435_455 }));

function propertyArbitrary(name: keyof Properties, context: number): fc.Arbitrary<unknown> {
  switch (name) {
    case 'payloadFormatIndicator':
    case 'requestProblemInformation':
    case 'requestResponseInformation':
    case 'maximumQoS':
    case 'retainAvailable':
    case 'wildcardSubscriptionAvailable':
    case 'subscriptionIdentifierAvailable':
    case 'sharedSubscriptionAvailable':
      return flag;
    case 'messageExpiryInterval':
    case 'sessionExpiryInterval':
    case 'willDelayInterval':
      return u32;
    case 'maximumPacketSize':
      return u32NonZero;
    case 'serverKeepAlive':
    case 'topicAliasMaximum':
      return u16;
    case 'receiveMaximum':
    case 'topicAlias':
      return u16NonZero;
    case 'responseTopic':
      // A topic name [MQTT-3.3.2-14]: not empty, no wildcards.
      return mqttString(16).filter((s) => s.length > 0 && !s.includes('+') && !s.includes('#'));
    case 'contentType':
    case 'assignedClientIdentifier':
    case 'authenticationMethod':
    case 'responseInformation':
    case 'serverReference':
    case 'reasonString':
      return mqttString(16);
    case 'correlationData':
    case 'authenticationData':
      return bytes(16);
    case 'subscriptionIdentifiers':
      return fc.array(subscriptionId, { minLength: 1, maxLength: context === 3 ? 3 : 1 });
    case 'userProperties':
      return fc.array(fc.tuple(mqttString(6), mqttString(6)), { minLength: 1, maxLength: 4 });
  }
}

const propertyArbitraries = new Map<number, fc.Arbitrary<Properties | undefined>>();

/** Random properties valid in `context` (a packet type, or WILL), or undefined. */
export function properties(context: number): fc.Arbitrary<Properties | undefined> {
  let arb = propertyArbitraries.get(context);
  if (arb === undefined) {
    const model: Record<string, fc.Arbitrary<unknown>> = {};
    for (const p of PROPERTY_TABLE) if (p.contexts.includes(context)) model[p.name] = propertyArbitrary(p.name, context);
    arb = fc.option(fc.record(model, { requiredKeys: [] }), { nil: undefined, freq: 3 }).map((p) =>
      p === undefined || Object.keys(p).length === 0 ? undefined : (p as Properties),
    );
    propertyArbitraries.set(context, arb);
  }
  return arb;
}

/** Adds `properties` to a packet (MQTT 5 only), leaving the key absent when there are none. */
function withProps<P extends object>(version: ProtocolVersion, context: number, packet: fc.Arbitrary<P>): fc.Arbitrary<P & { properties?: Properties }> {
  if (version !== 5) return packet;
  return fc.tuple(packet, properties(context)).map(([p, props]) => (props === undefined ? p : { ...p, properties: props }));
}

function optionalReason(version: ProtocolVersion, codes: number[]): fc.Arbitrary<number | undefined> {
  return version === 5 ? fc.option(fc.constantFrom(...codes), { nil: undefined }) : fc.constant(undefined);
}

function withReason<P extends object>(packet: P, reasonCode: number | undefined): P & { reasonCode?: number } {
  return reasonCode === undefined ? packet : { ...packet, reasonCode };
}

function will(version: ProtocolVersion): fc.Arbitrary<Will> {
  const base = fc.record({ topic: mqttString(), payload: bytes(), qos, retain: fc.boolean() });
  return withProps(version, WILL, base);
}

function connect(version: ProtocolVersion): fc.Arbitrary<ConnectPacket> {
  const base = fc
    .record({
      cleanStart: fc.boolean(),
      keepAlive: u16,
      clientId: mqttString(23),
      will: fc.option(will(version), { nil: undefined }),
      username: fc.option(mqttString(), { nil: undefined }),
      password: fc.option(bytes(), { nil: undefined }),
    })
    .map(({ will: w, username, password, ...rest }) => {
      const p: ConnectPacket = { type: 1, protocolName: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, ...rest };
      if (w !== undefined) p.will = w;
      if (username !== undefined) p.username = username;
      // before MQTT 5 a password needs a user name ([MQTT-3.1.2-22])
      if (password !== undefined && (version === 5 || username !== undefined)) p.password = password;
      return p;
    });
  return withProps(version, 1, base);
}

function subscription(version: ProtocolVersion): fc.Arbitrary<Subscription> {
  if (version !== 5) return fc.record({ filter: mqttString(), qos }).map((s) => ({ ...s, noLocal: false, retainAsPublished: false, retainHandling: 0 as const }));
  return fc.record({
    filter: mqttString(),
    qos,
    noLocal: fc.boolean(),
    retainAsPublished: fc.boolean(),
    retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
  });
}

/** Every packet that exists in `version`. */
export function packet(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const v5 = version === 5;
  const ack = (type: 4 | 5 | 6 | 7): fc.Arbitrary<Packet> =>
    withProps(version, type, fc.tuple(packetId, optionalReason(version, type <= 5 ? V5_REASON_CODES.pubackPubrec : V5_REASON_CODES.pubrelPubcomp))
      .map(([id, rc]) => withReason({ type, packetId: id }, rc))) as fc.Arbitrary<Packet>;
  const arbitraries: Array<fc.Arbitrary<Packet>> = [
    connect(version),
    withProps(version, 2, fc.record({
      sessionPresent: fc.boolean(),
      reasonCode: fc.constantFrom(...(v5 ? V5_REASON_CODES.connack : V4_CONNACK_CODES)),
    }).map((p) => ({ type: 2 as const, ...p }))),
    publish(version),
    ack(4), ack(5), ack(6), ack(7),
    withProps(version, 8, fc.record({ packetId, subscriptions: fc.array(subscription(version), { minLength: 1, maxLength: 4 }) })
      .map((p) => ({ type: 8 as const, ...p }))),
    withProps(version, 9, fc.record({
      packetId,
      reasonCodes: fc.array(fc.constantFrom(...(v5 ? V5_REASON_CODES.suback : V4_SUBACK_CODES)), { minLength: 1, maxLength: 4 }),
    }).map((p) => ({ type: 9 as const, ...p }))),
    withProps(version, 10, fc.record({ packetId, filters: fc.array(mqttString(), { minLength: 1, maxLength: 4 }) })
      .map((p) => ({ type: 10 as const, ...p }))),
    withProps(version, 11, fc.record({
      packetId,
      reasonCodes: v5 ? fc.array(fc.constantFrom(...V5_REASON_CODES.unsuback), { minLength: 1, maxLength: 4 }) : fc.constant<number[]>([]),
    }).map((p) => ({ type: 11 as const, ...p }))),
    fc.constant({ type: 12 as const }),
    fc.constant({ type: 13 as const }),
    withProps(version, 14, optionalReason(version, V5_REASON_CODES.disconnect).map((rc) => withReason({ type: 14 as const }, rc))),
  ];
  if (v5) {
    arbitraries.push(withProps(version, 15, optionalReason(version, V5_REASON_CODES.auth).map((rc) => withReason({ type: 15 as const }, rc))));
  }
  return fc.oneof(...arbitraries);
}

export function publish(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const base = fc
    .record({ topic: mqttString(20), payload: bytes(64), qos, retain: fc.boolean(), dup: fc.boolean(), packetId })
    .map(({ packetId: id, dup, ...p }) =>
      p.qos === 0 ? { type: 3 as const, ...p, dup: false } : { type: 3 as const, ...p, dup, packetId: id });
  return withProps(version, 3, base);
}

export const version: fc.Arbitrary<ProtocolVersion> = fc.constantFrom<ProtocolVersion>(3, 4, 5);
