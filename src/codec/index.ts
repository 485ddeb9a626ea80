/**
 * The MQTT codec: packet types, the incremental decoder, the encoder and reason codes.
 * MQTT 3.1 (protocol level 3), 3.1.1 (4) and 5.0 (5).
 */
export * from './packets';
export * from './reason-codes';
export { PacketDecoder, decodeOne, type PacketSink, type DecoderOptions } from './decoder';
export { isDecodeError, type DecodeError } from './decode-error';
export { encodePacket, encodePublishHeader, encodedLength, remainingLength } from './encoder';
export { PropertyId, WILL_CONTEXT, propertyAllowed } from './properties';
export {
  MAX_VARINT,
  MAX_STRING_BYTES,
  EMPTY_BUFFER,
  varintLength,
  writeVarint,
  writeU16,
  writeU32,
  utf8Length,
  stringFieldLength,
  binaryFieldLength,
  writeString,
  writeBinary,
  decodeUtf8,
} from './primitives';
