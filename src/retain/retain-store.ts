/**
 * Retained messages, one per topic per tenant (MQTT 5 section 3.3.1.3), behind an interface so the
 * in-memory store and the durable ones are interchangeable. Expired messages are never returned.
 */
import type { Message } from '../routing/message';

export interface RetainUsage {
  topics: number;
  bytes: number;
}

export interface RetainStore {
  /** Stores (or, for an empty payload, deletes) the retained message of its topic. Resolves when durable. */
  set(tenantId: string, msg: Message): Promise<void> | undefined;
  get(tenantId: string, topic: string, now: number): Message | undefined;
  /** Retained messages matching a filter, at most `limit`. */
  match(tenantId: string, filter: string, limit: number, now: number): Message[];
  usage(tenantId: string): RetainUsage;
  /** Every tenant with retained messages, and their topics (admin listing). */
  list(tenantId: string, offset: number, limit: number, now: number): Message[];
  /** Tenants with retained messages. */
  tenantIds(): string[];
  /** Removes expired messages; returns how many. */
  sweep(now: number): number;
  /**
   * Removes one tenant's expired messages, at most once a second per tenant (a tenant at its retained
   * quota, so that messages no longer served stop counting against it); returns how many.
   */
  sweepTenant(tenantId: string, now: number): number;
  close(): Promise<void>;
}

/** Bytes a retained message is charged for. */
export function retainedSize(msg: Message): number {
  return Buffer.byteLength(msg.topic) + msg.payload.length;
}
