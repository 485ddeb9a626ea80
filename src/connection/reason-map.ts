/**
 * MQTT 5 reason codes are the broker's internal language; this is the one place that maps them to
 * what MQTT 3.1 / 3.1.1 can say (mosquitto read_handle.c and EMQX emqx_reason_codes do the same).
 */
import { encodePacket } from '../codec/encoder';
import type { ConnackPacket, Packet, Properties, ProtocolVersion } from '../codec/packets';
import { ConnackReturnCode, ReasonCode } from '../codec/reason-codes';

/** CONNACK return code for 3.1/3.1.1 from an MQTT 5 CONNACK reason code. */
export function connackReturnCode(reason: number): number {
  switch (reason) {
    case ReasonCode.Success:
      return ConnackReturnCode.Accepted;
    case ReasonCode.UnsupportedProtocolVersion:
      return ConnackReturnCode.UnacceptableProtocolVersion;
    case ReasonCode.ClientIdentifierNotValid:
      return ConnackReturnCode.IdentifierRejected;
    case ReasonCode.BadUserNameOrPassword:
    case ReasonCode.BadAuthenticationMethod:
      return ConnackReturnCode.BadUserNameOrPassword;
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
      return ConnackReturnCode.NotAuthorized;
    default:
      // Server unavailable, busy, quota exceeded, rate exceeded, use another server, ...
      return ConnackReturnCode.ServerUnavailable;
  }
}

/** SUBACK return code for 3.1/3.1.1: granted QoS 0-2 pass, every failure is 0x80. */
export function subackReturnCode(reason: number): number {
  return reason < 0x80 ? reason : 0x80;
}

/**
 * The CONNACK that refuses a connection, in the client's version: MQTT 5 with the reason code (and
 * reason string); 3.1/3.1.1 with a return code, or none at all for a malformed packet or a protocol
 * error, which 3.1.1 answers by closing.
 */
export function connackRefusal(
  version: ProtocolVersion,
  reasonCode: number,
  reasonString: string | undefined,
  extra: Properties | undefined,
): ConnackPacket | undefined {
  if (version === 5) {
    const properties: Properties = { ...extra };
    if (reasonString !== undefined) properties.reasonString = reasonString;
    return { type: 2, sessionPresent: false, reasonCode, properties };
  }
  if (reasonCode === ReasonCode.MalformedPacket || reasonCode === ReasonCode.ProtocolError || reasonCode === ReasonCode.PacketTooLarge) {
    return undefined;
  }
  return { type: 2, sessionPresent: false, reasonCode: connackReturnCode(reasonCode) };
}

/**
 * `packet` encoded within the client's Maximum Packet Size: without its Reason String and User
 * Properties when they would take it past the limit [MQTT-3.1.2-25, MQTT-3.2.2-19]; undefined when
 * it is too large even so (a SUBACK for many filters, authentication data) [MQTT-3.1.2-24].
 */
export function encodeWithin(packet: Packet, version: ProtocolVersion, max: number): Buffer | undefined {
  try {
    const bytes = encodePacket(packet, version);
    if (bytes.length <= max) return bytes;
    const smaller = encodePacket(withoutProblemInformation(packet), version);
    return smaller.length <= max ? smaller : undefined;
  } catch {
    // A value MQTT cannot carry (a string over 65,535 bytes): the packet cannot be sent either.
    return undefined;
  }
}

/** Reason codes a DISCONNECT may carry (MQTT 5 section 3.14.2.1). */
const DISCONNECT_CODES = new Set([
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c,
  0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
]);

/**
 * The DISCONNECT reason for a refusal that came after CONNACK (a failed re-authentication): the
 * refusal's own code where DISCONNECT has it, else 0x80 for a server-side failure (0x88 Server
 * unavailable) and 0x87 Not authorized for the others (0x86 Bad user name or password, 0x8C Bad
 * authentication method, ...).
 */
export function disconnectReason(code: number): number {
  if (DISCONNECT_CODES.has(code)) return code;
  return code === ReasonCode.ServerUnavailable ? ReasonCode.UnspecifiedError : ReasonCode.NotAuthorized;
}

function withoutProblemInformation(packet: Packet): Packet {
  const props = (packet as { properties?: Properties }).properties;
  if (props === undefined || (props.reasonString === undefined && props.userProperties === undefined)) return packet;
  const rest: Properties = { ...props };
  delete rest.reasonString;
  delete rest.userProperties;
  return { ...packet, properties: rest } as Packet;
}
