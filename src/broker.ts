/**
 * The composition root: builds every part of the broker from the configuration, starts them in
 * order and stops them in reverse. It is the only place that knows which implementations are wired
 * together (and the only place that looks at the deployment mode).
 */
import type { Socket } from 'node:net';
import { AuthService } from './auth/auth-service';
import type { BackgroundProcess } from './background/background-process';
import { Placement } from './background/placement';
import { adoptConnection, type HandedConnection } from './connection/handoff';
import { createAuthProviders } from './auth/providers';
import type { BrokerConfig, ListenerConfig } from './config/schema';
import { ReasonCode } from './codec/reason-codes';
import { Connection } from './connection/connection';
import type { BackgroundPlacement, ConnectionContext } from './connection/context';
import { ConnectionRegistry } from './connection/connection-registry';
import { RatatoskError } from './errors';
import { createLogger, type Logger } from './log';
import { EventBus } from './plugins/event-bus';
import type { AuthProvider, ClientBalancer, EventCollector, PluginContext, ResourceThrottler, SettingProvider } from './plugins/types';
import { BuiltinThrottler, mayRetain, Quotas } from './tenant/quotas';
import { FairScheduler } from './tenant/fair-scheduler';
import { createEventCollectors } from './plugins/collectors';
import { PluginGuard } from './plugins/guard';
import { loadPlugin } from './plugins/loader';
import { loadNamed } from './plugins/options';
import { SettingsRefresher } from './tenant/settings-refresher';
import { MemoryRetainStore } from './retain/memory-retain-store';
import { LmdbRetainStore } from './retain/lmdb-retain-store';
import { openLmdb, type LmdbEnv } from './storage/lmdb-env';
import { LmdbSessionStore } from './storage/lmdb-session-store';
import type { SessionStore } from './session/session-store';
import type { RetainStore } from './retain/retain-store';
import { Dispatcher } from './routing/dispatcher';
import type { Message } from './routing/message';
import { SessionManager } from './session/session-manager';
import { SettingsSource } from './tenant/settings-source';
import { TenantRegistry } from './tenant/tenant-registry';
import type { Tenant } from './tenant/tenant';
import { NetworkListener, type Listener } from './transport/listener';
import type { Transport } from './transport/transport';
import { systemClock, type Clock } from './util/clock';
import { DeadlineScheduler } from './util/deadline-scheduler';

export interface BrokerOptions {
  config: BrokerConfig;
  logger?: Logger;
  clock?: Clock;
  /** Providers to use instead of the configured ones (embedding, tests). */
  authProviders?: AuthProvider[];
  /** Collectors added to the configured ones (embedding, tests). */
  eventCollectors?: EventCollector[];
  balancer?: ClientBalancer;
  /** Folder that relative paths and plugin modules in the config resolve from (the config file's). */
  baseDir?: string;
  /** Where tenants are served, when not decided here (the background process: tenants it gave back). */
  placement?: BackgroundPlacement;
}

export class Broker {
  readonly log: Logger;
  readonly clock: Clock;
  readonly scheduler: DeadlineScheduler;
  readonly events: EventBus;
  readonly settings: SettingsSource;
  readonly tenants: TenantRegistry;
  readonly retained: RetainStore;
  readonly dispatcher: Dispatcher;
  readonly sessions: SessionManager;
  readonly connections = new ConnectionRegistry();
  readonly listeners: Listener[] = [];
  private readonly lmdb: LmdbEnv | undefined;
  private readonly sessionStore: SessionStore | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private auth!: AuthService;
  private readonly pluginGuard: PluginGuard;
  /** Quota decisions (the built-in throttler, or a plugin). */
  quotas: Quotas;
  private settingsRefresh: SettingsRefresher | undefined;
  fairness: FairScheduler | undefined;
  /** Which process serves which tenant (undefined in a background process, and with nothing to place). */
  placement: Placement | undefined;
  private context!: ConnectionContext;
  private stopping: Promise<void> | undefined;

