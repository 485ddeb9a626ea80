/**
 * The first byte of a packet: type (high nibble) and flags (low nibble), MQTT 5 section 2.1.3.
 */
import type { ProtocolVersion } from './packets';
import { decodeError, type DecodeError } from './decode-error';
import { MALFORMED } from './reader';

/**
 * 1 for a first byte that is valid in every protocol version. The others go through
 * `checkFirstByte`, which knows the version-dependent cases and names the error.
 */
const ALWAYS_VALID = new Uint8Array(256);
for (let type = 1; type <= 14; type++) {
  if (type === 3) {
    for (let flags = 0; flags < 16; flags++) {
      const qos = (flags >> 1) & 3;
      const dup = (flags & 8) !== 0;
      if (qos !== 3 && !(qos === 0 && dup)) ALWAYS_VALID[(type << 4) | flags] = 1;
    }
  } else {
    ALWAYS_VALID[(type << 4) | requiredFlags(type)] = 1;
  }
}

/** The flags that every packet type but PUBLISH must carry ([MQTT-2.1.3-1]). */
function requiredFlags(type: number): number {
  return type === 6 || type === 8 || type === 10 ? 0b0010 : 0;
}

/** Checks the first byte of a packet; undefined when it is valid for `version`. */
export function checkFirstByte(first: number, version: ProtocolVersion): DecodeError | undefined {
  if (ALWAYS_VALID[first] === 1) return undefined;
  const type = first >> 4;
  const flags = first & 0x0f;
  if (type === 0) return decodeError('RTK_DECODE_PACKET_TYPE', MALFORMED, 'type 0 is reserved');
  if (type === 15 && version < 5) return decodeError('RTK_DECODE_PACKET_TYPE', MALFORMED, 'AUTH before MQTT 5');
  if (type === 3) {
    if ((flags & 0b0110) === 0b0110) return decodeError('RTK_DECODE_QOS', MALFORMED, 'PUBLISH with QoS 3');
    return decodeError('RTK_DECODE_RESERVED_FLAGS', MALFORMED, 'DUP set on a QoS 0 PUBLISH');
  }
  const required = requiredFlags(type);
  // MQTT 3.1 clients set DUP on retried PUBREL, SUBSCRIBE and UNSUBSCRIBE; 3.1.1 reserved the bit.
  if (version === 3 && required !== 0 && flags === (required | 0b1000)) return undefined;
  if (flags === required) return undefined; // AUTH in MQTT 5
  return decodeError('RTK_DECODE_RESERVED_FLAGS', MALFORMED, `flags 0x${flags.toString(16)} on packet type ${type}`);
}
