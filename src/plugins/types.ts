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

export type AuthResult =
  | { ok: true; tenantId: string; userId: string; attrs?: Record<string, string> }
  | { ok: false; reasonCode: number; reasonString?: string }
  /** MQTT 5 enhanced authentication: send AUTH 0x18 with this data and wait for the client's answer. */
  | { ok: 'continue'; authData: Buffer };

/** Who a connection is, once authenticated. */
export interface ClientIdentity {
  tenantId: string;
  userId: string;
  clientId: string;
  username: string | undefined;
  attrs: Readonly<Record<string, string>>;
  conn: ConnectionInfo;
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
  /** Continues MQTT 5 enhanced authentication with the client's AUTH data. */
  continueAuth?(req: AuthRequest, step: number): AuthResult | Promise<AuthResult>;
  /** true allow, false deny, undefined: this provider has no opinion (the next one decides). */
  authorize?(req: AuthorizeRequest): boolean | undefined | Promise<boolean | undefined>;
  close?(): void | Promise<void>;
}

export interface EventCollector {
  report(event: BrokerEvent & { time: number }): void | Promise<void>;
  close?(): void | Promise<void>;
}
