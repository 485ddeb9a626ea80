/**
 * Typed broker events, handed to every configured EventCollector. Building an event costs an
 * object, so emitters check `events.enabled` first on hot paths.
 */
export type DropReason =
  | 'queue-full'
  | 'expired'
  | 'packet-too-large'
  | 'congested'
  | 'session-ended'
  | 'not-authorized'
  | 'quota';

export type BrokerEvent =
  | {
      type: 'client.connected';
      tenantId: string;
      clientId: string;
      userId: string;
      address: string;
      protocolVersion: number;
      cleanStart: boolean;
      sessionPresent: boolean;
      keepAlive: number;
      listener: string;
    }
  | { type: 'client.refused'; tenantId?: string; clientId?: string; address: string; reasonCode: number; reason: string }
  | {
      type: 'client.disconnected';
      tenantId: string;
      clientId: string;
      address: string;
      reasonCode: number;
      /** Who ended it: the client (DISCONNECT), the broker, or the network. */
      by: 'client' | 'server' | 'network';
      reason: string;
    }
  | { type: 'acl.denied'; tenantId: string; clientId: string; action: 'publish' | 'subscribe' | 'receive' | 'unsubscribe'; topic: string }
  | { type: 'message.dropped'; tenantId: string; clientId: string; topic: string; qos: number; reason: DropReason }
  | { type: 'quota.exceeded'; tenantId: string; clientId?: string; quota: string; limit: number }
  | { type: 'session.started'; tenantId: string; clientId: string; persistent: boolean; resumed: boolean }
  | { type: 'session.ended'; tenantId: string; clientId: string; reason: 'clean' | 'expired' | 'taken-over' | 'kicked' | 'clean-start' }
  | { type: 'will.published'; tenantId: string; clientId: string; topic: string }
  | { type: 'retain.changed'; tenantId: string; topic: string; deleted: boolean }
  /** A tenant moved between the broker's process and its background process (automatic placement). */
  | { type: 'tenant.moved'; tenantId: string; to: 'background' | 'broker'; sessions: number; retained: number };

export type BrokerEventType = BrokerEvent['type'];
