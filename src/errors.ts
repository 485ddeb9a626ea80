/**
 * The one table of Ratatosk error codes. Codes are stable: callers, tests and operators compare
 * codes, never message text. Every code is documented in docs/errors.md (a test checks this).
 */
export const ErrorCodes = {
  // Decoding MQTT packets (src/codec). The connection answers with the MQTT 5 reason code carried
  // by the error (or closes a 3.1.1 connection).
  RTK_DECODE_REMAINING_LENGTH: 'remaining length is longer than four bytes',
  RTK_DECODE_PACKET_TYPE: 'packet type 0, or AUTH before MQTT 5',
  RTK_DECODE_RESERVED_FLAGS: 'fixed-header flags that the specification reserves',
  RTK_DECODE_PACKET_TOO_LARGE: 'packet larger than the maximum packet size',
  RTK_DECODE_TRUNCATED: 'a field runs past the end of the packet',
  RTK_DECODE_TRAILING_BYTES: 'bytes left over after the last field of a packet',
  RTK_DECODE_INVALID_UTF8: 'a string is not well-formed UTF-8 or contains U+0000',
  RTK_DECODE_QOS: 'QoS 3, or a QoS that the packet does not allow',
  RTK_DECODE_PROTOCOL_NAME: 'CONNECT protocol name is not MQTT or MQIsdp',
  RTK_DECODE_PROTOCOL_VERSION: 'CONNECT protocol level is not 3, 4 or 5',
  RTK_DECODE_CONNECT_FLAGS: 'CONNECT flags are inconsistent or use the reserved bit',
  RTK_DECODE_CONNACK_FLAGS: 'CONNACK acknowledge flags use the reserved bits 7-1',
  RTK_DECODE_PACKET_ID: 'packet identifier 0 where one is required',
  RTK_DECODE_EMPTY_PAYLOAD: 'SUBSCRIBE or UNSUBSCRIBE without any topic filter',
  RTK_DECODE_SUBSCRIPTION_OPTIONS: 'reserved subscription option bits, or Retain Handling 3',
  RTK_DECODE_PROPERTY_UNKNOWN: 'a property identifier that MQTT 5 does not define',
  RTK_DECODE_PROPERTY_NOT_ALLOWED: 'a property that this packet may not carry',
  RTK_DECODE_PROPERTY_DUPLICATE: 'a property that may appear once appears twice',
  RTK_DECODE_PROPERTY_VALUE: 'a property value outside its range (e.g. Receive Maximum 0)',
  RTK_DECODE_VARIABLE_INTEGER: 'a variable byte integer longer than four bytes',

  // Configuration (src/config).
  RTK_CONFIG_READ: 'the configuration file cannot be read',
  RTK_CONFIG_PARSE: 'the configuration file is not valid YAML or JSON',
  RTK_CONFIG_INVALID: 'a configuration key has a wrong type or value',
  RTK_CONFIG_UNKNOWN_KEY: 'a configuration key that Ratatosk does not know',

  // Storage (src/storage).
  RTK_STORE_OPEN: 'the data directory cannot be opened',
  RTK_STORE_VERSION: 'the data directory was written by an incompatible version',
  RTK_STORE_WRITE: 'a write to the store failed (disk full, I/O error)',

  // The background process (src/background).
  RTK_BACKGROUND_START: 'the background process for background.tenants could not start',

  // Plugins (src/plugins).
  RTK_PLUGIN_LOAD: 'a plugin module cannot be loaded or does not export a factory',
  RTK_PLUGIN_TIMEOUT: 'a plugin call took longer than its timeout',
  RTK_PLUGIN_FAILED: 'a plugin call threw or rejected',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class RatatoskError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, detail?: string) {
    super(detail ? `${ErrorCodes[code]}: ${detail}` : ErrorCodes[code]);
    this.code = code;
    this.name = 'RatatoskError';
  }
}
