/**
 * The `types` option of the built-in collectors: which event types to pass on (all when absent).
 */
import { z } from 'zod';
import type { BrokerEventType } from '../events';

export const EVENT_TYPES = [
  'client.connected',
  'client.refused',
  'client.disconnected',
  'acl.denied',
  'message.dropped',
  'quota.exceeded',
  'session.started',
  'session.ended',
  'will.published',
  'retain.changed',
  'tenant.moved',
] as const satisfies readonly BrokerEventType[];

// Fails to compile when an event type is added to BrokerEvent but not to EVENT_TYPES.
type Missing = Exclude<BrokerEventType, (typeof EVENT_TYPES)[number]>;
const complete: [Missing] extends [never] ? true : Missing = true;
void complete;

export const eventTypesSchema = z.array(z.enum(EVENT_TYPES)).min(1).optional();

/** A set to test event types against, or undefined for "every type". */
export function eventFilter(types: readonly BrokerEventType[] | undefined): ReadonlySet<string> | undefined {
  return types ? new Set(types) : undefined;
}
