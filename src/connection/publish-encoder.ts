/**
 * Outgoing PUBLISH bytes, encoded once per variant and shared by every subscriber of that variant.
 *
 * A variant is (MQTT 5 or not) × QoS × RETAIN flag. The first delivery of a variant encodes the
 * whole packet with its own packet id, writes it, and keeps it as the variant's template: later
 * deliveries copy it into their socket's output, QoS 1/2 ones with their packet id (and DUP) patched
 * in. Small templates live in the template ring (template-ring.ts), so they are always copied out
 * and encoded again if the ring has moved on; large ones are memory of their own, written by
 * reference for QoS 0 and as a patched header plus a view of the payload for QoS 1/2, so a large
 * payload is never copied per subscriber. Deliveries that carry subscription identifiers, an outgoing
 * topic alias or a message expiry are encoded for that delivery alone.
 */
import type { Properties, ProtocolVersion, PublishPacket, QoS } from '../codec/packets';
import { encodePacket, encodePublishWith } from '../codec/encoder';
import type { EncodedPublish, Message } from '../routing/message';
import { MAX_RING_TEMPLATE, templateRing } from './template-ring';

/**
 * Above this, a QoS 1/2 copy takes only the header and the payload is written as its own buffer. The
 * same as the ring's limit: a template written by reference is never in the ring.
 */
const COPY_LIMIT = MAX_RING_TEMPLATE;


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

/** Memory for a template: the ring when it is small enough, else a buffer of its own. */
function templateMemory(size: number): Buffer {
  return size <= MAX_RING_TEMPLATE ? templateRing.take(size) : Buffer.allocUnsafe(size);
}

/** Encodes a whole PUBLISH and notes where its packet id sits. */
function encodeWhole(packet: PublishPacket, version: ProtocolVersion): EncodedPublish {
  const bytes = encodePublishWith(packet, version, templateMemory);
  // The whole packet is allocated at once: its size says where it went (see templateMemory).
  const generation = bytes.length <= MAX_RING_TEMPLATE ? templateRing.generation : 0;
  const headerLength = bytes.length - packet.payload.length;
  let idOffset = -1;
  if (packet.qos > 0) {
    // Fixed header (type byte + remaining-length varint), then the topic (2-byte length + bytes).
    let i = 1;
    while ((bytes[i]! & 0x80) !== 0) i++;
    i++;
    idOffset = i + 2 + bytes.readUInt16BE(i);
  }
  return { bytes, generation, idOffset, headerLength };
}

/**
 * Writes a plain delivery (no subscription ids, alias or expiry) from the message's shared encoding
 * of its variant, encoding it first if this is the variant's first delivery (or its template is gone
 * with an earlier generation of the ring). Returns the bytes written, -1 when over `maxSize`.
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
  if (enc === undefined || (enc.generation !== 0 && enc.generation !== templateRing.generation)) {
    enc = encodeWhole(toPacket(msg, qos, retain, msg.topic, version === 5 ? msg.properties : undefined, packetId, dup), version);
    msg.keepEncoding(i, enc);
    if (enc.bytes.length > maxSize) return -1;
    writeTemplate(enc, out);
    return enc.bytes.length;
  }
  if (enc.bytes.length > maxSize) return -1;
  writeEncoded(enc, qos, packetId, dup, out);
  return enc.bytes.length;
}

/** A template as it is: copied out of the ring, by reference when it is memory of its own. */
function writeTemplate(enc: EncodedPublish, out: ByteOut): void {
  if (enc.generation !== 0) out.append(enc.bytes);
  else out.write(enc.bytes);
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
    writeTemplate(enc, out);
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
