/** Structured logs (pino) to standard output. */
import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * A logger at `level`, writing to standard output unless `destination` is given. Standard output
 * is written synchronously: pino's default asynchronous writer flushes at exit in a loop that never
 * ends once the reader of the output is gone (EPIPE), so a broker whose log pipe closed could not be
 * stopped. A synchronous write that meets EPIPE turns logging off instead.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { name: 'ratatosk' }, timestamp: pino.stdTimeFunctions.isoTime };
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}
