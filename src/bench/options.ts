/**
 * Options of `ratatosk bench`: their types, defaults, validation and the help text.
 */
import { parseArgs } from 'node:util';

export type TopicShape = 'own' | 'one';
export type FilterShape = 'exact' | 'wildcard';
export type BenchQoS = 0 | 1 | 2;

export interface BenchOptions {
  host: string;
  port: number;
  pubs: number;
  subs: number;
  /** own: publisher i publishes to <prefix>/i; one: every publisher to <prefix>/all. */
  topics: TopicShape;
  /** exact: subscriber j subscribes to publisher (j mod pubs)'s topic; wildcard: <prefix>/+ or <prefix>/#. */
  filter: FilterShape;
  /** A filter for every subscriber instead of the one `filter` picks. */
  filterString: string | undefined;
  prefix: string;
  qos: BenchQoS;
  /** Payload bytes, at least PAYLOAD_HEADER (24). */
  size: number;
  /** Total publish rate in messages per second; 0 is as fast as the broker takes them. */
  rate: number;
  /** Seconds of measured publishing (after the warmup). */
  duration: number;
  /** Seconds of publishing before the measured window (not in throughput, latency, CPU). */
  warmup: number;
  /** At most this many seconds after publishing to wait for acknowledgements and deliveries. */
  drain: number;
  /** Stop draining after this many seconds without any delivery. */
  drainIdle: number;
  /** Stop publishing after this many messages in total (0: no limit). */
  count: number;
  /** MQTT protocol level: 4 (3.1.1) or 5. */
  mqtt: 4 | 5;
  /** Unacknowledged QoS 1/2 PUBLISHes per publisher (capped by the server's Receive Maximum). */
  inflight: number;
  /** Connection attempts in flight while connecting. */
  concurrency: number;
  /** Idle-connection mode: open this many connections and hold them for `duration`. */
  idle: number;
  keepalive: number;
  connectTimeout: number;
  brokerPid: number | undefined;
  username: string | undefined;
  password: string | undefined;
  clientIdPrefix: string;
  /** Subscribers connect with a persistent session (clean session 0 / session expiry). */
  persistent: boolean;
  /** Subscribers subscribe with a persistent session, then disconnect before publishing starts. */
  offlineSubs: boolean;
  /** Milliseconds after which a connection the broker closed connects again (0: never). */
  reconnectMs: number;
  /** MQTT 5 session expiry interval of persistent subscribers, seconds. */
  sessionExpiry: number;
  workers: number;
  /** Self-test: burn every Nth sequence number without sending it. */
  skipEvery: number;
  /** Unlimited QoS 0: unconfirmed batches per publisher (a PINGREQ follows each batch); 0 disables. */
  qos0Window: number;
  /** Sleep this many microseconds per event-loop turn while busy, so reads and writes batch up. */
  coalesceUs: number;
  /** Delivery rate (msg/s) at which the generator counts as busy for coalescing. */
  coalesceAbove: number;
  json: boolean;
  perPair: boolean;
  label: string;
  verbose: boolean;
}

export const PAYLOAD_HEADER = 24;

