/**
 * Facts copied by hand from the MQTT 5 specification, kept apart from src/ so that tests do not
 * check the codec against itself.
 */
import type { Properties } from '../../src/codec/index';

/** The will properties inside CONNECT. */
export const WILL = 0;

export const CONTEXT_NAMES: Record<number, string> = {
  0: 'will', 1: 'CONNECT', 2: 'CONNACK', 3: 'PUBLISH', 4: 'PUBACK', 5: 'PUBREC', 6: 'PUBREL', 7: 'PUBCOMP',
  8: 'SUBSCRIBE', 9: 'SUBACK', 10: 'UNSUBSCRIBE', 11: 'UNSUBACK', 14: 'DISCONNECT', 15: 'AUTH',
};

/** Every context that has a property block. */
export const CONTEXTS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15];

/** MQTT 5 table 2-4: property identifier, name and where it may appear. */
export const PROPERTY_TABLE: Array<{ id: number; name: keyof Properties; contexts: number[] }> = [
  { id: 0x01, name: 'payloadFormatIndicator', contexts: [3, WILL] },
  { id: 0x02, name: 'messageExpiryInterval', contexts: [3, WILL] },
  { id: 0x03, name: 'contentType', contexts: [3, WILL] },
  { id: 0x08, name: 'responseTopic', contexts: [3, WILL] },
  { id: 0x09, name: 'correlationData', contexts: [3, WILL] },
  { id: 0x0b, name: 'subscriptionIdentifiers', contexts: [3, 8] },
  { id: 0x11, name: 'sessionExpiryInterval', contexts: [1, 2, 14] },
  { id: 0x12, name: 'assignedClientIdentifier', contexts: [2] },
  { id: 0x13, name: 'serverKeepAlive', contexts: [2] },
  { id: 0x15, name: 'authenticationMethod', contexts: [1, 2, 15] },
  { id: 0x16, name: 'authenticationData', contexts: [1, 2, 15] },
  { id: 0x17, name: 'requestProblemInformation', contexts: [1] },
  { id: 0x18, name: 'willDelayInterval', contexts: [WILL] },
  { id: 0x19, name: 'requestResponseInformation', contexts: [1] },
  { id: 0x1a, name: 'responseInformation', contexts: [2] },
  { id: 0x1c, name: 'serverReference', contexts: [2, 14] },
  { id: 0x1f, name: 'reasonString', contexts: [2, 4, 5, 6, 7, 9, 11, 14, 15] },
  { id: 0x21, name: 'receiveMaximum', contexts: [1, 2] },
  { id: 0x22, name: 'topicAliasMaximum', contexts: [1, 2] },
  { id: 0x23, name: 'topicAlias', contexts: [3] },
  { id: 0x24, name: 'maximumQoS', contexts: [2] },
  { id: 0x25, name: 'retainAvailable', contexts: [2] },
  { id: 0x26, name: 'userProperties', contexts: [1, 2, 3, WILL, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15] },
  { id: 0x27, name: 'maximumPacketSize', contexts: [1, 2] },
  { id: 0x28, name: 'wildcardSubscriptionAvailable', contexts: [2] },
  { id: 0x29, name: 'subscriptionIdentifierAvailable', contexts: [2] },
  { id: 0x2a, name: 'sharedSubscriptionAvailable', contexts: [2] },
];

/** One hand-encoded sample per property: the bytes (identifier first) and the decoded value. */
export const PROPERTY_SAMPLES: Array<{ id: number; hex: string; value: Properties }> = [
  { id: 0x01, hex: '01 01', value: { payloadFormatIndicator: 1 } },
  { id: 0x02, hex: '02 00 00 0e 10', value: { messageExpiryInterval: 3600 } },
  { id: 0x03, hex: '03 00 04 6a 73 6f 6e', value: { contentType: 'json' } },
  { id: 0x08, hex: '08 00 03 72 2f 74', value: { responseTopic: 'r/t' } },
  { id: 0x09, hex: '09 00 02 01 02', value: { correlationData: Buffer.from([1, 2]) } },
  { id: 0x0b, hex: '0b ac 02', value: { subscriptionIdentifiers: [300] } },
  { id: 0x11, hex: '11 ff ff ff ff', value: { sessionExpiryInterval: 0xffffffff } },
  { id: 0x12, hex: '12 00 06 61 75 74 6f 2d 31', value: { assignedClientIdentifier: 'auto-1' } },
  { id: 0x13, hex: '13 00 1e', value: { serverKeepAlive: 30 } },
  { id: 0x15, hex: '15 00 05 53 43 52 41 4d', value: { authenticationMethod: 'SCRAM' } },
  { id: 0x16, hex: '16 00 02 de ad', value: { authenticationData: Buffer.from([0xde, 0xad]) } },
  { id: 0x17, hex: '17 00', value: { requestProblemInformation: 0 } },
  { id: 0x18, hex: '18 00 00 00 0a', value: { willDelayInterval: 10 } },
  { id: 0x19, hex: '19 01', value: { requestResponseInformation: 1 } },
  { id: 0x1a, hex: '1a 00 04 72 65 73 70', value: { responseInformation: 'resp' } },
  { id: 0x1c, hex: '1c 00 04 73 72 76 32', value: { serverReference: 'srv2' } },
  { id: 0x1f, hex: '1f 00 02 6f 6b', value: { reasonString: 'ok' } },
  { id: 0x21, hex: '21 00 14', value: { receiveMaximum: 20 } },
  { id: 0x22, hex: '22 00 0a', value: { topicAliasMaximum: 10 } },
  { id: 0x23, hex: '23 00 01', value: { topicAlias: 1 } },
  { id: 0x24, hex: '24 01', value: { maximumQoS: 1 } },
  { id: 0x25, hex: '25 00', value: { retainAvailable: 0 } },
  { id: 0x26, hex: '26 00 01 6b 00 01 76', value: { userProperties: [['k', 'v']] } },
  { id: 0x27, hex: '27 00 00 04 00', value: { maximumPacketSize: 1024 } },
  { id: 0x28, hex: '28 00', value: { wildcardSubscriptionAvailable: 0 } },
  { id: 0x29, hex: '29 01', value: { subscriptionIdentifierAvailable: 1 } },
  { id: 0x2a, hex: '2a 01', value: { sharedSubscriptionAvailable: 1 } },
];

/** Reason codes that MQTT 5 defines for each packet (spec section 2.4 and each packet's section). */
export const V5_REASON_CODES = {
  connack: [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f],
  pubackPubrec: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  pubrelPubcomp: [0x00, 0x92],
  suback: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
  unsuback: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91],
  disconnect: [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2],
  auth: [0x00, 0x18, 0x19],
};

/** 3.1.1 CONNACK return codes and SUBACK return codes. */
export const V4_CONNACK_CODES = [0, 1, 2, 3, 4, 5];
export const V4_SUBACK_CODES = [0, 1, 2, 0x80];
