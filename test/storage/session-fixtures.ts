/**
 * Real Session objects for the storage tests: a minimal SessionHost, subscriptions, outbounds, and a
 * normaliser that makes stored records comparable (Buffers shown with their type and bytes, keys
 * holding undefined dropped).
 */
import type { QoS } from '../../src/codec/packets';
import { Message, type MessageProperties } from '../../src/routing/message';
import { OutState, type OutStateCode, type Outbound, type SessionLink } from '../../src/session/outbound';
import { Session, type SessionHost } from '../../src/session/session';
import type { SessionPersistence } from '../../src/session/session-persistence';
import type { SubscriptionOptions } from '../../src/session/subscription';

export const T0 = 1_700_000_000_000;

export class TestHost implements SessionHost {
  clock = T0;
  readonly drops: string[] = [];

  constructor(
    readonly tenantId: string,
    readonly persistence: SessionPersistence | undefined,
  ) {}

  now(): number {
    return this.clock;
  }
  inboxSize(): number {
    return 1000;
  }
  dropPolicy(): 'oldest' | 'newest' {
    return 'oldest';
  }
  queueQoS0Offline(): boolean {
    return true;
  }
  dropped(_session: Session, msg: Message, _qos: number, reason: string): void {
    this.drops.push(`${msg.topic}:${reason}`);
  }
  admit(): boolean {
    return true;
  }
  held(): void {}
  redispatch(): void {
    throw new Error('no shared groups in storage tests');
  }
}

export function makeSession(tenantId: string, clientId: string, persistence?: SessionPersistence, expiry = 3600): Session {
  const s = new Session(new TestHost(tenantId, persistence), clientId);
  s.expiryInterval = expiry;
  return s;
}

export function addSubscription(session: Session, key: string, opts: Partial<SubscriptionOptions> = {}): void {
  const m = /^\$share\/([^/]+)\/(.*)$/.exec(key);
  const filter = m ? m[2]! : key;
  session.subscriptions.set(key, {
    kind: 'sub',
    session,
    key,
    filter,
    wildcard: filter.includes('+') || filter.includes('#'),
    group: undefined,
    shareName: m ? m[1] : undefined,
    qos: opts.qos ?? 1,
    noLocal: opts.noLocal ?? false,
    retainAsPublished: opts.retainAsPublished ?? false,
    retainHandling: opts.retainHandling ?? 0,
    subscriptionId: opts.subscriptionId,
  });
}

export interface OutboundSpec {
  seq: number;
  topic?: string;
  payload?: Buffer;
  msgQoS?: QoS;
  msgRetain?: boolean;
  properties?: MessageProperties;
  expiresAt?: number;
  origin?: string;
  qos?: QoS;
  retain?: boolean;
  subIds?: number[];
  packetId?: number;
  state?: OutStateCode;
}

export function makeOutbound(spec: OutboundSpec): Outbound {
  const msg = new Message(
    spec.topic ?? `t/${spec.seq}`,
    spec.payload ?? Buffer.from(`payload ${spec.seq}`),
    spec.msgQoS ?? 1,
    spec.msgRetain ?? false,
    spec.properties,
    spec.expiresAt ?? 0,
    spec.origin ?? 'publisher',
  );
  return {
    msg,
    qos: spec.qos ?? 1,
    retain: spec.retain ?? false,
    subIds: spec.subIds,
    group: undefined,
    packetId: spec.packetId ?? 0,
    state: spec.state ?? OutState.Queued,
    seq: spec.seq,
  };
}

/** A SessionLink that records what the session writes. */
export class RecordingLink implements SessionLink {
  readonly protocolVersion = 5 as const;
  writable = true;
  transport = { socketBacklog: 0, bytesTaken: 0 };
  readonly published: { topic: string; packetId: number; dup: boolean }[] = [];
  readonly pubrels: number[] = [];

  constructor(readonly sendWindow: number) {}

  writePublish(msg: Message, _qos: QoS, _retain: boolean, _subIds: number[] | undefined, packetId: number, dup: boolean): ReturnType<SessionLink['writePublish']> {
    this.published.push({ topic: msg.topic, packetId, dup });
    return undefined;
  }
  writePubrel(packetId: number): void {
    this.pubrels.push(packetId);
  }
}

/**
 * Makes stored records comparable with deepStrictEqual: a Buffer becomes `Buffer:<hex>` (a
 * Uint8Array that is not a Buffer becomes `Uint8Array:<hex>`, so a type change shows), keys holding
 * undefined are dropped (a missing key and an undefined one read the same).
 */
export function plain(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return `Buffer:${v.toString('hex')}`;
  if (v instanceof Uint8Array) return `Uint8Array:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = plain(x);
    return out;
  }
  return v;
}

/** Deterministic bytes (every value 0..255 appears). */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = (x >>> 0) & 0xff;
  }
  return b;
}
