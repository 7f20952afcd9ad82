// `spindle bench <suite> [--json FILE] [--quick] [--meta ADDR] …`: the benchmark suite (bench/).
// bench/ is imported dynamically here and nowhere else in client/, so the client library and
// the other commands never load it. Prints the markdown table on stdout; progress goes to stderr.
import { ExitCode } from './exit-codes.js';

/** Runs `spindle bench` with the arguments after `bench`; resolves with the exit code. */
export async function runBenchCommand(args: readonly string[]): Promise<number> {
  // The fuzzers' long run (bench/fuzz.ts) is its own command: it reports checks, not figures.
  if (args[0] === 'fuzz') return (await import('../bench/fuzz.js')).runFuzzCommand(args.slice(1));
  const bench = await import('../bench/index.js');
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${bench.BENCH_USAGE}\n`);
    return ExitCode.OK;
  }
  let options: ReturnType<typeof bench.parseBenchArgs>;
  try {
    options = bench.parseBenchArgs(args);
  } catch (err) {
    if (err instanceof bench.BenchUsageError) {
      process.stderr.write(`spindle bench: ${err.message}\n`);
      if (!err.message.includes('usage:')) process.stderr.write(`${bench.BENCH_USAGE}\n`);
      return ExitCode.USAGE;
    }
    throw err;
  }
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(ExitCode.INTERRUPTED);
    process.stderr.write('\nspindle bench: interrupted, stopping clusters and workers…\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    const report = await bench.runBench(options, abort.signal);
    process.stdout.write(report.markdown);
    process.stderr.write(
      `spindle bench: ${report.rows.length} rows in ${report.seconds.toFixed(0)} s` +
        `${options.json ? `, JSON in ${options.json}` : ''}${options.out ? `, files in ${options.out}` : ''}\n`,
    );
    for (const f of report.failures) process.stderr.write(`spindle bench: suite ${f.suite} failed: ${f.error}\n`);
    if (abort.signal.aborted) return ExitCode.INTERRUPTED;
    return report.failures.length > 0 ? ExitCode.FAILURE : ExitCode.OK;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
