/**
 * Entry point of the broker's background process (see background-process.ts). It starts a broker
 * without listeners from the configuration the broker sends, takes the connections handed to it,
 * forwards the events they cause (batched), and stops when told to, on SIGTERM/SIGINT/SIGHUP, or
 * when the broker goes away. A stop asked for while it is starting waits until it has started.
 */
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { Broker } from '../broker';
import type { BrokerConfig } from '../config/schema';
import { createLogger } from '../log';
import { ReasonCode } from '../codec/reason-codes';
import type { BackgroundPlacement } from '../connection/context';
import type { TimedEvent } from '../plugins/event-bus';
import { putTenant, takeTenant } from '../tenant/tenant-transfer';
import type { EventWish, FromBackground, ToBackground } from './messages';

/** Milliseconds events wait to go to the broker together (one message for many). */
const EVENT_BATCH_MS = 5;
const EVENT_BATCH_MAX = 500;
/** How often it tells the broker its tenants' inbound rates (ms). */
const LOAD_REPORT_MS = 1000;

let broker: Broker | undefined;
let starting = false;
let stopping = false;
/** The event types the broker wants (it says so at the start and with each connection). */
let wanted: ReadonlySet<string> | 'all' = new Set();
let batch: TimedEvent[] = [];
/**
 * Tenants given back to the broker: a connection of theirs still deciding its settings or
 * redirection when its tenant left is refused (its client connects again, and reaches the broker).
 */
const released = new Set<string>();
const givenBack: BackgroundPlacement = {
  serves: (tenantId) => released.has(tenantId),
  handOff: (conn, p) => conn.refuse(ReasonCode.ServerUnavailable, 'tenant moved back to the broker; connect again', p.protocolVersion),
};
let batchTimer: NodeJS.Timeout | undefined;

function tell(message: FromBackground): void {
  if (process.connected) process.send!(message);
}

function want(wish: EventWish): void {
  wanted = wish === 'all' ? 'all' : new Set(wish);
}

function forward(e: TimedEvent): void {
  if (wanted !== 'all' && !wanted.has(e.type)) return;
  batch.push(e);
  if (batch.length >= EVENT_BATCH_MAX) flushEvents();
  else batchTimer ??= setTimeout(flushEvents, EVENT_BATCH_MS);
}

function flushEvents(): void {
  if (batchTimer) clearTimeout(batchTimer);
  batchTimer = undefined;
  if (batch.length === 0) return;
  tell({ type: 'events', events: batch });
  batch = [];
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  if (starting) return; // start() stops once it has started
  const done = (): void => {
    flushEvents();
    process.exit(0);
  };
  if (broker) broker.stop().then(done, done);
  else done();
}

process.on('message', (m: ToBackground, handle: unknown) => {
  switch (m.type) {
    case 'start':
      want(m.events);
      starting = true;
      start(m.config, m.baseDir).catch((err: unknown) => {
        tell({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
        process.exit(2);
      });
      return;
    case 'connection': {
      want(m.events);
      const socket = handle as Socket | undefined;
      if (!socket) return;
      if (!broker || stopping) socket.destroy();
      else broker.adopt(socket, m.handed);
      tell({ type: 'adopted', id: m.id });
      return;
    }
    case 'tenant': {
      if (!broker) return;
      const tenantId = m.state.tenantId;
      released.delete(tenantId);
      putTenant(broker, m.state).then(
        () => tell({ type: 'stored', tenantId }),
        (err: unknown) => broker?.log.error({ err, tenantId }, 'storing a tenant moved here failed'),
      );
      return;
    }
    case 'release':
      if (!broker) return;
      released.add(m.tenantId);
      tell({ type: 'released', state: takeTenant(broker, m.tenantId) });
      return;
    case 'wanted':
      want(m.events);
      return;
    case 'stats':
      tell({ type: 'stats', id: m.id, stats: { pid: process.pid, connections: broker?.connectionsByTenant() ?? {} } });
      return;
    case 'stop':
      stop();
      return;
  }
});
process.on('disconnect', stop);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// A closed terminal hangs up the whole process group: the broker stops on it, and so does this.
process.on('SIGHUP', stop);

async function start(config: BrokerConfig, baseDir: string): Promise<void> {
  const log = createLogger(config.log.level).child({ process: 'background' });
  const own: BrokerConfig = {
    ...config,
    listeners: [],
    // Its tenants' sessions and retained messages, apart from the broker's own store.
    dataDir: join(config.dataDir, 'background'),
    background: { ...config.background, tenants: [], auto: { ...config.background.auto, enabled: false } },
    // Events go to the broker, whose collectors report them once for both processes.
    events: [],
  };
  broker = await Broker.start({ config: own, logger: log, baseDir, eventCollectors: [{ report: forward }], placement: givenBack });
  reportLoad(broker);
  tell({ type: 'ready', tenants: heldTenants(broker) });
  starting = false;
  if (stopping) {
    stopping = false;
    stop();
  }
}

/** Tenants it holds state of: sessions restored from its store, retained messages. */
function heldTenants(b: Broker): string[] {
  const ids = new Set(b.retained.tenantIds());
  for (const t of b.tenants.values()) ids.add(t.id);
  return [...ids];
}

/** Tells the broker, every second, the inbound bytes per second of each tenant that sent some. */
function reportLoad(b: Broker): void {
  const fairness = b.fairness;
  if (fairness === undefined) return;
  let bytes = new Map<string, number>();
  let since = performance.now();
  fairness.observer = (load) => {
    for (const [id, n] of load.bytes) bytes.set(id, (bytes.get(id) ?? 0) + n);
  };
  setInterval(() => {
    const now = performance.now();
    const seconds = Math.max(0.001, (now - since) / 1000);
    const rates: Record<string, number> = {};
    for (const [id, n] of bytes) rates[id] = n / seconds;
    bytes = new Map();
    since = now;
    tell({ type: 'load', rates });
  }, LOAD_REPORT_MS).unref();
}
