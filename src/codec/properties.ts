/**
 * MQTT 5 properties (section 2.2.2): which packet may carry which (table 2-4), decoding with every
 * check the specification asks for, and encoding.
 *
 * A "context" is where a property block sits: a packet type (1-15), or WILL_CONTEXT for the will
 * properties inside CONNECT, which have a set of their own.
 */
import type { Properties } from './packets';
import { Reader, MALFORMED, PROTOCOL_ERROR } from './reader';
import {
  binaryFieldLength,
  stringFieldLength,
  varintLength,
  writeBinary,
  writeString,
  writeU16,
  writeU32,
  writeVarint,
} from './primitives';

/** Property identifiers (MQTT 5 section 2.2.2.2). */
export const PropertyId = {
  PayloadFormatIndicator: 0x01,
  MessageExpiryInterval: 0x02,
  ContentType: 0x03,
  ResponseTopic: 0x08,
  CorrelationData: 0x09,
  SubscriptionIdentifier: 0x0b,
  SessionExpiryInterval: 0x11,
  AssignedClientIdentifier: 0x12,
  ServerKeepAlive: 0x13,
  AuthenticationMethod: 0x15,
  AuthenticationData: 0x16,
  RequestProblemInformation: 0x17,
  WillDelayInterval: 0x18,
  RequestResponseInformation: 0x19,
  ResponseInformation: 0x1a,
  ServerReference: 0x1c,
  ReasonString: 0x1f,
  ReceiveMaximum: 0x21,
  TopicAliasMaximum: 0x22,
  TopicAlias: 0x23,
  MaximumQoS: 0x24,
  RetainAvailable: 0x25,
  UserProperty: 0x26,
  MaximumPacketSize: 0x27,
  WildcardSubscriptionAvailable: 0x28,
  SubscriptionIdentifierAvailable: 0x29,
  SharedSubscriptionAvailable: 0x2a,
} as const;

/** The context of the will properties in CONNECT (packet type 0 is never a real packet). */
export const WILL_CONTEXT = 0;

// One bit per context.
const WILL = 1 << WILL_CONTEXT;
const CONNECT = 1 << 1;
const CONNACK = 1 << 2;
const PUBLISH = 1 << 3;
const ACKS = (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7); // PUBACK, PUBREC, PUBREL, PUBCOMP
const SUBSCRIBE = 1 << 8;
const SUBACK = 1 << 9;
const UNSUBSCRIBE = 1 << 10;
const UNSUBACK = 1 << 11;
const DISCONNECT = 1 << 14;
const AUTH = 1 << 15;
const MESSAGE = PUBLISH | WILL;
const EVERY = WILL | CONNECT | CONNACK | PUBLISH | ACKS | SUBSCRIBE | SUBACK | UNSUBSCRIBE | UNSUBACK | DISCONNECT | AUTH;

/** Contexts allowed for each property identifier (MQTT 5 table 2-4); 0 means "not a property". */
const ALLOWED = new Uint32Array(0x80);
ALLOWED[0x01] = MESSAGE;
ALLOWED[0x02] = MESSAGE;
ALLOWED[0x03] = MESSAGE;
ALLOWED[0x08] = MESSAGE;
ALLOWED[0x09] = MESSAGE;
ALLOWED[0x0b] = PUBLISH | SUBSCRIBE;
ALLOWED[0x11] = CONNECT | CONNACK | DISCONNECT;
ALLOWED[0x12] = CONNACK;
ALLOWED[0x13] = CONNACK;
ALLOWED[0x15] = CONNECT | CONNACK | AUTH;
ALLOWED[0x16] = CONNECT | CONNACK | AUTH;
ALLOWED[0x17] = CONNECT;
ALLOWED[0x18] = WILL;
ALLOWED[0x19] = CONNECT;
ALLOWED[0x1a] = CONNACK;
ALLOWED[0x1c] = CONNACK | DISCONNECT;
ALLOWED[0x1f] = CONNACK | ACKS | SUBACK | UNSUBACK | DISCONNECT | AUTH;
ALLOWED[0x21] = CONNECT | CONNACK;
ALLOWED[0x22] = CONNECT | CONNACK;
ALLOWED[0x23] = PUBLISH;
ALLOWED[0x24] = CONNACK;
ALLOWED[0x25] = CONNACK;
ALLOWED[0x26] = EVERY;
ALLOWED[0x27] = CONNECT | CONNACK;
ALLOWED[0x28] = CONNACK;
ALLOWED[0x29] = CONNACK;
ALLOWED[0x2a] = CONNACK;