  private constructor(readonly config: BrokerConfig, options: BrokerOptions) {
    this.log = options.logger ?? createLogger(config.log.level);
    this.clock = options.clock ?? systemClock;
    const now = (): number => this.clock.now();
    this.scheduler = new DeadlineScheduler(this.clock);
    this.events = new EventBus(this.log, now);
    this.settings = new SettingsSource(config.tenants);
    if (config.storage === 'lmdb') {
      this.lmdb = openLmdb(config.dataDir, config.durability);
      const onError = (err: unknown): void => this.log.error({ err, code: 'RTK_STORE_WRITE' }, 'store write failed');
      this.retained = new LmdbRetainStore(this.lmdb, onError);
      this.sessionStore = new LmdbSessionStore(this.lmdb, onError);
    } else {
      this.retained = new MemoryRetainStore();
    }
    this.dispatcher = new Dispatcher(this.retained, {
      retainChanged: (tenantId, topic, deleted) => this.events.emit({ type: 'retain.changed', tenantId, topic, deleted }),
    });
    this.tenants = new TenantRegistry({
      now,
      settingsOf: (id) => this.settings.get(id),
      dropped: (tenantId, session, msg, qos, reason) => {
        if (this.events.enabled) {
          this.events.emit({ type: 'message.dropped', tenantId, clientId: session.clientId, topic: msg.topic, qos, reason });
        }
      },
      redispatch: (group, out, leaving) => this.dispatcher.router.redispatch(group, out, leaving),
      persistence: this.sessionStore,
      quotas: { allows: (t, r, c, n) => this.quotas.allows(t, r, c, n), get plugin() { return quotasOf().plugin; } },
    });
    const quotasOf = (): Quotas => this.quotas;
    this.pluginGuard = new PluginGuard(this.log, config.plugins.timeoutMs);
    this.quotas = new Quotas(new BuiltinThrottler(this.tenants, this.retained, now), this.pluginGuard, this.events, config.plugins.onFailure, false);
    this.sessions = new SessionManager(
      this.scheduler,
      this.dispatcher,
      this.events,
      now,
      (t) => this.tenants.release(t),
      (t, msg) => mayRetain(this.quotas, this.retained, t, msg, now()),
    );
  }

  static async start(options: BrokerOptions): Promise<Broker> {
    const broker = new Broker(options.config, options);
    try {
      await broker.init(options);
    } catch (err) {
      // A background process started before the failure (a listener's port taken) must not outlive it.
      await broker.placement?.stop(1000);
      throw err;
    }
    return broker;
  }

