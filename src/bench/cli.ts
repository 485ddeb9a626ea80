/**
 * `ratatosk bench`: parses the options, runs the generator, prints the table or the JSON.
 * Exit status: 0 after a run, 1 when it failed, 2 for bad arguments. SIGINT or SIGTERM ends
 * publishing early; the report covers the shortened window.
 */
import { BENCH_HELP, BenchUsageError, parseBenchArgs } from './options';
import { formatReport } from './report';
import { runGenerator } from './run';

export interface BenchIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: BenchIo = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
};

export async function runBench(argv: string[], io: BenchIo = stdio): Promise<number> {
  let o;
  try {
    o = parseBenchArgs(argv);
  } catch (err) {
    if (err instanceof BenchUsageError) {
      io.err(`ratatosk bench: ${err.message}\n(see ratatosk bench --help)\n`);
      return 2;
    }
    throw err;
  }
  if (o === undefined) {
    io.out(BENCH_HELP);
    return 0;
  }
  // SIGINT/SIGTERM end publishing early and still report (the comparison runner stops a background
  // load this way); a second one kills as usual.
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const report = await runGenerator(o, o.verbose ? (l) => io.err(`${l}\n`) : undefined, stop.signal);
    io.out(o.json ? `${JSON.stringify(report)}\n` : formatReport(report));
    return report.connect.ok === 0 ? 1 : 0;
  } catch (err) {
    io.err(`ratatosk bench: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