/** Whether property `id` may appear in `context` (a packet type, or WILL_CONTEXT). */
export function propertyAllowed(id: number, context: number): boolean {
  return id < 0x80 && ((ALLOWED[id] as number) & (1 << context)) !== 0;
}

/**
 * Reads a property block (length + properties) at the reader's cursor. Returns undefined when the
 * block is empty, so that packets without properties carry no properties object. On failure, sets
 * `r.err` (the caller must check it) and returns undefined.
 */
export function readProperties(r: Reader, context: number): Properties | undefined {
  const length = r.varint();
  if (length === 0 || r.err !== undefined) return undefined;
  const blockEnd = r.pos + length;
  if (blockEnd > r.end) {
    r.fail('RTK_DECODE_TRUNCATED', MALFORMED, 'property length');
    return undefined;
  }
  // Bound every read by the block, so a value running past it is a truncation.
  const packetEnd = r.end;
  r.end = blockEnd;
  const props: Properties = {};
  const contextBit = 1 << context;
  let seenLow = 0; // identifiers 0-31
  let seenHigh = 0; // identifiers 32-63
  while (r.pos < blockEnd) {
    // The identifier is a variable byte integer, but every defined one is below 0x80: a byte with
    // the continuation bit can only start an unknown identifier.
    const id = r.u8();
    const allowed = id < 0x80 ? (ALLOWED[id] as number) : 0;
    if (allowed === 0) {
      r.fail('RTK_DECODE_PROPERTY_UNKNOWN', MALFORMED, `0x${id.toString(16)}`);
      break;
    }
    if ((allowed & contextBit) === 0) {
      r.fail('RTK_DECODE_PROPERTY_NOT_ALLOWED', MALFORMED, `0x${id.toString(16)}`);
      break;
    }
    // Only User Property, and Subscription Identifier on PUBLISH, may repeat.
    if (id !== 0x26 && !(id === 0x0b && context === 3)) {
      if (id < 32) {
        const bit = 1 << id;
        if ((seenLow & bit) !== 0) {
          r.fail('RTK_DECODE_PROPERTY_DUPLICATE', PROTOCOL_ERROR, `0x${id.toString(16)}`);
          break;
        }
        seenLow |= bit;
      } else {
        const bit = 1 << (id - 32);
        if ((seenHigh & bit) !== 0) {
          r.fail('RTK_DECODE_PROPERTY_DUPLICATE', PROTOCOL_ERROR, `0x${id.toString(16)}`);
          break;
        }
        seenHigh |= bit;
      }
    }
    readValue(r, id, props);
  }
  r.end = packetEnd;
  if (r.err !== undefined) r.pos = packetEnd;
  return props;
}

function outOfRange(r: Reader, id: number, value: number): void {
  r.fail('RTK_DECODE_PROPERTY_VALUE', PROTOCOL_ERROR, `0x${id.toString(16)} = ${value}`);
}

/** A byte that must be 0 or 1. */
function flag(r: Reader, id: number): number {
  const v = r.u8();
  if (v > 1) outOfRange(r, id, v);
  return v;
}

/** A two- or four-byte integer that must not be 0. */
function nonZero(r: Reader, id: number, value: number): number {
  if (value === 0 && r.err === undefined) outOfRange(r, id, 0);
  return value;
}

/** [MQTT-3.3.2-14] a Response Topic is a Topic Name: not empty, no wildcards. */
function responseTopic(r: Reader): string {
  const s = r.utf8();
  if (r.err === undefined && (s.length === 0 || s.includes('+') || s.includes('#'))) {
    r.fail('RTK_DECODE_PROPERTY_VALUE', PROTOCOL_ERROR, `response topic '${s}' is not a topic name`);
  }
  return s;
}

