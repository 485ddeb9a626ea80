/**
 * Packet bodies: one reader per packet type, dispatched on the type in the first byte. Every reader
 * returns the packet, or undefined with the reason in `r.err`. The fixed header (type, flags,
 * remaining length) has been checked already.
 */
import type {
  AckPacket,
  AuthPacket,
  DisconnectPacket,
  Packet,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
} from './packets';
import { Reader, MALFORMED, PROTOCOL_ERROR } from './reader';
import { readProperties } from './properties';
import { decodeUtf8 } from './primitives';
import { decodeConnack, decodeConnect, type VersionTarget } from './decode-connect';

// PINGREQ and PINGRESP carry nothing: one shared, frozen object each, no allocation.
const PINGREQ: Packet = Object.freeze({ type: 12 });
const PINGRESP: Packet = Object.freeze({ type: 13 });

/** Decodes the body `r.buf[r.pos, r.end)` of a packet whose first byte is `first`. */
export function decodeBody(r: Reader, first: number, target: VersionTarget): Packet | undefined {
  const version = target.protocolVersion;
  switch (first >> 4) {
    case 3: return decodePublish(r, first, target);
    case 4: return decodeAck(r, 4, version);
    case 5: return decodeAck(r, 5, version);
    case 6: return decodeAck(r, 6, version);
    case 7: return decodeAck(r, 7, version);
    case 1: return decodeConnect(r, target);
    case 2: return decodeConnack(r, version);
    case 8: return decodeSubscribe(r, version);
    case 9: return decodeSuback(r, version);
    case 10: return decodeUnsubscribe(r, version);
    case 11: return decodeUnsuback(r, version);
    case 12: return finish(r, PINGREQ);
    case 13: return finish(r, PINGRESP);
    case 14: return decodeDisconnect(r, 14, version);
    case 15: return decodeDisconnect(r, 15, version);
    default: return undefined; // type 0 is refused with the fixed header
  }
}

/** The end of every body: nothing may be left over. */
function finish<P>(r: Reader, packet: P): P | undefined {
  if (r.err !== undefined) return undefined;
  if (r.pos !== r.end) {
    r.fail('RTK_DECODE_TRAILING_BYTES', MALFORMED, `${r.end - r.pos} bytes`);
    return undefined;
  }
  return packet;
}

/** Topics longer than this are not kept for reuse (comparing them would cost about what decoding does). */
const TOPIC_CACHE_LIMIT = 256;

/**
 * Whether `buf[start, end)` are exactly the characters of `topic`, one byte each. Only ASCII topics
 * are kept for reuse (a string with as many characters as UTF-8 bytes has no multi-byte character),
 * so a match is a topic already validated as UTF-8.
 */
function sameAsciiTopic(topic: string, buf: Buffer, start: number, end: number): boolean {
  const len = end - start;
  if (topic.length !== len || len === 0) return false;
  for (let i = 0; i < len; i++) {
    if (topic.charCodeAt(i) !== buf[start + i]) return false;
  }
  return true;
}

/**
 * PUBLISH, the hot path: topic and packet identifier are read inline, the Reader is only used for
 * MQTT 5 properties, and the payload is a view of the buffer (everything after the last field).
 */
