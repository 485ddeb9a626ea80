/**
 * Outgoing PUBLISH bytes, encoded once per variant and shared by every subscriber of that variant.
 *
 * A variant is (MQTT 5 or not) × QoS × RETAIN flag. The first delivery of a variant encodes the
 * whole packet with its own packet id into one buffer, writes it, and keeps it as the variant's
 * template: QoS 0 subscribers all get that very Buffer, QoS 1/2 subscribers get a copy with their
 * packet id (and DUP) patched in. A message that goes to one subscriber is thus encoded once and
 * never copied. Deliveries that carry subscription identifiers, an outgoing topic alias or a message
 * expiry are encoded for that delivery alone.
 */
import type { Properties, ProtocolVersion, PublishPacket, QoS } from '../codec/packets';
import { encodePacket } from '../codec/encoder';
import type { EncodedPublish, Message } from '../routing/message';

/** Above this, a QoS 1/2 copy takes only the header and the payload is written as its own buffer. */
const COPY_LIMIT = 2048;


/** Where a PUBLISH goes: a transport's batched output (see transport/socket-writer.ts). */
export interface ByteOut {
  write(b: Buffer): void;
  /** Copies `b` into the output; returns where it is in `tail` (-1 when closed). */
  append(b: Buffer): number;
  readonly tail: Buffer;
}

function variantIndex(version: ProtocolVersion, qos: QoS, retain: boolean): number {
  return (version === 5 ? 6 : 0) + qos * 2 + (retain ? 1 : 0);
}

function toPacket(
  msg: Message,
  qos: QoS,
  retain: boolean,
  topic: string,
  properties: Properties | undefined,
  packetId: number,
  dup: boolean,
): PublishPacket {
  const p: PublishPacket = { type: 3, topic, payload: msg.payload, qos, retain, dup: qos > 0 && dup };
  if (qos > 0) p.packetId = packetId;
  if (properties) p.properties = properties;
  return p;
}

/** Encodes a whole PUBLISH and notes where its packet id sits. */
function encodeWhole(packet: PublishPacket, version: ProtocolVersion): EncodedPublish {
  const bytes = encodePacket(packet, version);
  const headerLength = bytes.length - packet.payload.length;
  let idOffset = -1;
  if (packet.qos > 0) {
    // Fixed header (type byte + remaining-length varint), then the topic (2-byte length + bytes).
    let i = 1;
    while ((bytes[i]! & 0x80) !== 0) i++;
    i++;
    idOffset = i + 2 + bytes.readUInt16BE(i);
  }
  return { bytes, idOffset, headerLength };
}

/**
 * Writes a plain delivery (no subscription ids, alias or expiry) from the message's shared encoding
 * of its variant, encoding it first if this is the variant's first delivery. Returns the bytes written.
 */
export function writeShared(
  msg: Message,
  version: ProtocolVersion,
  qos: QoS,
  retain: boolean,
  packetId: number,
  dup: boolean,
  maxSize: number,
  out: ByteOut,
): number {
  const i = variantIndex(version, qos, retain);
  let enc = msg.encodingOf(i);
  if (enc === undefined) {
    enc = encodeWhole(toPacket(msg, qos, retain, msg.topic, version === 5 ? msg.properties : undefined, packetId, dup), version);
    msg.keepEncoding(i, enc);
    if (enc.bytes.length > maxSize) return -1;
    out.write(enc.bytes);
    return enc.bytes.length;
  }
  if (enc.bytes.length > maxSize) return -1;
  writeEncoded(enc, qos, packetId, dup, out);
  return enc.bytes.length;
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
  packetId: number,
  dup: boolean,
): Buffer {
  let properties: Properties | undefined;
  if (version === 5) {
    properties = msg.properties ? { ...msg.properties } : {};
    if (subIds !== undefined) properties.subscriptionIdentifiers = subIds;
    if (topicAlias > 0) properties.topicAlias = topicAlias;
    if (expiry !== undefined) properties.messageExpiryInterval = expiry;
  }
  return encodePacket(toPacket(msg, qos, retain, topic, properties, packetId, dup), version);
}

/**
 * Writes one delivery from a variant's template: the very bytes for QoS 0; for QoS 1/2 a patched
 * copy (small messages) or a patched header followed by a view of the shared payload (large ones).
 */
export function writeEncoded(enc: EncodedPublish, qos: QoS, packetId: number, dup: boolean, out: ByteOut): void {
  if (qos === 0) {
    out.write(enc.bytes);
    return;
  }
  const total = enc.bytes.length;
  const large = total > COPY_LIMIT;
  // The copy goes straight into the output chunk and is patched there: no buffer per delivery.
  const at = out.append(large ? enc.bytes.subarray(0, enc.headerLength) : enc.bytes);
  if (at < 0) return;
  const copy = out.tail;
  copy[at + enc.idOffset] = packetId >> 8;
  copy[at + enc.idOffset + 1] = packetId & 0xff;
  // The template carries the DUP flag of its first delivery: set it for this one.
  copy[at] = dup ? copy[at]! | 0x08 : copy[at]! & ~0x08;
  if (large) out.write(enc.bytes.subarray(enc.headerLength));
}