function readValue(r: Reader, id: number, p: Properties): void {
  switch (id) {
    case 0x01: p.payloadFormatIndicator = flag(r, id); break;
    case 0x02: p.messageExpiryInterval = r.u32(); break;
    case 0x03: p.contentType = r.utf8(); break;
    case 0x08: p.responseTopic = responseTopic(r); break;
    case 0x09: p.correlationData = r.binary(); break;
    case 0x0b: {
      const v = r.varint();
      if (v === 0 && r.err === undefined) outOfRange(r, id, 0);
      (p.subscriptionIdentifiers ??= []).push(v);
      break;
    }
    case 0x11: p.sessionExpiryInterval = r.u32(); break;
    case 0x12: p.assignedClientIdentifier = r.utf8(); break;
    case 0x13: p.serverKeepAlive = r.u16(); break;
    case 0x15: p.authenticationMethod = r.utf8(); break;
    case 0x16: p.authenticationData = r.binary(); break;
    case 0x17: p.requestProblemInformation = flag(r, id); break;
    case 0x18: p.willDelayInterval = r.u32(); break;
    case 0x19: p.requestResponseInformation = flag(r, id); break;
    case 0x1a: p.responseInformation = r.utf8(); break;
    case 0x1c: p.serverReference = r.utf8(); break;
    case 0x1f: p.reasonString = r.utf8(); break;
    case 0x21: p.receiveMaximum = nonZero(r, id, r.u16()); break;
    case 0x22: p.topicAliasMaximum = r.u16(); break;
    case 0x23: {
      // [MQTT-3.3.2-8] Topic Alias 0 is answered with 0x94 Topic Alias invalid, not a plain protocol error.
      const alias = r.u16();
      if (alias === 0 && r.err === undefined) r.fail('RTK_DECODE_PROPERTY_VALUE', 0x94, '0x23 = 0');
      p.topicAlias = alias;
      break;
    }
    case 0x24: p.maximumQoS = flag(r, id); break;
    case 0x25: p.retainAvailable = flag(r, id); break;
    case 0x26: {
      const key = r.utf8();
      const value = r.utf8();
      (p.userProperties ??= []).push([key, value]);
      break;
    }
    case 0x27: p.maximumPacketSize = nonZero(r, id, r.u32()); break;
    case 0x28: p.wildcardSubscriptionAvailable = flag(r, id); break;
    case 0x29: p.subscriptionIdentifierAvailable = flag(r, id); break;
    case 0x2a: p.sharedSubscriptionAvailable = flag(r, id); break;
  }
}

// Encoding. Properties that the context may not carry are skipped, so that, for instance, a will's
// properties can be handed to the PUBLISH of the will message as they are (Will Delay Interval is
// dropped). Values are trusted: the encoder does not range-check them.

