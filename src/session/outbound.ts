/**
 * Messages on their way from a session to its client, and what a session needs from the connection
 * it is attached to.
 */
import type { ProtocolVersion, QoS } from '../codec/packets';
import type { Message } from '../routing/message';
import type { SharedGroup } from './subscription';
import type { DropReason } from '../plugins/events';

export const OutState = {
  /** Waiting in the queue (no packet id yet). */
  Queued: 0,
  /** PUBLISH sent, waiting for PUBACK / PUBREC. */
  Published: 1,
  /** PUBREL sent, waiting for PUBCOMP (QoS 2). */
  Released: 2,
} as const;
export type OutStateCode = (typeof OutState)[keyof typeof OutState];

export interface Outbound {
  readonly msg: Message;
  readonly qos: QoS;
  /** The RETAIN flag as delivered. */
  readonly retain: boolean;
  readonly subIds: number[] | undefined;
  /** The shared group the message came through, so it can go to another member if this one leaves. */
  readonly group: SharedGroup | undefined;
  packetId: number;
  state: OutStateCode;
  /** Position in the session's durable inbox (0 when not stored). */
  seq: number;
}

/** How far the kernel has taken a connection's output. */
export interface OutputProgress {
  /** Bytes the socket itself still holds (handed over, not yet taken by the kernel). */
  readonly socketBacklog: number;
  /** Bytes the kernel has taken from the connection so far: it grows while the client reads. */
  readonly bytesTaken: number;
}

/** The connection a session is attached to, as the session sees it. */
export interface SessionLink {
  readonly protocolVersion: ProtocolVersion;
  /** QoS 1/2 messages that may be in flight towards the client (its Receive Maximum). */
  readonly sendWindow: number;
  /** Whether the connection can take more bytes now. */
  readonly writable: boolean;
  /** The connection's transport, as far as the session needs it: what tells a stalled client apart. */
  readonly transport: OutputProgress;
  /**
   * Encodes and writes a PUBLISH. Returns undefined when written, or why the message is dropped for
   * this client only: it exceeds the client's Maximum Packet Size [MQTT-3.1.2-25], or the client
   * may not receive it.
   */
  writePublish(msg: Message, qos: QoS, retain: boolean, subIds: number[] | undefined, packetId: number, dup: boolean): DropReason | undefined;
  writePubrel(packetId: number): void;
}
