/**
 * Outgoing PUBLISH bytes, encoded once per variant and shared by every subscriber of that variant.
 *
 * A variant is (MQTT 5 or not) × QoS × RETAIN flag. Its bytes are cached on the message with packet
 * id 0; QoS 0 subscribers all get the very same Buffer, QoS 1/2 subscribers get a copy of the
 * header with their packet id (and DUP) patched in. Deliveries that carry subscription identifiers,
 * an outgoing topic alias or a message expiry are encoded for that delivery alone.
 */
import type { Properties, ProtocolVersion, PublishPacket, QoS } from '../codec/packets';
import { encodePublishHeader } from '../codec/encoder';
import type { Message } from '../routing/message';

/** Above this, a QoS 1/2 copy takes only the header and the payload is written as its own buffer. */
const COPY_LIMIT = 2048;

export interface EncodedPublish {
  /** Header and payload in one buffer. */
  bytes: Buffer;
  /** Where the 2-byte packet id is (-1 for QoS 0). */
  idOffset: number;
  /** Length of everything before the payload. */
  headerLength: number;
}

function variantIndex(version: ProtocolVersion, qos: QoS, retain: boolean): number {
  return (version === 5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0);
}

function toPacket(msg: Message, qos: QoS, retain: boolean, topic: string, properties: Properties | undefined): PublishPacket {
  const p: PublishPacket = { type: 3, topic, payload: msg.payload, qos, retain, dup: false };
  if (qos > 0) p.packetId = 1;
  if (properties) p.properties = properties;
  return p;
}

function encodeWhole(packet: PublishPacket, version: ProtocolVersion): EncodedPublish {
  const { header, packetIdOffset } = encodePublishHeader(packet, version);
  const bytes = Buffer.allocUnsafe(header.length + packet.payload.length);
  header.copy(bytes, 0);
  packet.payload.copy(bytes, header.length);
  return { bytes, idOffset: packetIdOffset, headerLength: header.length };
}

/** The shared encoding of a message for a plain delivery (no subscription ids, alias or expiry). */
export function sharedEncoding(msg: Message, version: ProtocolVersion, qos: QoS, retain: boolean): EncodedPublish {
  const cache = (msg.encoded ??= []) as (EncodedPublish | undefined)[];
  const i = variantIndex(version, qos, retain);
  let enc = cache[i];
  if (enc === undefined) {
    enc = encodeWhole(toPacket(msg, qos, retain, msg.topic, version === 5 ? msg.properties : undefined), version);
    cache[i] = enc;
  }
  return enc;
}

/** A delivery-specific encoding (subscription identifiers, topic alias, remaining expiry). */
export function ownEncoding(
  msg: Message,
  version: ProtocolVersion,
  qos: QoS,
  retain: boolean,
  subIds: number[] | undefined,
  topic: string,
  topicAlias: number,
  expiry: number | undefined,
): EncodedPublish {
  let properties: Properties | undefined;
  if (version === 5) {
    properties = msg.properties ? { ...msg.properties } : {};
    if (subIds !== undefined) properties.subscriptionIdentifiers = subIds;
    if (topicAlias > 0) properties.topicAlias = topicAlias;
    if (expiry !== undefined) properties.messageExpiryInterval = expiry;
  }
  return encodeWhole(toPacket(msg, qos, retain, topic, properties), version);
}

/**
 * The buffers to write for one delivery: the shared bytes for QoS 0; for QoS 1/2 a patched copy
 * (small messages) or a patched header followed by a view of the shared payload (large ones).
 */
export function writeEncoded(enc: EncodedPublish, qos: QoS, packetId: number, dup: boolean, out: { write(b: Buffer): void }): void {
  if (qos === 0) {
    out.write(enc.bytes);
    return;
  }
  const total = enc.bytes.length;
  const copyLength = total <= COPY_LIMIT ? total : enc.headerLength;
  const copy = Buffer.allocUnsafe(copyLength);
  enc.bytes.copy(copy, 0, 0, copyLength);
  copy[enc.idOffset] = packetId >> 8;
  copy[enc.idOffset + 1] = packetId & 0xff;
  if (dup) copy[0] = copy[0]! | 0x08;
  out.write(copy);
  if (copyLength < total) out.write(enc.bytes.subarray(copyLength));
}