/** Bytes of the properties themselves (without the property length), as `writeProperties` writes them. */
export function propertiesLength(p: Properties | undefined, context: number): number {
  if (p === undefined) return 0;
  const c = 1 << context;
  let n = 0;
  if (p.payloadFormatIndicator !== undefined && (c & MESSAGE) !== 0) n += 2;
  if (p.messageExpiryInterval !== undefined && (c & MESSAGE) !== 0) n += 5;
  if (p.contentType !== undefined && (c & MESSAGE) !== 0) n += 1 + stringFieldLength(p.contentType);
  if (p.responseTopic !== undefined && (c & MESSAGE) !== 0) n += 1 + stringFieldLength(p.responseTopic);
  if (p.correlationData !== undefined && (c & MESSAGE) !== 0) n += 1 + binaryFieldLength(p.correlationData);
  const ids = p.subscriptionIdentifiers;
  if (ids !== undefined && (c & (PUBLISH | SUBSCRIBE)) !== 0) {
    for (let i = 0; i < ids.length; i++) n += 1 + varintLength(ids[i] as number);
  }
  if (p.sessionExpiryInterval !== undefined && (c & (CONNECT | CONNACK | DISCONNECT)) !== 0) n += 5;
  if (p.assignedClientIdentifier !== undefined && (c & CONNACK) !== 0) n += 1 + stringFieldLength(p.assignedClientIdentifier);
  if (p.serverKeepAlive !== undefined && (c & CONNACK) !== 0) n += 3;
  if (p.authenticationMethod !== undefined && (c & (CONNECT | CONNACK | AUTH)) !== 0) n += 1 + stringFieldLength(p.authenticationMethod);
  if (p.authenticationData !== undefined && (c & (CONNECT | CONNACK | AUTH)) !== 0) n += 1 + binaryFieldLength(p.authenticationData);
  if (p.requestProblemInformation !== undefined && (c & CONNECT) !== 0) n += 2;
  if (p.willDelayInterval !== undefined && (c & WILL) !== 0) n += 5;
  if (p.requestResponseInformation !== undefined && (c & CONNECT) !== 0) n += 2;
  if (p.responseInformation !== undefined && (c & CONNACK) !== 0) n += 1 + stringFieldLength(p.responseInformation);
  if (p.serverReference !== undefined && (c & (CONNACK | DISCONNECT)) !== 0) n += 1 + stringFieldLength(p.serverReference);
  if (p.reasonString !== undefined && (c & (ALLOWED[0x1f] as number)) !== 0) n += 1 + stringFieldLength(p.reasonString);
  if (p.receiveMaximum !== undefined && (c & (CONNECT | CONNACK)) !== 0) n += 3;
  if (p.topicAliasMaximum !== undefined && (c & (CONNECT | CONNACK)) !== 0) n += 3;
  if (p.topicAlias !== undefined && (c & PUBLISH) !== 0) n += 3;
  if (p.maximumQoS !== undefined && (c & CONNACK) !== 0) n += 2;
  if (p.retainAvailable !== undefined && (c & CONNACK) !== 0) n += 2;
  const user = p.userProperties;
  if (user !== undefined) {
    for (let i = 0; i < user.length; i++) {
      const pair = user[i] as [string, string];
      n += 1 + stringFieldLength(pair[0]) + stringFieldLength(pair[1]);
    }
  }
  if (p.maximumPacketSize !== undefined && (c & (CONNECT | CONNACK)) !== 0) n += 5;
  if (p.wildcardSubscriptionAvailable !== undefined && (c & CONNACK) !== 0) n += 2;
  if (p.subscriptionIdentifierAvailable !== undefined && (c & CONNACK) !== 0) n += 2;
  if (p.sharedSubscriptionAvailable !== undefined && (c & CONNACK) !== 0) n += 2;
  return n;
}

/** Bytes of a whole property block: the property length (a variable byte integer) and the properties. */
export function propertyBlockLength(propsLength: number): number {
  return varintLength(propsLength) + propsLength;
}

/**
 * Writes a property block at `o`: `length` (from `propertiesLength` with the same context) and the
 * properties in identifier order, user properties in their own order. Returns the offset after it.
 */
