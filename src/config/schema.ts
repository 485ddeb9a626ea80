/**
 * The configuration schema: one typed object with defaults, read from a YAML/JSON file, then
 * environment variables, then command-line flags. Unknown keys are errors (a typo must not be
 * silently ignored).
 */
import { z } from 'zod';
import { tenantSettingsPatchSchema } from '../tenant/settings';

const port = z.number().int().min(0).max(65535);

export const listenerSchema = z
  .object({
    /** Shown in logs, events and metrics; defaults to `<type>:<port>`. */
    name: z.string().min(1).optional(),
    type: z.enum(['tcp', 'tls', 'ws', 'wss']),
    host: z.string().min(1).optional(),
    port,
    /** PEM files for tls/wss. */
    cert: z.string().optional(),
    key: z.string().optional(),
    ca: z.string().optional(),
    /** Client certificates: not asked for, asked for, or required. */
    clientCert: z.enum(['none', 'optional', 'required']).default('none'),
    /** WebSocket path. */
    path: z.string().startsWith('/').default('/mqtt'),
    /** HAProxy PROXY protocol on this listener. */
    proxyProtocol: z.enum(['off', 'v1', 'v2', 'auto']).default('off'),
    /** Trust X-Forwarded-For for the client address (ws/wss behind a proxy). */
    trustForwardedFor: z.boolean().default(false),
    /** Concurrent connections on this listener; 0 is unlimited. */
    maxConnections: z.number().int().min(0).default(0),
  })
  .strict();

/** One auth provider: `type` picks it; the other keys are its own options (each provider validates them). */
export const authProviderSchema = z
  .object({
    type: z.string().min(1),
  })
  .passthrough();