  private async init(options: BrokerOptions): Promise<void> {
    const config = this.config;
    const now = (): number => this.clock.now();
    const pluginContext: PluginContext = { logger: this.log, now };
    const baseDir = options.baseDir ?? process.cwd();
    const providers = options.authProviders ?? (await createAuthProviders(config.auth.providers, pluginContext, baseDir));
    this.auth = new AuthService(
      providers,
      { timeoutMs: config.auth.timeoutMs, onFailure: config.auth.onFailure, loginGuard: config.auth.loginGuard },
      this.log,
      now,
    );
    for (const c of await createEventCollectors(config.events, pluginContext, baseDir)) this.events.addCollector(c);
    for (const c of options.eventCollectors ?? []) this.events.addCollector(c);
    const plugins = config.plugins;
    if (plugins.throttler) {
      const throttler = await loadNamed(loadPlugin<ResourceThrottler>(plugins.throttler, pluginContext, baseDir), 'plugins.throttler');
      this.quotas = new Quotas(throttler, this.pluginGuard, this.events, plugins.onFailure, true);
    }
    const balancer = options.balancer ?? (plugins.balancer ? await loadNamed(loadPlugin<ClientBalancer>(plugins.balancer, pluginContext, baseDir), 'plugins.balancer') : undefined);
    if (plugins.settings) {
      const provider = await loadNamed(loadPlugin<SettingProvider>(plugins.settings, pluginContext, baseDir), 'plugins.settings');
      this.settingsRefresh = new SettingsRefresher(provider, this.settings, this.tenants, this.pluginGuard, this.log, plugins.settings.refreshSeconds);
      await this.settingsRefresh.start();
    }
    if (config.fairness.enabled) {
      this.fairness = new FairScheduler(config.fairness);
      this.fairness.start();
    }
    this.context = {
      clock: this.clock,
      scheduler: this.scheduler,
      log: this.log,
      events: this.events,
      auth: this.auth,
      tenants: this.tenants,
      sessions: this.sessions,
      dispatcher: this.dispatcher,
      retained: this.retained,
      connections: this.connections,
      balancer,
      pluginGuard: this.pluginGuard,
      quotas: this.quotas,
      fairness: this.fairness,
      aclCacheMs: config.auth.aclCacheSeconds * 1000,
      ensureSettings: (id) => this.settingsRefresh?.ensure(id),
      checkDelivery: config.auth.checkDelivery,
      background: options.placement,
    };
    // Its own sessions first: placement compares them with what the background process holds.
    this.restoreSessions();
    const named = config.background.tenants.length > 0;
    // Automatic placement rides on the fair scheduler's measurements. The background process builds
    // its parts from the configuration: with objects handed in here (embedding), nothing moves there.
    const auto = config.background.auto.enabled && this.fairness !== undefined && !options.authProviders && !options.balancer;
    if (named && (options.authProviders || options.balancer)) {
      throw new RatatoskError('RTK_CONFIG_INVALID', 'background.tenants: auth providers and balancers passed as objects cannot serve a background process; configure them');
    }
    // Tenants an earlier run moved there are brought back when nothing would serve them there now.
    if (named || auto || Placement.hasStored(config)) {
      const placement = new Placement(this, { ...config, background: { ...config.background, auto: { ...config.background.auto, enabled: auto } } }, baseDir, this.log, this.events, this.clock);
      this.placement = placement;
      await placement.start();
      if (auto) this.fairness!.observer = (load) => placement.interval(load);
      this.context = { ...this.context, background: placement };
    }
    this.sweepTimer = setInterval(() => this.retained.sweep(this.clock.now()), 60_000);
    this.sweepTimer.unref();
    for (const lc of listenerConfigs(this.config)) {
      const listener = new NetworkListener(lc, lc.name, (t: Transport): void => this.accept(t), () => this.settings.connectPacketLimit);
      await listener.start();
      this.listeners.push(listener);
      this.log.info({ listener: listener.name, host: listener.host, port: listener.port }, 'listening');
    }
  }

  /** Sessions stored by an earlier run come back before any client can connect. */
  private restoreSessions(): void {
    if (!this.sessionStore) return;
    const started = Date.now();
    const loaded = this.sessionStore.load();
    const sessions = loaded.map((l) => this.sessions.restore(this.tenants.get(l.session.tenantId), l));
    let restored = 0;
    let messages = 0;
    for (const s of sessions) {
      const pending = s.pendingCount;
      if (this.sessions.resumeTimers(s)) {
        restored++;
        messages += pending;
      }
    }
    if (loaded.length > 0) {
      this.log.info({ sessions: restored, expired: loaded.length - restored, messages, ms: Date.now() - started }, 'sessions restored');
    }
  }

  private accept(transport: Transport): void {
    if (this.stopping) {
      transport.destroy();
      return;
    }
    // Before CONNECT names its tenant: the default block's timeout, and the largest packet of any tenant.
    new Connection(transport, this.context, this.connectTimeoutMs, this.settings.connectPacketLimit);
  }

  /** Before CONNECT names its tenant, the default block times the connection. */
  private get connectTimeoutMs(): number {
    return this.settings.get('default').connectTimeout * 1000;
  }

