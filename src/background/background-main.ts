/**
 * Entry point of the broker's background process (see background-process.ts). It starts a broker
 * without listeners from the configuration the broker sends, takes the connections handed to it,
 * forwards the events they cause, and stops when told to, on SIGTERM/SIGINT, or when the broker
 * goes away.
 */
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { Broker } from '../broker';
import { createLogger } from '../log';
import type { TimedEvent } from '../plugins/event-bus';
import type { EventWish, FromBackground, ToBackground } from './messages';

let broker: Broker | undefined;
let stopping = false;
/** The event types the broker wants (it says so at the start and with each connection). */
let wanted: ReadonlySet<string> | 'all' = new Set();

function want(wish: EventWish): void {
  wanted = wish === 'all' ? 'all' : new Set(wish);
}

function tell(message: FromBackground): void {
  if (process.connected) process.send!(message);
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  const done = (): void => process.exit(0);
  if (broker) broker.stop().then(done, done);
  else done();
}

process.on('message', (m: ToBackground, handle: unknown) => {
  switch (m.type) {
    case 'start':
      want(m.events);
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

async function start(config: Parameters<typeof Broker.start>[0]['config'], baseDir: string): Promise<void> {
  const log = createLogger(config.log.level).child({ process: 'background' });
  const own = {
    ...config,
    listeners: [],
    // Its tenants' sessions and retained messages, apart from the broker's own store.
    dataDir: join(config.dataDir, 'background'),
    background: { ...config.background, tenants: [] },
    // Events go to the broker, whose collectors report them once for both processes.
    events: [],
  };
  broker = await Broker.start({
    config: own,
    logger: log,
    baseDir,
    eventCollectors: [
      {
        report: (e: TimedEvent) => {
          if (wanted === 'all' || wanted.has(e.type)) tell({ type: 'event', event: e });
        },
      },
    ],
  });
  tell({ type: 'ready' });
  if (stopping) await broker.stop();
}