export const pluginSpecSchema = z
  .object({
    /** npm package name, or a path relative to the config file. */
    module: z.string().min(1),
    config: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

/** One event collector: `log`, `http` (webhook with batching) or `plugin`. */
export const eventCollectorSchema = z
  .object({
    type: z.string().min(1),
  })
  .passthrough();

export const configSchema = z
  .object({
    /** Address of the default listeners. */
    host: z.string().min(1).default('0.0.0.0'),
    /** Port of the default MQTT/TCP listener (used when `listeners` is not given). */
    mqttPort: port.default(1883),
    /** Port of the default WebSocket listener; 0 turns it off. */
    wsPort: port.default(8083),
    /** Port of the default MQTT/TLS listener, on when `tls.cert` is given; 0 turns it off. */
    tlsPort: port.default(8883),
    /** Port of the default secure WebSocket listener, on when `tls.cert` is given; 0 turns it off. */
    wssPort: port.default(8084),
    /** Certificate of the default tls and wss listeners. */
    tls: z
      .object({
        cert: z.string().optional(),
        key: z.string().optional(),
        ca: z.string().optional(),
        clientCert: z.enum(['none', 'optional', 'required']).default('none'),
      })
      .strict()
      .default({ clientCert: 'none' }),
    /** Every listener, replacing the defaults when given. */
    listeners: z.array(listenerSchema).optional(),
    dataDir: z.string().min(1).default('./data'),
    /** `lmdb`: durable embedded store in dataDir; `memory`: nothing survives a restart. */
    storage: z.enum(['lmdb', 'memory']).default('lmdb'),
    /** `sync`: acknowledge after fsync; `relaxed`: after the write, fsync in the background. */
    durability: z.enum(['sync', 'relaxed']).default('sync'),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
    auth: z
      .object({
        providers: z.array(authProviderSchema).default([{ type: 'dev' }]),
        /** Milliseconds an auth provider may take before the failure policy applies. */
        timeoutMs: z.number().int().min(1).default(5000),
        onFailure: z.enum(['deny', 'allow']).default('deny'),
        /** Authorize every delivery to a subscriber too (action 'receive'); costs a check per delivery. */
        checkDelivery: z.boolean().default(false),
        /** Seconds an authorization answer is reused for the same connection, action and topic (0: never). */
        aclCacheSeconds: z.number().min(0).default(5),
        /** Failed logins per client address before answers slow down. */
        loginGuard: z
          .object({
            maxFailures: z.number().int().min(1).default(5),
            windowSeconds: z.number().min(1).default(60),
            maxDelayMs: z.number().int().min(0).default(10_000),
          })
          .strict()
          .default({ maxFailures: 5, windowSeconds: 60, maxDelayMs: 10_000 }),
      })
      .strict()
      .default({
        providers: [{ type: 'dev' }],
        timeoutMs: 5000,
        onFailure: 'deny',
        checkDelivery: false,
        aclCacheSeconds: 5,
        loginGuard: { maxFailures: 5, windowSeconds: 60, maxDelayMs: 10_000 },
      }),
    /** Plugins other than auth providers. */
    plugins: z
      .object({
        /** Per-tenant settings; asked again every refreshSeconds. */
        settings: pluginSpecSchema.extend({ refreshSeconds: z.number().min(0.1).default(5) }).strict().optional(),
        /** Per-tenant quota decisions instead of the built-in throttler. */
        throttler: pluginSpecSchema.optional(),
        /** MQTT 5 server redirection. */
        balancer: pluginSpecSchema.optional(),
        /** Milliseconds a plugin call may take. */
        timeoutMs: z.number().int().min(1).default(2000),
        /** What a failed (throwing, hanging) settings/throttler/balancer plugin call means. */
        onFailure: z.enum(['deny', 'allow']).default('deny'),
      })
      .strict()
      .default({ timeoutMs: 2000, onFailure: 'deny' }),
    /** Fair sharing of the broker between tenants under load. */
    fairness: z
      .object({
        enabled: z.boolean().default(true),
        intervalMs: z.number().int().min(5).max(1000).default(20),
        /** Event-loop utilization (0-1) above which tenants are held to their fair share. */
        targetUtilization: z.number().min(0.1).max(1).default(0.85),
        /** Event-loop utilization (0-1) above which a tenant's work per event-loop turn is sliced. */
        sliceUtilization: z.number().min(0).max(1).default(0.5),
        /** Work (ms) one tenant may bring into one event-loop turn while slicing. */
        sliceMs: z.number().min(0.05).max(100).default(0.25),
        /**
         * The slice (ms) of a busy loop's only active tenant: it bounds how long a tenant that
         * starts (or resumes) sending waits behind a lone flood.
         */
        soloSliceMs: z.number().min(0.05).max(100).default(1),
      })
      .strict()
      .default({ enabled: true, intervalMs: 20, targetUtilization: 0.85, sliceUtilization: 0.5, sliceMs: 0.25, soloSliceMs: 1 }),
    /**
     * Tenants served by a background process of the broker: their plain-TCP connections are handed
     * to it after authentication, and it runs only on CPU time nothing else wants (SCHED_IDLE).
     */
    background: z
      .object({
        tenants: z.array(z.string().min(1)).default([]),
        /** Seconds between restarts of a background process that exited. */
        restartSeconds: z.number().min(0.1).default(1),
        /**
         * Automatic placement (needs fair scheduling): a tenant that brings most of the input of a
         * busy broker while others are active, for `afterSeconds`, moves to the background process
         * (started when first needed); it comes back once it has stayed calm for `calmSeconds`.
         */
        auto: z
          .object({
            enabled: z.boolean().default(true),
            afterSeconds: z.number().min(0.1).max(3600).default(1),
            calmSeconds: z.number().min(1).max(86400).default(60),
          })
          .strict()
          .default({ enabled: true, afterSeconds: 1, calmSeconds: 60 }),
      })
      .strict()
      .default({ tenants: [], restartSeconds: 1, auto: { enabled: true, afterSeconds: 1, calmSeconds: 60 } }),
    /** Where events go. */
    events: z.array(eventCollectorSchema).default([]),
    /** Per-tenant settings: a `default` block for every tenant, then one block per tenant id. */
    tenants: z.record(z.string(), tenantSettingsPatchSchema).default({}),
    /** Seconds to wait for stores to flush on shutdown. */
    shutdownTimeout: z.number().min(0).default(10),
  })
  .strict()
  .superRefine((c, ctx) => {
    const defaults = c.tenants['default'] ?? {};
    for (const [id, block] of Object.entries(c.tenants)) {
      // A new socket's tenant is not known before its CONNECT: only the default block can time it.
      if (id !== 'default' && block.connectTimeout !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['tenants', id, 'connectTimeout'], message: 'only tenants.default may set connectTimeout (a socket has no tenant before its CONNECT)' });
      }
      const min = block.minKeepAlive ?? defaults.minKeepAlive ?? 0;
      const max = block.maxKeepAlive ?? defaults.maxKeepAlive ?? 65535;
      if (min > max) {
        ctx.addIssue({ code: 'custom', path: ['tenants', id, 'minKeepAlive'], message: `minKeepAlive ${min} is above maxKeepAlive ${max}` });
      }
    }
  });

export type BrokerConfig = z.infer<typeof configSchema>;
export type ListenerConfig = z.infer<typeof listenerSchema>;
export type ConfigInput = z.input<typeof configSchema>;
