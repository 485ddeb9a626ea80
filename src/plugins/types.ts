/**
 * Plugin interfaces. Every plugin is built by a factory from its own config block and a context;
 * results cross the boundary as unions, never as exceptions (a throw is a plugin failure).
 */
import type { BrokerEvent } from './events';

export interface PluginLogger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

export interface PluginContext {
  logger: PluginLogger;
  /** Milliseconds since the epoch. */
  now(): number;
}

/** What the broker knows about the network side of a connection. */
export interface ConnectionInfo {
  /** Name of the listener that accepted the connection. */
  listener: string;
  transport: 'tcp' | 'tls' | 'ws' | 'wss';
  /** The client's address (after PROXY protocol / X-Forwarded-For when trusted). */
  remoteAddress: string;
  remotePort: number;
  /** TLS client certificate, when one was presented. */
  certificate?: ClientCertificate;
}

export interface ClientCertificate {
  /** Whether the certificate chains to a configured CA. */
  authorized: boolean;
  /** Subject and issuer by field (`CN`, `O`, `OU`, ...); a field the certificate repeats gives its first value. */
  subject: Record<string, string>;
  issuer: Record<string, string>;
  /** Subject alternative names as in Node's `subjectaltname`, split: `DNS:a.example`, `URI:…`. */
  subjectAltNames: string[];
  fingerprint256: string;
  serialNumber: string;
}

export interface AuthRequest {
  conn: ConnectionInfo;
  protocolVersion: number;
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  /** MQTT 5 enhanced authentication. */
  authMethod: string | undefined;
  authData: Buffer | undefined;
}

/** One access rule: `topic` is a topic filter in which %u, %c and %t stand for user, client id and tenant. */
export interface AclRule {
  /** `pubsub` covers publish and subscribe. */
  action: 'publish' | 'subscribe' | 'pubsub';
  topic: string;
  allow: boolean;
}

export type AuthResult =
  | {
      ok: true;
      tenantId: string;
      userId: string;
      attrs?: Record<string, string>;
      /** Access rules of this client, checked before any provider's `authorize`; first match wins, no match denies. */
      acl?: AclRule[];
      /** When the credentials stop being valid (ms since the epoch): the connection is then closed with 0x87 unless it re-authenticates. */
      expiresAt?: number;
      /** MQTT 5 enhanced authentication: data for the CONNACK (or the AUTH 0x00 of a re-authentication). */
      authData?: Buffer;
    }
  | { ok: false; reasonCode: number; reasonString?: string }
  /** MQTT 5 enhanced authentication: send AUTH 0x18 with this data and wait for the client's answer. */
  | { ok: 'continue'; authData: Buffer }
  /** No opinion: the next provider in the chain decides. */
  | { ok: 'skip' };

/** Who a connection is, once authenticated. */
export interface ClientIdentity {
  tenantId: string;
  userId: string;
  clientId: string;
  username: string | undefined;
  attrs: Readonly<Record<string, string>>;
  conn: ConnectionInfo;
  /** Rules from the authenticating provider, if it gave any. */
  acl: readonly AclRule[] | undefined;
}

export type AuthAction = 'publish' | 'subscribe' | 'unsubscribe' | 'receive';

export interface AuthorizeRequest {
  client: ClientIdentity;
  action: AuthAction;
  /** Topic name (publish, receive) or filter (subscribe, unsubscribe; without `$share/group/`). */
  topic: string;
  qos: number;
  retain: boolean;
}

export interface AuthProvider {
  /** Decides a CONNECT (and MQTT 5 re-authentication). */
  authenticate(req: AuthRequest): AuthResult | Promise<AuthResult>;
  /**
   * Continues MQTT 5 enhanced authentication with the client's AUTH data (`req.authData`); `step`
   * counts the client's AUTH packets in this exchange, from 1.
   */
  continueAuth?(req: AuthRequest, step: number): AuthResult | Promise<AuthResult>;
  /** true allow, false deny, undefined: this provider has no opinion (the next one decides). */
  authorize?(req: AuthorizeRequest): boolean | undefined | Promise<boolean | undefined>;
  close?(): void | Promise<void>;
}

/** A plugin module exports this as `default` or as `create`. */
export type PluginFactory<T> = (config: Record<string, unknown>, ctx: PluginContext) => T | Promise<T>;

/** Per-tenant settings from outside the config file. Asked again every `refreshSeconds`. */
export interface SettingProvider {
  /** A partial settings block for the tenant (validated by the broker), or undefined for none. */
  settings(tenantId: string): Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>;
  close?(): void | Promise<void>;
}

/** The quotas a throttler decides, one name per limited resource. */
export type ResourceType =
  | 'connections'
  | 'connectRate'
  | 'sessionMemory'
  | 'persistentSessions'
  | 'persistentSessionBytes'
  | 'transientSubscriptions'
  | 'persistentSubscriptions'
  | 'sharedSubscriptions'
  | 'subscribeRate'
  | 'retainedTopics'
  | 'retainedBytes'
  | 'retainedPublishRate'
  | 'retainedMatchRate'
  | 'inboundBytesRate'
  | 'fanoutBytesRate';

/** Per-tenant quota decisions: `false` means the tenant has no more of that resource. Synchronous (hot path). */
export interface ResourceThrottler {
  /** `amount`: how much more is asked for: the message's bytes for the byte quotas, 1 otherwise. */
  hasResource(tenantId: string, resource: ResourceType, amount?: number): boolean;
  close?(): void | Promise<void>;
}

export interface Redirection {
  /** MQTT 5 Server Reference: where the client should connect instead. */
  serverReference: string;
  /** true: 0x9D Server moved (permanent); false: 0x9C Use another server (temporary). */
  permanent: boolean;
}

/** MQTT 5 server redirection: decides at CONNECT whether a client should go elsewhere. */
export interface ClientBalancer {
  redirect(client: ClientIdentity): Redirection | undefined | Promise<Redirection | undefined>;
  close?(): void | Promise<void>;
}

export interface EventCollector {
  report(event: BrokerEvent & { time: number }): void | Promise<void>;
  /** The event types it reports (every type when absent): events nobody wants need not be sent. */
  readonly types?: ReadonlySet<string>;
  close?(): void | Promise<void>;
}
