/**
 * The will of a session: the message to publish when its connection ends without a clean
 * DISCONNECT (or with DISCONNECT 0x04), after the Will Delay Interval (MQTT 5 section 3.1.3.2).
 */
import type { QoS } from '../codec/packets';
import type { MessageProperties } from '../routing/message';

export interface WillMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties: MessageProperties | undefined;
  /** Message Expiry Interval of the will, seconds (0: none). */
  expiryInterval: number;
  /** Will Delay Interval, seconds. */
  delay: number;
}