function decodePublish(r: Reader, first: number, target: VersionTarget): PublishPacket | undefined {
  const version = target.protocolVersion;
  const buf = r.buf;
  const end = r.end;
  let pos = r.pos;
  if (pos + 2 > end) {
    r.fail('RTK_DECODE_TRUNCATED', MALFORMED, 'topic length');
    return undefined;
  }
  const topicEnd = pos + 2 + (((buf[pos] as number) << 8) | (buf[pos + 1] as number));
  if (topicEnd > end) {
    r.fail('RTK_DECODE_TRUNCATED', MALFORMED, 'topic');
    return undefined;
  }
  let topic = target.lastTopic;
  if (!sameAsciiTopic(topic, buf, pos + 2, topicEnd)) {
    const decoded = decodeUtf8(buf, pos + 2, topicEnd);
    if (decoded === undefined) {
      r.fail('RTK_DECODE_INVALID_UTF8', MALFORMED, 'topic');
      return undefined;
    }
    topic = decoded;
    // Only ASCII topics (one byte per character) are kept: see sameAsciiTopic.
    const bytes = topicEnd - pos - 2;
    if (bytes <= TOPIC_CACHE_LIMIT && topic.length === bytes) target.lastTopic = topic;
  }
  pos = topicEnd;
  const qos = ((first >> 1) & 3) as QoS;
  let packetId = 0;
  if (qos !== 0) {
    if (pos + 2 > end) {
      r.fail('RTK_DECODE_TRUNCATED', MALFORMED, 'packet identifier');
      return undefined;
    }
    packetId = ((buf[pos] as number) << 8) | (buf[pos + 1] as number);
    pos += 2;
    if (packetId === 0) {
      r.fail('RTK_DECODE_PACKET_ID', PROTOCOL_ERROR, 'PUBLISH'); // [MQTT-2.2.1-3]
      return undefined;
    }
  }
  let properties;
  if (version === 5) {
    r.pos = pos;
    properties = readProperties(r, 3);
    if (r.err !== undefined) return undefined;
    pos = r.pos;
  }
  const packet: PublishPacket = {
    type: 3,
    topic,
    payload: buf.subarray(pos, end),
    qos,
    retain: (first & 1) !== 0,
    dup: (first & 8) !== 0,
  };
  if (qos !== 0) packet.packetId = packetId;
  if (properties !== undefined) packet.properties = properties;
  r.pos = end;
  return packet;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP. MQTT 5 may shorten them (section 3.4.2.1): the reason code and
 *  the property length are absent when the remaining length is 2, the property length alone when 3. */
function decodeAck<T extends 4 | 5 | 6 | 7>(r: Reader, type: T, version: ProtocolVersion): AckPacket<T> | undefined {
  const packetId = r.u16();
  if (r.err !== undefined) return undefined;
  if (packetId === 0) {
    r.fail('RTK_DECODE_PACKET_ID', MALFORMED); // [MQTT-2.2.1-3]
    return undefined;
  }
  const packet: AckPacket<T> = { type, packetId };
  if (version === 5 && r.pos < r.end) {
    packet.reasonCode = r.u8();
    if (r.pos < r.end) {
      const properties = readProperties(r, type);
      if (properties !== undefined) packet.properties = properties;
    }
  }
  return finish(r, packet);
}

/** Packet identifier 0 on SUBSCRIBE, UNSUBSCRIBE and PUBLISH is a Protocol Error ([MQTT-2.2.1-3]). */
function readRequestId(r: Reader, what: string): number {
  const packetId = r.u16();
  if (packetId === 0 && r.err === undefined) r.fail('RTK_DECODE_PACKET_ID', PROTOCOL_ERROR, what);
  return packetId;
}

function decodeSubscribe(r: Reader, version: ProtocolVersion): SubscribePacket | undefined {
  const packetId = readRequestId(r, 'SUBSCRIBE');
  const properties = version === 5 ? readProperties(r, 8) : undefined;
  if (r.err !== undefined) return undefined;
  if (r.pos === r.end) {
    r.fail('RTK_DECODE_EMPTY_PAYLOAD', PROTOCOL_ERROR, 'SUBSCRIBE'); // [MQTT-3.8.3-2]
    return undefined;
  }
  const subscriptions: Subscription[] = [];
  while (r.pos < r.end) {
    const filter = r.utf8();
    const options = r.u8();
    if (r.err !== undefined) return undefined;
    const qos = options & 3;
    if (version === 5) {
      if ((options & 0xc0) !== 0) {
        r.fail('RTK_DECODE_SUBSCRIPTION_OPTIONS', MALFORMED, 'reserved bits 6-7'); // [MQTT-3.8.3-5]
        return undefined;
      }
      if (qos === 3) {
        r.fail('RTK_DECODE_QOS', PROTOCOL_ERROR, 'maximum QoS 3');
        return undefined;
      }
      const retainHandling = (options >> 4) & 3;
      if (retainHandling === 3) {
        r.fail('RTK_DECODE_SUBSCRIPTION_OPTIONS', PROTOCOL_ERROR, 'Retain Handling 3');
        return undefined;
      }
      subscriptions.push({
        filter,
        qos: qos as QoS,
        noLocal: (options & 0x04) !== 0,
        retainAsPublished: (options & 0x08) !== 0,
        retainHandling: retainHandling as 0 | 1 | 2,
      });
    } else {
      if ((options & 0xfc) !== 0) {
        r.fail('RTK_DECODE_SUBSCRIPTION_OPTIONS', MALFORMED, 'reserved bits 2-7'); // 3.1.1 [MQTT-3.8.3-4]
        return undefined;
      }
      if (qos === 3) {
        r.fail('RTK_DECODE_QOS', MALFORMED, 'requested QoS 3'); // 3.1.1 [MQTT-3.8.3-4]
        return undefined;
      }
      subscriptions.push({ filter, qos: qos as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 });
    }
  }
  const packet: SubscribePacket = { type: 8, packetId, subscriptions };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function decodeSuback(r: Reader, version: ProtocolVersion): SubackPacket | undefined {
  const packetId = r.u16();
  if (packetId === 0 && r.err === undefined) r.fail('RTK_DECODE_PACKET_ID', MALFORMED, 'SUBACK');
  const properties = version === 5 ? readProperties(r, 9) : undefined;
  if (r.err !== undefined) return undefined;
  const reasonCodes: number[] = [];
  const buf = r.buf;
  for (let i = r.pos; i < r.end; i++) reasonCodes.push(buf[i] as number);
  r.pos = r.end;
  const packet: SubackPacket = { type: 9, packetId, reasonCodes };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function decodeUnsubscribe(r: Reader, version: ProtocolVersion): UnsubscribePacket | undefined {
  const packetId = readRequestId(r, 'UNSUBSCRIBE');
  const properties = version === 5 ? readProperties(r, 10) : undefined;
  if (r.err !== undefined) return undefined;
  if (r.pos === r.end) {
    r.fail('RTK_DECODE_EMPTY_PAYLOAD', PROTOCOL_ERROR, 'UNSUBSCRIBE'); // [MQTT-3.10.3-2]
    return undefined;
  }
  const filters: string[] = [];
  while (r.pos < r.end) filters.push(r.utf8());
  if (r.err !== undefined) return undefined;
  const packet: UnsubscribePacket = { type: 10, packetId, filters };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

function decodeUnsuback(r: Reader, version: ProtocolVersion): UnsubackPacket | undefined {
  const packetId = r.u16();
  if (packetId === 0 && r.err === undefined) r.fail('RTK_DECODE_PACKET_ID', MALFORMED, 'UNSUBACK');
  const reasonCodes: number[] = [];
  const packet: UnsubackPacket = { type: 11, packetId, reasonCodes };
  if (version === 5) {
    const properties = readProperties(r, 11);
    if (r.err !== undefined) return undefined;
    if (properties !== undefined) packet.properties = properties;
    const buf = r.buf;
    for (let i = r.pos; i < r.end; i++) reasonCodes.push(buf[i] as number);
    r.pos = r.end;
  }
  return finish(r, packet);
}

/** DISCONNECT (any version) and AUTH (MQTT 5 only, refused earlier otherwise). In MQTT 5 a remaining
 *  length of 0 means reason 0x00 and no properties, 1 means a reason code and no properties. */
function decodeDisconnect(r: Reader, type: 14 | 15, version: ProtocolVersion): DisconnectPacket | AuthPacket | undefined {
  const packet: DisconnectPacket | AuthPacket = { type };
  if (version === 5 && r.pos < r.end) {
    packet.reasonCode = r.u8();
    if (r.pos < r.end) {
      const properties = readProperties(r, type);
      if (properties !== undefined) packet.properties = properties;
    }
  }
  return finish(r, packet);
}
