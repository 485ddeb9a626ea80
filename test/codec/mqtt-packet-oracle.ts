/**
 * mqtt-packet (the npm package behind MQTT.js and Aedes), used only as a test oracle: a minimal typed
 * view of the parts we call, and an adapter between its packet shape and ours.
 */
import type { Packet, Properties, ProtocolVersion, QoS } from '../../src/codec/index';

export interface MpProperties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  subscriptionIdentifier?: number | number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: boolean;
  willDelayInterval?: number;
  requestResponseInformation?: boolean;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: boolean;
  userProperties?: Record<string, string | string[]>;
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: boolean;
  subscriptionIdentifiersAvailable?: boolean;
  sharedSubscriptionAvailable?: boolean;
}

export interface MpPacket {
  cmd: string;
  messageId?: number;
  qos?: number;
  dup?: boolean;
  retain?: boolean;
  topic?: string | null;
  payload?: Buffer | null;
  protocolId?: string;
  protocolVersion?: number;
  clean?: boolean;
  keepalive?: number;
  clientId?: string;
  will?: { topic: string; payload: Buffer; qos?: number; retain?: boolean; properties?: MpProperties };
  username?: string;
  password?: Buffer;
  sessionPresent?: boolean;
  returnCode?: number;
  reasonCode?: number;
  subscriptions?: Array<{ topic: string; qos: number; nl?: boolean; rap?: boolean; rh?: number }>;
  unsubscriptions?: string[];
  granted?: number[];
  properties?: MpProperties;
}

interface MpParser {
  on(event: 'packet', listener: (packet: MpPacket) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  parse(buf: Buffer): number;
}

interface MqttPacketModule {
  parser(options?: { protocolVersion?: number }): MpParser;
  generate(packet: MpPacket, options?: { protocolVersion?: number }): Buffer;
}

const mqttPacket = require('mqtt-packet') as MqttPacketModule;

/** Parses `bytes` with mqtt-packet: the packets, or the first error. */
export function mpParse(bytes: Buffer, version: ProtocolVersion): { packets: MpPacket[]; error: Error | undefined } {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: MpPacket[] = [];
  let error: Error | undefined;
  parser.on('packet', (p) => packets.push(p));
  parser.on('error', (e) => {
    error ??= e;
  });
  parser.parse(bytes);
  return { packets, error };
}

export function mpGenerate(packet: MpPacket, version: ProtocolVersion): Buffer {
  return mqttPacket.generate(packet, { protocolVersion: version });
}

const CMD = ['reserved', 'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth'];

const bool = (n: number | undefined): boolean | undefined => (n === undefined ? undefined : n === 1);
const num = (b: boolean | undefined): number | undefined => (b === undefined ? undefined : b ? 1 : 0);

function put<T extends object, K extends keyof T>(obj: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) obj[key] = value;
}