export const BENCH_HELP = `ratatosk bench: an MQTT load generator and latency meter for any broker

Usage: ratatosk bench [options]

Load shape
  --host <addr>            broker address                                   [127.0.0.1]
  --port <n>               broker port                                      [1883]
  -P, --pubs <n>           publisher connections                            [1]
  -S, --subs <n>           subscriber connections                           [1]
  --topics own|one         own: publisher i -> <prefix>/i; one: all -> <prefix>/all   [own]
  --filter exact|wildcard  exact: subscriber j -> topic of publisher j mod pubs;
                           wildcard: <prefix>/+ (own) or <prefix>/# (one)  [exact]
  --filter-string <f>      this filter for every subscriber instead
  --prefix <s>             topic prefix                                     [rb/<pid>]
  -q, --qos 0|1|2          publish and subscribe QoS                        [0]
  -s, --size <bytes>       payload size (>= 24)                             [64]
  -r, --rate <msg/s>       total publish rate; 0 = as fast as the broker takes  [0]
  -d, --duration <s>       measured publishing time                         [10]
  --warmup <s>             publishing before the measured window            [0]
  --count <n>              stop publishing after n messages in total        [no limit]
  --drain <s>              max wait for acks and deliveries after publishing [10]
  --drain-idle <s>         stop draining after s seconds without a delivery [1]
  -V, --mqtt 3|4|311|5|5.0 protocol 3.1.1 or 5                              [3.1.1]
  --inflight <n>           QoS 1/2 window per publisher                     [64]
  --qos0-window <n>        unlimited QoS 0: batches in flight per publisher, each
                           confirmed by a PINGREQ/PINGRESP round trip; 0 = no pacing [2]
Sessions and identity
  -u, --username <u>       CONNECT username (Ratatosk: tenant/user)
  --password <p>           CONNECT password
  --client-id-prefix <s>   client ids are <s>p<i>, <s>s<j>, <s>i<k>         [rb<pid>-]
  --persistent             subscribers use a persistent session (clean 0 / session expiry)
  --offline-subs           subscribers subscribe with a persistent session, then disconnect:
                           publishers fill their queues (sent/acked measure queueing)
  --session-expiry <s>     MQTT 5 session expiry of persistent subscribers  [3600]
  -k, --keepalive <s>                                                       [60]
Connections
  --idle <n>               idle mode: open n connections, hold them for --duration, report the
                           connect rate and (with --broker-pid) broker memory per connection
  -c, --concurrency <n>    connection attempts in flight                     [64]
  --reconnect <ms>         a connection the broker closes during the run connects again after
                           ms (and subscribes again); messages in flight then are abandoned.
                           0 = a close is an error                           [0]
  --connect-timeout <s>                                                      [120]
Measurement and output
  -b, --broker-pid <pid>   sample the broker's CPU and RSS from /proc
  --workers <n>            worker threads sharing the connections (1: this thread) [1]
  --coalesce-us <us>       when busy, sleep this long per event-loop turn so reads batch up;
                           0 = never       [unlimited rate: 200 at QoS 0, 0 at QoS 1/2; fixed: 100]
  --coalesce-above <msg/s> delivery rate that counts as busy                [50000]
  --skip-every <n>         self-test: burn every nth sequence number without sending it, so
                           'lost' must equal skipped x matching subscribers
  --json                   print the report as JSON instead of a table
  --per-pair               include per publisher/subscriber pair counts in the JSON
  -l, --label <s>          free text copied into the report
  -v, --verbose            progress on stderr ('connected', 'measuring', every second)
  -h, --help

SIGINT or SIGTERM ends publishing early (the measured window ends there) and still prints the
report; a second signal kills.

Payload (little endian): magic (4) | publisher index (4) | sequence (8) | send time ns (8) | zeros.
Loss and duplicates are counted per publisher/subscriber pair by sequence number; publishers and
subscribers share one monotonic clock, so latency is end to end.
`;

export class BenchUsageError extends Error {}

/**
 * Sleep per busy event-loop turn: 200 us at an unlimited QoS 0 rate, 100 us at a fixed rate; none at
 * an unlimited QoS 1/2 rate, where the sleep would hold back acknowledgements and so the windows.
 */
function defaultCoalesce(rate: number, qos: number): number {
  if (rate > 0) return 100;
  return qos === 0 ? 200 : 0;
}

function num(flag: string, v: string | undefined, def: number, min: number, max = Number.MAX_SAFE_INTEGER, int = true): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min || n > max) {
    throw new BenchUsageError(`${flag}: expected ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got '${v}'`);
  }
  return n;
}