export function writeProperties(buf: Buffer, o: number, p: Properties | undefined, context: number, length: number): number {
  o = writeVarint(buf, o, length);
  if (p === undefined || length === 0) return o;
  const c = 1 << context;
  if (p.payloadFormatIndicator !== undefined && (c & MESSAGE) !== 0) o = byte(buf, o, 0x01, p.payloadFormatIndicator);
  if (p.messageExpiryInterval !== undefined && (c & MESSAGE) !== 0) o = four(buf, o, 0x02, p.messageExpiryInterval);
  if (p.contentType !== undefined && (c & MESSAGE) !== 0) o = str(buf, o, 0x03, p.contentType);
  if (p.responseTopic !== undefined && (c & MESSAGE) !== 0) o = str(buf, o, 0x08, p.responseTopic);
  if (p.correlationData !== undefined && (c & MESSAGE) !== 0) o = bin(buf, o, 0x09, p.correlationData);
  const ids = p.subscriptionIdentifiers;
  if (ids !== undefined && (c & (PUBLISH | SUBSCRIBE)) !== 0) {
    for (let i = 0; i < ids.length; i++) {
      buf[o] = 0x0b;
      o = writeVarint(buf, o + 1, ids[i] as number);
    }
  }
  if (p.sessionExpiryInterval !== undefined && (c & (CONNECT | CONNACK | DISCONNECT)) !== 0) o = four(buf, o, 0x11, p.sessionExpiryInterval);
  if (p.assignedClientIdentifier !== undefined && (c & CONNACK) !== 0) o = str(buf, o, 0x12, p.assignedClientIdentifier);
  if (p.serverKeepAlive !== undefined && (c & CONNACK) !== 0) o = two(buf, o, 0x13, p.serverKeepAlive);
  if (p.authenticationMethod !== undefined && (c & (CONNECT | CONNACK | AUTH)) !== 0) o = str(buf, o, 0x15, p.authenticationMethod);
  if (p.authenticationData !== undefined && (c & (CONNECT | CONNACK | AUTH)) !== 0) o = bin(buf, o, 0x16, p.authenticationData);
  if (p.requestProblemInformation !== undefined && (c & CONNECT) !== 0) o = byte(buf, o, 0x17, p.requestProblemInformation);
  if (p.willDelayInterval !== undefined && (c & WILL) !== 0) o = four(buf, o, 0x18, p.willDelayInterval);
  if (p.requestResponseInformation !== undefined && (c & CONNECT) !== 0) o = byte(buf, o, 0x19, p.requestResponseInformation);
  if (p.responseInformation !== undefined && (c & CONNACK) !== 0) o = str(buf, o, 0x1a, p.responseInformation);
  if (p.serverReference !== undefined && (c & (CONNACK | DISCONNECT)) !== 0) o = str(buf, o, 0x1c, p.serverReference);
  if (p.reasonString !== undefined && (c & (ALLOWED[0x1f] as number)) !== 0) o = str(buf, o, 0x1f, p.reasonString);
  if (p.receiveMaximum !== undefined && (c & (CONNECT | CONNACK)) !== 0) o = two(buf, o, 0x21, p.receiveMaximum);
  if (p.topicAliasMaximum !== undefined && (c & (CONNECT | CONNACK)) !== 0) o = two(buf, o, 0x22, p.topicAliasMaximum);
  if (p.topicAlias !== undefined && (c & PUBLISH) !== 0) o = two(buf, o, 0x23, p.topicAlias);
  if (p.maximumQoS !== undefined && (c & CONNACK) !== 0) o = byte(buf, o, 0x24, p.maximumQoS);
  if (p.retainAvailable !== undefined && (c & CONNACK) !== 0) o = byte(buf, o, 0x25, p.retainAvailable);
  const user = p.userProperties;
  if (user !== undefined) {
    for (let i = 0; i < user.length; i++) {
      const pair = user[i] as [string, string];
      buf[o] = 0x26;
      o = writeString(buf, writeString(buf, o + 1, pair[0]), pair[1]);
    }
  }
  if (p.maximumPacketSize !== undefined && (c & (CONNECT | CONNACK)) !== 0) o = four(buf, o, 0x27, p.maximumPacketSize);
  if (p.wildcardSubscriptionAvailable !== undefined && (c & CONNACK) !== 0) o = byte(buf, o, 0x28, p.wildcardSubscriptionAvailable);
  if (p.subscriptionIdentifierAvailable !== undefined && (c & CONNACK) !== 0) o = byte(buf, o, 0x29, p.subscriptionIdentifierAvailable);
  if (p.sharedSubscriptionAvailable !== undefined && (c & CONNACK) !== 0) o = byte(buf, o, 0x2a, p.sharedSubscriptionAvailable);
  return o;
}

function byte(buf: Buffer, o: number, id: number, v: number): number {
  buf[o] = id;
  buf[o + 1] = v;
  return o + 2;
}

function two(buf: Buffer, o: number, id: number, v: number): number {
  buf[o] = id;
  return writeU16(buf, o + 1, v);
}

function four(buf: Buffer, o: number, id: number, v: number): number {
  buf[o] = id;
  return writeU32(buf, o + 1, v);
}

function str(buf: Buffer, o: number, id: number, v: string): number {
  buf[o] = id;
  return writeString(buf, o + 1, v);
}

function bin(buf: Buffer, o: number, id: number, v: Uint8Array): number {
  buf[o] = id;
  return writeBinary(buf, o + 1, v);
}
