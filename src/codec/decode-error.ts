import { ErrorCodes, type ErrorCode } from '../errors';
import type { Packet } from './packets';

/**
 * Why decoding stopped. `code` is one of the RTK_DECODE_* codes of src/errors.ts; `reasonCode` is the
 * MQTT 5 reason code to answer with (0x81 Malformed Packet, 0x82 Protocol Error, 0x84 Unsupported
 * Protocol Version, 0x95 Packet Too Large). Callers compare codes, never `message`.
 */
export interface DecodeError {
  code: ErrorCode;
  reasonCode: number;
  message: string;
}

export function decodeError(code: ErrorCode, reasonCode: number, detail?: string): DecodeError {
  const text = ErrorCodes[code];
  return { code, reasonCode, message: detail === undefined ? text : `${text}: ${detail}` };
}

/** Tells a decode result apart: packets have a `type`, errors a `code`. */
export function isDecodeError(result: Packet | DecodeError): result is DecodeError {
  return (result as { code?: unknown }).code !== undefined;
}