  /** The background process, once started (see `placement`). */
  get background(): BackgroundProcess | undefined {
    return this.placement?.backgroundProcess;
  }

  /** The time (TenantHolder: tenants move between processes). */
  now(): number {
    return this.clock.now();
  }

  /** Goes on with a connection the broker handed to this background process. */
  adopt(socket: Socket, handed: HandedConnection): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    adoptConnection(socket, handed, this.context, this.connectTimeoutMs, this.settings.connectPacketLimit);
  }

  /** Open connections by tenant. */
  connectionsByTenant(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.connections.values()) {
      const id = c.tenant?.id;
      if (id !== undefined) out[id] = (out[id] ?? 0) + 1;
    }
    return out;
  }

  /** The port of the first listener of a type (tests use port 0 and ask here). */
  port(type: ListenerConfig['type'] = 'tcp'): number {
    const l = this.listeners.find((x) => x.type === type);
    if (!l) throw new Error(`no ${type} listener`);
    return l.port;
  }

  /** Publishes a message as the broker (admin API, tests). */
  publish(tenantId: string, msg: Message): Promise<void> | undefined {
    const tenant = this.tenants.get(tenantId);
    const durable = this.dispatcher.publish(tenant, msg).durable;
    this.tenants.release(tenant); // a tenant with nothing else in memory is not kept for this
    return durable;
  }

  tenant(id: string): Tenant | undefined {
    return this.tenants.find(id);
  }

  /**
   * Graceful shutdown: stop accepting, tell MQTT 5 clients DISCONNECT 0x8B (server shutting down),
   * close every connection, flush and close the stores.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    // Stop accepting first; the listeners' close completes once their sockets are gone.
    const listenersClosed = Promise.all(this.listeners.map((l) => l.stop()));
    // The background process closes its own clients and store meanwhile.
    const backgroundStopped = this.placement?.stop((this.config.shutdownTimeout + 2) * 1000);
    this.sessions.keepingWills = true;
    for (const c of [...this.connections.values()]) {
      c.closeWith(ReasonCode.ServerShuttingDown, false, 'server shutting down');
    }
    // Clients get a moment to read their DISCONNECT and close; whatever is left is cut. The timer
    // holds the process: sockets that are paused (fair scheduling) do not, and the stores must
    // still be flushed and closed after it.
    const grace = new Promise<void>((resolve) => setTimeout(resolve, 1000));
    await Promise.race([listenersClosed, grace]);
    for (const l of this.listeners) l.destroyAll();
    await listenersClosed;
    await backgroundStopped;
    this.scheduler.close();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.settingsRefresh?.stop();
    this.fairness?.stop();
    await this.auth?.close();
    await this.sessionStore?.close();
    await this.retained.close();
    await this.lmdb?.close();
    await this.events.close();
    this.log.info('stopped');
  }
}

/**
 * The configured listeners, or the defaults: MQTT over TCP and WebSocket, plus TLS and secure
 * WebSocket when a certificate is configured.
 */
export function listenerConfigs(config: BrokerConfig): ListenerConfig[] {
  if (config.listeners) return config.listeners;
  const base = { clientCert: 'none', path: '/mqtt', proxyProtocol: 'off', trustForwardedFor: false, maxConnections: 0 } as const;
  const out: ListenerConfig[] = [{ ...base, type: 'tcp', host: config.host, port: config.mqttPort }];
  if (config.wsPort > 0) out.push({ ...base, type: 'ws', host: config.host, port: config.wsPort });
  const tls = config.tls;
  if (tls.cert && tls.key) {
    const secure = { ...base, host: config.host, cert: tls.cert, key: tls.key, ca: tls.ca, clientCert: tls.clientCert };
    if (config.tlsPort > 0) out.push({ ...secure, type: 'tls', port: config.tlsPort });
    if (config.wssPort > 0) out.push({ ...secure, type: 'wss', port: config.wssPort });
  }
  return out;
}
