/**
 * Command-line parsing for `ratatosk` (node:util parseArgs): subcommand, flags, help text.
 */
import { parseArgs } from 'node:util';

export const HELP = `Ratatosk: a multi-tenant MQTT 3.1 / 3.1.1 / 5.0 broker

Usage:
  ratatosk start [options]        run the broker
  ratatosk bench [options]        load generator for any MQTT broker (ratatosk bench --help)
  ratatosk passwd [password]      print a scrypt hash for the users file (reads stdin without an argument)
  ratatosk settings <tenant>      the settings and quotas a tenant gets, and where each comes from
                                  ([--config file] [--json]; ratatosk settings --help)
  ratatosk --help                 this text
  ratatosk --version              the version

Options of start (flags override the environment, which overrides the config file):
  --config <file>        YAML or JSON configuration file (see README "Configuration")
  --host <addr>          address of the default listeners (default 0.0.0.0)   [RATATOSK_HOST]
  --mqtt-port <n>        MQTT over TCP port (default 1883)                     [RATATOSK_MQTT_PORT]
  --ws-port <n>          MQTT over WebSocket port, 0 for none (default 8083)   [RATATOSK_WS_PORT]
  --tls-port <n>         MQTT over TLS port (default 8883, on with --tls-cert)   [RATATOSK_TLS_PORT]
  --wss-port <n>         secure WebSocket port (default 8084, on with --tls-cert) [RATATOSK_WSS_PORT]
  --tls-cert <file>      PEM certificate (chain) of the tls and wss listeners
  --tls-key <file>       PEM private key of that certificate
  --tls-ca <file>        PEM CA certificates that client certificates must chain to
  --data-dir <dir>       data directory of the embedded store (default ./data) [RATATOSK_DATA_DIR]
  --storage <kind>       lmdb (durable) or memory                              [RATATOSK_STORAGE]
  --log-level <level>    trace, debug, info, warn, error, fatal or silent      [RATATOSK_LOG_LEVEL]

Signals: SIGINT (Ctrl-C), SIGTERM and SIGHUP shut down gracefully: listeners close, MQTT 5 clients get
DISCONNECT 0x8B (server shutting down), stores are flushed. Exit codes: 0 after a clean shutdown,
1 for a runtime failure, 2 for bad arguments or configuration.
`;

export interface StartArgs {
  command: 'start';
  config: string | undefined;
  host: string | undefined;
  mqttPort: number | undefined;
  wsPort: number | undefined;
  tlsPort: number | undefined;
  wssPort: number | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsCa: string | undefined;
  dataDir: string | undefined;
  storage: string | undefined;
  logLevel: string | undefined;
}

export type CliCommand = StartArgs | { command: 'help' } | { command: 'version' } | { command: 'passthrough'; name: string; argv: string[] };

export class UsageError extends Error {}

function portOf(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag}: expected a port number 0-65535, got '${v}'`);
  return n;
}

export function parseCli(argv: string[]): CliCommand {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') return { command: 'help' };
  if (first === '--version' || first === '-v') return { command: 'version' };
  if (first !== 'start') return { command: 'passthrough', name: first, argv: rest };
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      strict: true,
      options: {
        config: { type: 'string', short: 'c' },
        host: { type: 'string' },
        'mqtt-port': { type: 'string' },
        'ws-port': { type: 'string' },
        'tls-port': { type: 'string' },
        'wss-port': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-ca': { type: 'string' },
        'data-dir': { type: 'string' },
        storage: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { command: 'help' };
  return {
    command: 'start',
    config: values.config,
    host: values.host,
    mqttPort: portOf('--mqtt-port', values['mqtt-port']),
    wsPort: portOf('--ws-port', values['ws-port']),
    tlsPort: portOf('--tls-port', values['tls-port']),
    wssPort: portOf('--wss-port', values['wss-port']),
    tlsCert: values['tls-cert'],
    tlsKey: values['tls-key'],
    tlsCa: values['tls-ca'],
    dataDir: values['data-dir'],
    storage: values.storage,
    logLevel: values['log-level'],
  };
}
