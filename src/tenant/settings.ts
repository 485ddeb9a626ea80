/**
 * Per-tenant settings: a typed schema with defaults and validation. A connection takes a snapshot
 * of its tenant's settings when it connects; changes apply to new connections.
 */
import { z } from 'zod';

const u16 = z.number().int().min(0).max(65535);
const u32 = z.number().int().min(0).max(4_294_967_295);
const positive = z.number().int().min(1);
const quota = z.number().min(0).default(0);

export const tenantSettingsSchema = z
  .object({
    /** MQTT 3.1 (protocol level 3) accepted. */
    mqtt3Enabled: z.boolean().default(true),
    /** MQTT 3.1.1 (protocol level 4) accepted. */
    mqtt4Enabled: z.boolean().default(true),
    /** MQTT 5.0 accepted. */
    mqtt5Enabled: z.boolean().default(true),
    /** Highest QoS a client may publish or be granted (CONNACK Maximum QoS). */
    maxQoS: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(2),
    retainEnabled: z.boolean().default(true),
    wildcardSubscriptionEnabled: z.boolean().default(true),
    sharedSubscriptionEnabled: z.boolean().default(true),
    subscriptionIdentifierEnabled: z.boolean().default(true),
    maxTopicLength: positive.max(65535).default(65535),
    maxTopicLevels: positive.default(128),
    maxTopicLevelLength: positive.max(65535).default(65535),
    /** Topic aliases a client may use towards the broker (CONNACK Topic Alias Maximum). */
    topicAliasMaximum: u16.default(64),
    /** QoS 1/2 publishes a client may have unacknowledged towards the broker (CONNACK Receive Maximum). */
    receiveMaximum: positive.max(65535).default(64),
    /** Largest packet the broker accepts, in bytes (CONNACK Maximum Packet Size). */
    maxPacketSize: positive.max(268_435_460).default(1_048_576),
    /** Largest session expiry a client may ask for, in seconds; larger requests are clamped. */
    maxSessionExpiry: u32.default(7 * 24 * 3600),
    /** Smallest keepalive, in seconds; a smaller one (or 0 without a maxKeepAlive) is raised (MQTT 5: Server Keep Alive). */
    minKeepAlive: u16.default(0),
    /** Largest keepalive, in seconds; a larger one, or 0 when this is below 65535, is lowered (MQTT 5: Server Keep Alive). */
    maxKeepAlive: u16.default(65535),
    maxFiltersPerSubscribe: positive.default(100),
    maxSubscriptionsPerSession: positive.default(1000),
    maxSharedGroupMembers: positive.default(1000),
    /** Messages queued per session beyond the in-flight window (offline, or waiting for acks). */
    inboxSize: positive.default(1000),
    /** Which message to drop when a session's queue is full: the oldest queued or the newest. */
    inboxDropPolicy: z.enum(['oldest', 'newest']).default('oldest'),
    /** Whether QoS 0 messages are queued for offline persistent sessions. */
    queueQoS0Offline: z.boolean().default(true),
    /** Retained messages delivered per subscription on subscribe. */
    retainedMatchLimit: positive.default(1000),
    /** PUBLISH packets per second per connection; 0 is unlimited. */
    publishRate: z.number().min(0).default(0),
    /** Inbound bytes per second per connection; 0 is unlimited (over it, the socket is paused). */
    inboundBandwidth: z.number().min(0).default(0),
    /** Outbound bytes per second per connection; 0 is unlimited. */
    outboundBandwidth: z.number().min(0).default(0),
    maxWillPayload: z.number().int().min(0).default(65536),
    /** Every session is transient: session expiry 0 and clean session, whatever the client asks. */
    forceTransient: z.boolean().default(false),
    /** Check that payloads marked UTF-8 (payload format indicator 1) are valid UTF-8 (0x99 otherwise). */
    payloadFormatValidation: z.boolean().default(false),
    /** Seconds a client may take to complete CONNECT after the socket opens. */
    connectTimeout: positive.max(3600).default(10),
    /** Outgoing QoS 1/2 window towards MQTT 3.1/3.1.1 clients (MQTT 5 clients state their own). */
    maxInflightOut: positive.max(65535).default(128),

    // Quotas of the tenant as a whole (0: unlimited), enforced by the resource throttler.
    /** Concurrent connections (CONNACK 0x97 beyond). */
    maxConnections: quota,
    /** New connections per second (CONNACK 0x9F beyond). */
    maxConnectsPerSecond: quota,
    /** Bytes of messages held in memory for the tenant's sessions (queued and in flight). */
    maxSessionMemory: quota,
    /** Persistent sessions (CONNACK 0x97 for a new one beyond). */
    maxPersistentSessions: quota,
    /** Bytes queued for persistent sessions (messages beyond are dropped). */
    maxPersistentSessionBytes: quota,
    /** Subscriptions of transient sessions, of persistent sessions, shared memberships (SUBACK 0x97 beyond). */
    maxTransientSubscriptions: quota,
    maxPersistentSubscriptions: quota,
    maxSharedSubscriptions: quota,
    /** SUBSCRIBE and UNSUBSCRIBE filters per second (0x97 beyond). */
    maxSubscribesPerSecond: quota,
    /** Retained topics and bytes; retained publishes per second (PUBACK 0x97 beyond: delivered, not retained). */
    maxRetainedTopics: quota,
    maxRetainedBytes: quota,
    maxRetainedPublishesPerSecond: quota,
    /** Retained messages sent on subscribe per second (beyond, none are sent). */
    maxRetainedMatchesPerSecond: quota,
    /** Inbound bytes per second of all the tenant's connections (beyond, sockets pause). */
    maxInboundBytesPerSecond: quota,
    /** Bytes delivered per second to the tenant's subscribers (beyond, its publishers pause). */
    maxFanoutBytesPerSecond: quota,
    /** Share of the broker under saturation, relative to other tenants. */
    fairnessWeight: z.number().min(0.01).max(1000).default(1),
  })
  .strict();

export type TenantSettings = z.infer<typeof tenantSettingsSchema>;

/** A partial block, as found in the config file or returned by a setting provider. */
export type TenantSettingsPatch = Partial<TenantSettings>;

/**
 * The schema of a partial block: every key optional and validated as in the full schema, but
 * without its default. (Zod's `.partial()` keeps defaults, so a block naming one key would come back
 * with every other key at its built-in default and override the layers under it: a tenant's own
 * block would undo `tenants.default`.)
 */
const patchShape: z.ZodRawShape = Object.fromEntries(
  Object.entries(tenantSettingsSchema.shape).map(([key, field]) => [key, (field instanceof z.ZodDefault ? field.unwrap() : field).optional()]),
);
export const tenantSettingsPatchSchema = z.object(patchShape).strict() as unknown as z.ZodType<TenantSettingsPatch>;

export const DEFAULT_TENANT_SETTINGS: TenantSettings = Object.freeze(tenantSettingsSchema.parse({}));

/** Defaults, then the `default` block, then the tenant's own block. */
export function mergeSettings(...patches: (TenantSettingsPatch | undefined)[]): TenantSettings {
  const out: Record<string, unknown> = { ...DEFAULT_TENANT_SETTINGS };
  for (const p of patches) {
    if (!p) continue;
    for (const [k, v] of Object.entries(p)) if (v !== undefined) out[k] = v;
  }
  return Object.freeze(out) as TenantSettings;
}
