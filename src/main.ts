#!/usr/bin/env node
/**
 * The `ratatosk` command: arguments, signals and exit codes. No protocol work happens here.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Broker } from './broker';
import { HELP, parseCli, UsageError, type StartArgs } from './cli/args';
import { loadConfig } from './config/load';
import { RatatoskError } from './errors';
import { createLogger } from './log';

function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function start(args: StartArgs): Promise<void> {
  const tlsFlags = args.tlsCert || args.tlsKey || args.tlsCa ? { tlsCert: args.tlsCert, tlsKey: args.tlsKey, tlsCa: args.tlsCa } : undefined;
  const config = loadConfig({
    tlsFlags,
    file: args.config ?? process.env.RATATOSK_CONFIG,
    env: process.env,
    overrides: {
      host: args.host,
      mqttPort: args.mqttPort,
      wsPort: args.wsPort,
      tlsPort: args.tlsPort,
      wssPort: args.wssPort,
      dataDir: args.dataDir,
      storage: args.storage as never,
      log: args.logLevel ? { level: args.logLevel as never } : undefined,
    },
  });
  const log = createLogger(config.log.level);
  const configFile = args.config ?? process.env.RATATOSK_CONFIG;
  // Signals are handled from before the listeners open: a SIGTERM that arrives while the broker is
  // still starting (a client may already be connected) stops it cleanly once it has started.
  let broker: Broker | undefined;
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, (config.shutdownTimeout + 5) * 1000);
    timer.unref();
    if (broker) stopBroker(broker);
  };
  const stopBroker = (b: Broker): void => {
    b.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // A closed terminal (or a supervisor's hang-up): stop cleanly too; there is no configuration reload.
  process.on('SIGHUP', () => shutdown('SIGHUP'));
  try {
    broker = await Broker.start({ config, logger: log, baseDir: configFile ? dirname(resolve(configFile)) : process.cwd() });
  } catch (err) {
    // Stopped while starting (a SIGTERM to the whole process group can end the background process
    // before it is ready): a clean stop, not a failure.
    if (!stopping) throw err;
    log.info({ err: (err as Error).message }, 'stopped while starting');
    process.exit(0);
  }
  log.info({ version: version() }, 'Ratatosk started');
  if (stopping) stopBroker(broker);
}

async function main(): Promise<void> {
  const cmd = parseCli(process.argv.slice(2));
  switch (cmd.command) {
    case 'help':
      process.stdout.write(HELP);
      return;
    case 'version':
      process.stdout.write(`${version()}\n`);
      return;
    case 'start':
      await start(cmd);
      return;
    case 'passthrough':
      if (cmd.name === 'bench') {
        const { runBench } = await import('./bench/cli');
        process.exitCode = await runBench(cmd.argv);
        return;
      }
      if (cmd.name === 'settings') {
        const { runSettings } = await import('./cli/settings');
        process.exitCode = await runSettings(cmd.argv);
        return;
      }
      if (cmd.name === 'passwd') {
        const { runPasswd } = await import('./cli/passwd');
        process.exitCode = await runPasswd(cmd.argv);
        return;
      }
      throw new UsageError(`unknown command '${cmd.name}' (see ratatosk --help)`);
  }
}

// A reader that goes away (`ratatosk settings acme | head`) ends the output, not with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main().catch((err: unknown) => {
  // A configuration the broker cannot start with: a bad file, or a plugin that cannot be loaded or
  // refuses its config block (the message names the key).
  if (err instanceof UsageError || (err instanceof RatatoskError && (err.code.startsWith('RTK_CONFIG') || err.code === 'RTK_PLUGIN_LOAD'))) {
    process.stderr.write(`ratatosk: ${(err as Error).message}\n`);
    process.exit(2);
  }
  process.stderr.write(`ratatosk: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
