/**
 * A session's subscription and the shared group it may belong to: the entries of the topic index.
 */
import type { QoS } from '../codec/packets';
import type { Session } from './session';

export interface SubscriptionOptions {
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId: number | undefined;
}

export interface SessionSubscription extends SubscriptionOptions {
  readonly kind: 'sub';
  readonly session: Session;
  /** The filter as subscribed, `$share/<group>/` included: the key within the session. */
  readonly key: string;
  /** The filter without a share prefix: the key in the topic index. */
  readonly filter: string;
  readonly wildcard: boolean;
  /** The group of a shared subscription, set by the subscription table. */
  group: SharedGroup | undefined;
  readonly shareName: string | undefined;
}

/** `$share/<name>/<filter>`: one entry in the index; each message goes to one member. */
export interface SharedGroup {
  readonly kind: 'group';
  readonly name: string;
  readonly filter: string;
  readonly wildcard: boolean;
  readonly members: SessionSubscription[];
  /** Round-robin cursor. */
  next: number;
}

export type RouteEntry = SessionSubscription | SharedGroup;
