/**
 * An application message on its way through the broker: what a PUBLISH carried, minus the things
 * that belong to one hop (packet id, topic alias, subscription identifiers, DUP).
 */
import type { Properties, QoS } from '../codec/packets';

/** The MQTT 5 properties that travel with a message from publisher to subscribers. */
export interface MessageProperties {
  payloadFormatIndicator?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Array<[string, string]>;
}

/** A PUBLISH encoded for one variant of a message, kept as the template of its other deliveries. */
export interface EncodedPublish {
  /** Header and payload in one buffer. */
  bytes: Buffer;
  /**
   * The generation of the template ring `bytes` lies in (connection/template-ring.ts), 0 when it is
   * memory of its own: a template from an older generation is gone and must be encoded again.
   */
  generation: number;
  /** Where the 2-byte packet id is (-1 for QoS 0). */
  idOffset: number;
  /** Length of everything before the payload. */
  headerLength: number;
}

export class Message {
  // Encoded PUBLISH templates per variant (see connection/publish-encoder.ts): the first variant in
  // two fields, further ones (rare: mixed versions, QoS or retain flags) in an array.
  private firstVariant = -1;
  private firstEncoding: EncodedPublish | undefined = undefined;
  private otherEncodings: (EncodedPublish | undefined)[] | undefined = undefined;
  /** Whether `payload` is our own copy rather than a view into a socket read. */
  private owned = false;

  constructor(
    readonly topic: string,
    public payload: Buffer,
    readonly qos: QoS,
    readonly retain: boolean,
    readonly properties: MessageProperties | undefined,
    /** Absolute expiry in ms since the epoch; 0 for never. */
    readonly expiresAt: number,
    /** Client id of the publisher (for No Local); '' for messages the broker publishes itself. */
    readonly origin: string,
  ) {}

  encodingOf(variant: number): EncodedPublish | undefined {
    if (variant === this.firstVariant) return this.firstEncoding;
    return this.otherEncodings?.[variant];
  }

  keepEncoding(variant: number, enc: EncodedPublish): void {
    if (this.firstVariant < 0 || this.firstVariant === variant) {
      this.firstVariant = variant;
      this.firstEncoding = enc;
    } else {
      (this.otherEncodings ??= [])[variant] = enc;
    }
  }

  /**
   * Copies the payload out of the socket chunk it views, so that keeping the message (queue,
   * retained store) does not pin the whole chunk. Idempotent.
   */
  own(): this {
    if (!this.owned) {
      this.owned = true;
      if (this.payload.length > 0 && this.payload.byteLength !== this.payload.buffer.byteLength) {
        this.payload = Buffer.from(this.payload);
      }
      if (this.properties?.correlationData) {
        this.properties.correlationData = Buffer.from(this.properties.correlationData);
      }
    }
    return this;
  }

  /** Seconds left before expiry (rounded up, at least 1), or undefined for a message that does not expire. */
  remainingExpiry(now: number): number | undefined {
    if (this.expiresAt === 0) return undefined;
    return Math.max(1, Math.ceil((this.expiresAt - now) / 1000));
  }

  isExpired(now: number): boolean {
    return this.expiresAt !== 0 && now >= this.expiresAt;
  }
}

/** Picks the forwardable properties of an incoming PUBLISH (undefined when there are none). */
export function messagePropertiesOf(p: Properties | undefined): MessageProperties | undefined {
  if (!p) return undefined;
  const { payloadFormatIndicator, contentType, responseTopic, correlationData, userProperties } = p;
  if (
    payloadFormatIndicator === undefined &&
    contentType === undefined &&
    responseTopic === undefined &&
    correlationData === undefined &&
    userProperties === undefined
  ) {
    return undefined;
  }
  const out: MessageProperties = {};
  if (payloadFormatIndicator !== undefined) out.payloadFormatIndicator = payloadFormatIndicator;
  if (contentType !== undefined) out.contentType = contentType;
  if (responseTopic !== undefined) out.responseTopic = responseTopic;
  if (correlationData !== undefined) out.correlationData = correlationData;
  if (userProperties !== undefined) out.userProperties = userProperties;
  return out;
}
