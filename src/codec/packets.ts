/**
 * MQTT control packets as a discriminated union on `type`.
 *
 * One shape serves MQTT 3.1 (protocol level 3), 3.1.1 (level 4) and 5.0 (level 5): fields that only
 * exist in MQTT 5 (properties, reason codes on acknowledgements) are optional and ignored by the
 * encoder for older versions. Reason codes carry the value that is on the wire for the packet's
 * version (a 3.1.1 CONNACK carries a 3.1.1 return code); `src/connection/reason-map.ts` maps MQTT 5
 * codes, the broker's internal language, to 3.1.1 codes in one place.
 *
 * Payloads and binary properties are Buffer views into the bytes that were read whenever a packet
 * arrived in a single chunk (zero copy); whoever keeps one beyond the current read must copy it.
 */

export type ProtocolVersion = 3 | 4 | 5;
export type QoS = 0 | 1 | 2;

export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;
export type PacketTypeCode = (typeof PacketType)[keyof typeof PacketType];

/** Every MQTT 5 property, by its meaning. Which packet may carry which is checked by the decoder. */
export interface Properties {
  payloadFormatIndicator?: number; // 0x01 byte (0 bytes, 1 UTF-8)
  messageExpiryInterval?: number; // 0x02 four-byte integer, seconds
  contentType?: string; // 0x03
  responseTopic?: string; // 0x08
  correlationData?: Buffer; // 0x09
  /** 0x0B variable byte integer; PUBLISH may carry several, SUBSCRIBE exactly one. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number; // 0x11 four-byte integer, seconds
  assignedClientIdentifier?: string; // 0x12
  serverKeepAlive?: number; // 0x13 two-byte integer, seconds
  authenticationMethod?: string; // 0x15
  authenticationData?: Buffer; // 0x16
  requestProblemInformation?: number; // 0x17 byte
  willDelayInterval?: number; // 0x18 four-byte integer, seconds
  requestResponseInformation?: number; // 0x19 byte
  responseInformation?: string; // 0x1A
  serverReference?: string; // 0x1C
  reasonString?: string; // 0x1F
  receiveMaximum?: number; // 0x21 two-byte integer, non-zero
  topicAliasMaximum?: number; // 0x22 two-byte integer
  topicAlias?: number; // 0x23 two-byte integer, non-zero
  maximumQoS?: number; // 0x24 byte, 0 or 1
  retainAvailable?: number; // 0x25 byte
  userProperties?: Array<[string, string]>; // 0x26, order kept, repeats allowed
  maximumPacketSize?: number; // 0x27 four-byte integer, non-zero
  wildcardSubscriptionAvailable?: number; // 0x28 byte
  subscriptionIdentifierAvailable?: number; // 0x29 byte
  sharedSubscriptionAvailable?: number; // 0x2A byte
}

export interface Will {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 will properties (payload format, expiry, content type, response topic, correlation, user, delay). */
  properties?: Properties;
}

export interface ConnectPacket {
  type: 1;
  /** 'MQIsdp' for 3.1, 'MQTT' for 3.1.1 and 5.0. */
  protocolName: string;
  protocolVersion: ProtocolVersion;
  /** Clean Session (3.1/3.1.1) or Clean Start (5.0). */
  cleanStart: boolean;
  keepAlive: number;
  clientId: string;
  will?: Will;
  username?: string;
  password?: Buffer;
  properties?: Properties;
}

export interface ConnackPacket {
  type: 2;
  sessionPresent: boolean;
  /** MQTT 5 reason code, or the 3.1.1 return code (0-5) when encoded for/decoded from 3.1.1. */
  reasonCode: number;
  properties?: Properties;
}

export interface PublishPacket {
  type: 3;
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present exactly when qos > 0. */
  packetId?: number;
  properties?: Properties;
}

/** PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. */
export interface AckPacket<T extends 4 | 5 | 6 | 7> {
  type: T;
  packetId: number;
  /** MQTT 5 only; absent means 0x00 Success. */
  reasonCode?: number;
  properties?: Properties;
}
export type PubackPacket = AckPacket<4>;
export type PubrecPacket = AckPacket<5>;
export type PubrelPacket = AckPacket<6>;
export type PubcompPacket = AckPacket<7>;

export interface Subscription {
  filter: string;
  /** Maximum QoS. */
  qos: QoS;
  /** MQTT 5 subscription options; false / 0 for older versions. */
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: 8;
  packetId: number;
  subscriptions: Subscription[];
  properties?: Properties;
}

export interface SubackPacket {
  type: 9;
  packetId: number;
  /** One per requested filter: granted QoS 0-2, or a failure code (0x80 in 3.1.1). */
  reasonCodes: number[];
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: 10;
  packetId: number;
  filters: string[];
  properties?: Properties;
}

export interface UnsubackPacket {
  type: 11;
  packetId: number;
  /** MQTT 5 only: one per filter. Empty for 3.1/3.1.1. */
  reasonCodes: number[];
  properties?: Properties;
}

export interface PingreqPacket {
  type: 12;
}

export interface PingrespPacket {
  type: 13;
}

export interface DisconnectPacket {
  type: 14;
  /** MQTT 5 only; absent means 0x00 Normal disconnection. */
  reasonCode?: number;
  properties?: Properties;
}

export interface AuthPacket {
  type: 15;
  /** MQTT 5 only; absent means 0x00 Success. */
  reasonCode?: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** The largest packet MQTT can express: remaining length up to 268,435,455 plus a 5-byte fixed header. */
export const MQTT_MAX_PACKET_SIZE = 268_435_460;
