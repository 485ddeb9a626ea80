/**
 * Messages between the broker and its background process (Node.js IPC, advanced serialization:
 * Buffers cross as they are).
 */
import type { BrokerConfig } from '../config/schema';
import type { HandedConnection } from '../connection/handoff';
import type { TimedEvent } from '../plugins/event-bus';

export type EventWish = 'all' | string[];

/** What the background process serves, as it answers a `stats` request. */
export interface BackgroundStats {
  pid: number;
  /** Open connections by tenant. */
  connections: Record<string, number>;
}

export type ToBackground =
  /** `events`, here and with each connection: the event types the broker wants (EventBus.wanted). */
  | { type: 'start'; config: BrokerConfig; baseDir: string; events: EventWish }
  /** Sent with the socket as its handle; answered with `adopted`. */
  | { type: 'connection'; id: number; handed: HandedConnection; events: EventWish }
  | { type: 'stats'; id: number }
  /** The event types the broker wants changed. */
  | { type: 'wanted'; events: EventWish }
  | { type: 'stop' };

export type FromBackground =
  | { type: 'ready' }
  /** The connection `id` is the background process's now: the broker closes its copy of the socket. */
  | { type: 'adopted'; id: number }
  | { type: 'failed'; message: string }
  /** Events, batched: one message per few milliseconds. */
  | { type: 'events'; events: TimedEvent[] }
  | { type: 'stats'; id: number; stats: BackgroundStats };