function oneOf<T extends string>(flag: string, v: string | undefined, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (!(allowed as readonly string[]).includes(v)) throw new BenchUsageError(`${flag}: expected one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

/** Parses argv (after `bench`); returns undefined for --help. */
export function parseBenchArgs(argv: string[]): BenchOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string', short: 'p' },
        pubs: { type: 'string', short: 'P' },
        subs: { type: 'string', short: 'S' },
        topics: { type: 'string', short: 't' },
        filter: { type: 'string', short: 'f' },
        'filter-string': { type: 'string' },
        prefix: { type: 'string' },
        qos: { type: 'string', short: 'q' },
        size: { type: 'string', short: 's' },
        rate: { type: 'string', short: 'r' },
        duration: { type: 'string', short: 'd' },
        warmup: { type: 'string' },
        count: { type: 'string' },
        drain: { type: 'string' },
        'drain-idle': { type: 'string' },
        mqtt: { type: 'string', short: 'V' },
        inflight: { type: 'string' },
        'qos0-window': { type: 'string' },
        username: { type: 'string', short: 'u' },
        password: { type: 'string' },
        'client-id-prefix': { type: 'string' },
        persistent: { type: 'boolean' },
        'offline-subs': { type: 'boolean' },
        'session-expiry': { type: 'string' },
        keepalive: { type: 'string', short: 'k' },
        idle: { type: 'string' },
        concurrency: { type: 'string', short: 'c' },
        reconnect: { type: 'string' },
        'connect-timeout': { type: 'string' },
        'broker-pid': { type: 'string', short: 'b' },
        workers: { type: 'string' },
        'coalesce-us': { type: 'string' },
        'coalesce-above': { type: 'string' },
        'skip-every': { type: 'string' },
        json: { type: 'boolean' },
        'per-pair': { type: 'boolean' },
        label: { type: 'string', short: 'l' },
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new BenchUsageError((err as Error).message);
  }
  if (values.help) return undefined;
  const mqttFlag = values.mqtt ?? '4';
  let mqtt: 4 | 5;
  if (['3', '4', '311', '3.1.1'].includes(mqttFlag)) mqtt = 4;
  else if (['5', '5.0'].includes(mqttFlag)) mqtt = 5;
  else throw new BenchUsageError(`--mqtt: expected 3.1.1 or 5, got '${mqttFlag}'`);
  const rate = num('--rate', values.rate, 0, 0, 1e9, false);
  const idle = num('--idle', values.idle, 0, 0, 1_000_000);
  const offlineSubs = values['offline-subs'] ?? false;
  const opts: BenchOptions = {
    host: values.host ?? '127.0.0.1',
    port: num('--port', values.port, 1883, 1, 65535),
    pubs: num('--pubs', values.pubs, 1, 0, 1_000_000),
    subs: num('--subs', values.subs, 1, 0, 1_000_000),
    topics: oneOf('--topics', values.topics, ['own', 'one'] as const, 'own'),
    filter: oneOf('--filter', values.filter, ['exact', 'wildcard'] as const, 'exact'),
    filterString: values['filter-string'],
    prefix: values.prefix ?? `rb/${process.pid}`,
    qos: num('--qos', values.qos, 0, 0, 2) as BenchQoS,
    size: num('--size', values.size, 64, PAYLOAD_HEADER, 16 * 1024 * 1024),
    rate,
    duration: num('--duration', values.duration, 10, 0, 1e6, false),
    warmup: num('--warmup', values.warmup, 0, 0, 1e6, false),
    count: num('--count', values.count, 0, 0),
    drain: num('--drain', values.drain, 10, 0, 1e6, false),
    drainIdle: num('--drain-idle', values['drain-idle'], 1, 0, 1e6, false),
    mqtt,
    inflight: num('--inflight', values.inflight, 64, 1, 65535),
    qos0Window: num('--qos0-window', values['qos0-window'], 2, 0, 1000),
    username: values.username,
    password: values.password,
    clientIdPrefix: values['client-id-prefix'] ?? `rb${process.pid.toString(36)}-`,
    persistent: (values.persistent ?? false) || offlineSubs,
    offlineSubs,
    sessionExpiry: num('--session-expiry', values['session-expiry'], 3600, 0, 4_294_967_295),
    keepalive: num('--keepalive', values.keepalive, 60, 0, 65535),
    idle,
    concurrency: num('--concurrency', values.concurrency, 64, 1, 100_000),
    reconnectMs: num('--reconnect', values.reconnect, 0, 0, 600_000),
    connectTimeout: num('--connect-timeout', values['connect-timeout'], 120, 0.1, 1e6, false),
    brokerPid: values['broker-pid'] === undefined ? undefined : num('--broker-pid', values['broker-pid'], 0, 1),
    workers: num('--workers', values.workers, 1, 1, 64),
    coalesceUs: num('--coalesce-us', values['coalesce-us'], defaultCoalesce(rate, Number(values.qos ?? 0)), 0, 100_000),
    coalesceAbove: num('--coalesce-above', values['coalesce-above'], 50_000, 0, 1e12, false),
    skipEvery: num('--skip-every', values['skip-every'], 0, 0),
    json: values.json ?? false,
    perPair: values['per-pair'] ?? false,
    label: values.label ?? '',
    verbose: values.verbose ?? false,
  };
  if (opts.idle === 0 && opts.pubs + opts.subs === 0) throw new BenchUsageError('nothing to do: --pubs and --subs are both 0');
  return opts;
}

/** Options with every default, for programmatic use (tests, the comparison runner). */
export function benchOptions(overrides: Partial<BenchOptions> = {}): BenchOptions {
  const base = parseBenchArgs([]) as BenchOptions;
  const o = { ...base, ...overrides };
  if (overrides.coalesceUs === undefined) o.coalesceUs = defaultCoalesce(o.rate, o.qos);
  if (o.offlineSubs) o.persistent = true;
  return o;
}
