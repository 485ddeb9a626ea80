/**
 * Durable sessions: what is stored of a persistent session and its inbox, and the store interface
 * (write-behind persistence plus loading at start). Implementations: memory (tests) and LMDB.
 */
import type { QoS } from '../codec/packets';
import type { MessageProperties } from '../routing/message';
import type { SessionPersistence } from './session-persistence';
import type { WillMessage } from './will';

export interface StoredSubscription {
  key: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId: number | undefined;
}

export interface StoredSession {
  tenantId: string;
  clientId: string;
  expiryInterval: number;
  /** When its last connection ended (ms); 0 if it was connected when last written. */
  disconnectedAt: number;
  subscriptions: StoredSubscription[];
  will: WillMessage | undefined;
  incomingQoS2: number[];
  lastSeq: number;
}

/** One message of a session's inbox: queued, or in flight with its packet id. */
export interface StoredOutbound {
  seq: number;
  topic: string;
  payload: Buffer;
  /** QoS of the message as published. */
  msgQoS: QoS;
  /** RETAIN flag as published. */
  msgRetain: boolean;
  properties: MessageProperties | undefined;
  expiresAt: number;
  origin: string;
  /** QoS and RETAIN flag as delivered to this session. */
  qos: QoS;
  retain: boolean;
  subIds: number[] | undefined;
  packetId: number;
  state: number;
}

export interface LoadedSession {
  session: StoredSession;
  /** Inbox in sequence order. */
  inbox: StoredOutbound[];
}

export interface SessionStore extends SessionPersistence {
  /** Every stored session with its inbox (at start). */
  load(): LoadedSession[];
  /** Resolves when every write so far is durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