export function toMpProperties(p: Properties | undefined): MpProperties | undefined {
  if (p === undefined) return undefined;
  const m: MpProperties = {};
  put(m, 'payloadFormatIndicator', bool(p.payloadFormatIndicator));
  put(m, 'messageExpiryInterval', p.messageExpiryInterval);
  put(m, 'contentType', p.contentType);
  put(m, 'responseTopic', p.responseTopic);
  put(m, 'correlationData', p.correlationData);
  const ids = p.subscriptionIdentifiers;
  if (ids !== undefined && ids.length > 0) m.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
  put(m, 'sessionExpiryInterval', p.sessionExpiryInterval);
  put(m, 'assignedClientIdentifier', p.assignedClientIdentifier);
  put(m, 'serverKeepAlive', p.serverKeepAlive);
  put(m, 'authenticationMethod', p.authenticationMethod);
  put(m, 'authenticationData', p.authenticationData);
  put(m, 'requestProblemInformation', bool(p.requestProblemInformation));
  put(m, 'willDelayInterval', p.willDelayInterval);
  put(m, 'requestResponseInformation', bool(p.requestResponseInformation));
  put(m, 'responseInformation', p.responseInformation);
  put(m, 'serverReference', p.serverReference);
  put(m, 'reasonString', p.reasonString);
  put(m, 'receiveMaximum', p.receiveMaximum);
  put(m, 'topicAliasMaximum', p.topicAliasMaximum);
  put(m, 'topicAlias', p.topicAlias);
  put(m, 'maximumQoS', p.maximumQoS);
  put(m, 'retainAvailable', bool(p.retainAvailable));
  if (p.userProperties !== undefined && p.userProperties.length > 0) {
    // mqtt-packet groups user properties by name: their order across names is lost.
    const user: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
    for (const [k, v] of p.userProperties) {
      const prev = user[k];
      user[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    m.userProperties = user;
  }
  put(m, 'maximumPacketSize', p.maximumPacketSize);
  put(m, 'wildcardSubscriptionAvailable', bool(p.wildcardSubscriptionAvailable));
  put(m, 'subscriptionIdentifiersAvailable', bool(p.subscriptionIdentifierAvailable));
  put(m, 'sharedSubscriptionAvailable', bool(p.sharedSubscriptionAvailable));
  return m;
}

export function fromMpProperties(m: MpProperties | undefined): Properties | undefined {
  if (m === undefined) return undefined;
  const p: Properties = {};
  put(p, 'payloadFormatIndicator', num(m.payloadFormatIndicator));
  put(p, 'messageExpiryInterval', m.messageExpiryInterval);
  put(p, 'contentType', m.contentType);
  put(p, 'responseTopic', m.responseTopic);
  put(p, 'correlationData', m.correlationData);
  const ids = m.subscriptionIdentifier;
  if (ids !== undefined) p.subscriptionIdentifiers = Array.isArray(ids) ? ids : [ids];
  put(p, 'sessionExpiryInterval', m.sessionExpiryInterval);
  put(p, 'assignedClientIdentifier', m.assignedClientIdentifier);
  put(p, 'serverKeepAlive', m.serverKeepAlive);
  put(p, 'authenticationMethod', m.authenticationMethod);
  put(p, 'authenticationData', m.authenticationData);
  put(p, 'requestProblemInformation', num(m.requestProblemInformation));
  put(p, 'willDelayInterval', m.willDelayInterval);
  put(p, 'requestResponseInformation', num(m.requestResponseInformation));
  put(p, 'responseInformation', m.responseInformation);
  put(p, 'serverReference', m.serverReference);
  put(p, 'reasonString', m.reasonString);
  put(p, 'receiveMaximum', m.receiveMaximum);
  put(p, 'topicAliasMaximum', m.topicAliasMaximum);
  put(p, 'topicAlias', m.topicAlias);
  put(p, 'maximumQoS', m.maximumQoS);
  put(p, 'retainAvailable', num(m.retainAvailable));
  if (m.userProperties !== undefined) {
    p.userProperties = Object.getOwnPropertyNames(m.userProperties).flatMap((k) => {
      const v = m.userProperties![k]!;
      return (Array.isArray(v) ? v : [v]).map((x): [string, string] => [k, x]);
    });
  }
  put(p, 'maximumPacketSize', m.maximumPacketSize);
  put(p, 'wildcardSubscriptionAvailable', num(m.wildcardSubscriptionAvailable));
  put(p, 'subscriptionIdentifierAvailable', num(m.subscriptionIdentifiersAvailable));
  put(p, 'sharedSubscriptionAvailable', num(m.sharedSubscriptionAvailable));
  return p;
}

/** Our packet in mqtt-packet's shape, for mqtt-packet's generate(). */
export function toMp(packet: Packet, version: ProtocolVersion): MpPacket {
  const m: MpPacket = { cmd: CMD[packet.type]! };
  if ('properties' in packet) put(m, 'properties', toMpProperties(packet.properties));
  switch (packet.type) {
    case 1:
      Object.assign(m, {
        protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clean: packet.cleanStart,
        keepalive: packet.keepAlive, clientId: packet.clientId,
      });
      if (packet.will !== undefined) {
        const w = packet.will;
        m.will = { topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain };
        put(m.will, 'properties', toMpProperties(w.properties));
      }
      put(m, 'username', packet.username);
      put(m, 'password', packet.password);
      break;
    case 2:
      m.sessionPresent = packet.sessionPresent;
      if (version === 5) m.reasonCode = packet.reasonCode;
      else m.returnCode = packet.reasonCode;
      break;
    case 3:
      Object.assign(m, { topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, dup: packet.dup });
      put(m, 'messageId', packet.packetId);
      break;
    case 4: case 5: case 6: case 7:
      m.messageId = packet.packetId;
      m.reasonCode = packet.reasonCode ?? 0;
      break;
    case 8:
      m.messageId = packet.packetId;
      m.subscriptions = packet.subscriptions.map((s) =>
        version === 5 ? { topic: s.filter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling } : { topic: s.filter, qos: s.qos });
      break;
    case 9:
      m.messageId = packet.packetId;
      m.granted = packet.reasonCodes;
      break;
    case 10:
      m.messageId = packet.packetId;
      m.unsubscriptions = packet.filters;
      break;
    case 11:
      m.messageId = packet.packetId;
      m.granted = packet.reasonCodes;
      break;
    case 14: case 15:
      m.reasonCode = packet.reasonCode ?? 0;
      break;
  }
  return m;
}

/** A packet parsed by mqtt-packet in our shape. */
export function fromMp(m: MpPacket, version: ProtocolVersion): Packet {
  const type = CMD.indexOf(m.cmd);
  const props = fromMpProperties(m.properties);
  const withProps = <P extends Packet>(p: P): P => {
    if (props !== undefined) (p as { properties?: Properties }).properties = props;
    return p;
  };
  switch (type) {
    case 1: {
      const v = m.protocolVersion as ProtocolVersion;
      const p: Packet = {
        type: 1, protocolName: m.protocolId!, protocolVersion: v, cleanStart: m.clean!, keepAlive: m.keepalive!, clientId: m.clientId!,
      };
      if (m.will !== undefined) {
        p.will = { topic: m.will.topic, payload: m.will.payload, qos: (m.will.qos ?? 0) as QoS, retain: m.will.retain ?? false };
        put(p.will, 'properties', fromMpProperties(m.will.properties));
      }
      put(p, 'username', m.username);
      put(p, 'password', m.password);
      return withProps(p);
    }
    case 2:
      return withProps({ type: 2, sessionPresent: m.sessionPresent!, reasonCode: (version === 5 ? m.reasonCode : m.returnCode)! });
    case 3: {
      const p: Packet = { type: 3, topic: m.topic!, payload: Buffer.from(m.payload!), qos: m.qos as QoS, retain: m.retain!, dup: m.dup! };
      if (p.qos !== 0) p.packetId = m.messageId!;
      return withProps(p);
    }
    case 4: case 5: case 6: case 7: {
      const p: Packet = { type: type as 4, packetId: m.messageId! };
      put(p, 'reasonCode', m.reasonCode);
      return withProps(p);
    }
    case 8:
      return withProps({
        type: 8, packetId: m.messageId!, subscriptions: m.subscriptions!.map((s) => ({
          filter: s.topic, qos: s.qos as QoS, noLocal: s.nl ?? false, retainAsPublished: s.rap ?? false, retainHandling: (s.rh ?? 0) as 0 | 1 | 2,
        })),
      });
    case 9:
      return withProps({ type: 9, packetId: m.messageId!, reasonCodes: m.granted! });
    case 10:
      return withProps({ type: 10, packetId: m.messageId!, filters: m.unsubscriptions! });
    case 11:
      return withProps({ type: 11, packetId: m.messageId!, reasonCodes: m.granted ?? [] });
    case 12: return { type: 12 };
    case 13: return { type: 13 };
    case 14: case 15: {
      const p: Packet = { type: type as 14 };
      put(p, 'reasonCode', m.reasonCode);
      return withProps(p);
    }
    default:
      throw new Error(`unknown mqtt-packet command ${m.cmd}`);
  }
}

/**
 * mqtt-packet keeps user properties in an object keyed by name, so their order across names is
 * lost (and integer-like names come first). Compare them as name → values in wire order.
 */
export function canonicalUserProperties(packet: Packet): Packet {
  const fix = (p: Properties | undefined): void => {
    if (p?.userProperties === undefined) return;
    const byName = new Map<string, string[]>();
    for (const [k, v] of p.userProperties) byName.set(k, [...(byName.get(k) ?? []), v]);
    p.userProperties = [...byName.keys()].sort().flatMap((k) => byName.get(k)!.map((v): [string, string] => [k, v]));
  };
  if ('properties' in packet) fix(packet.properties);
  if (packet.type === 1) fix(packet.will?.properties);
  return packet;
}
