/**
 * Messages between the broker and its background process (Node.js IPC, advanced serialization:
 * Buffers cross as they are).
 */
import type { BrokerConfig } from '../config/schema';
import type { HandedConnection } from '../connection/handoff';
import type { TimedEvent } from '../plugins/event-bus';
import type { TenantState } from '../tenant/tenant-transfer';

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
  /** A tenant moved here: its sessions and retained messages (sent before any of its connections); answered with `stored`. */
  | { type: 'tenant'; state: TenantState }
  /** A tenant goes back to the broker: answered with `released` and its state. */
  | { type: 'release'; tenantId: string }
  | { type: 'stop' };

export type FromBackground =
  /** `tenants`: those it holds state of (restored from its store). */
  | { type: 'ready'; tenants: string[] }
  /** The connection `id` is the background process's now: the broker closes its copy of the socket. */
  | { type: 'adopted'; id: number }
  | { type: 'failed'; message: string }
  /** Events, batched: one message per few milliseconds. */
  | { type: 'events'; events: TimedEvent[] }
  | { type: 'stats'; id: number; stats: BackgroundStats }
  /** Inbound bytes per second by tenant over the last second (tenants that sent some). */
  | { type: 'load'; rates: Record<string, number> }
  /** A tenant given up (after `release`), with everything it held of it. */
  | { type: 'released'; state: TenantState }
  /** A tenant it was given (`tenant`) is in its memory and its store. */
  | { type: 'stored'; tenantId: string };
