/** Structured logs (pino) to standard output. */
import pino, { type Logger } from 'pino';

export type { Logger };

/** A logger at `level`, writing to standard output unless `destination` is given. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { name: 'ratatosk' }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination ? pino(options, destination) : pino(options);
}
