// Replays one simulation seed with its full trace:
//   node --import tsx test/sim/replay.ts SEED [--bug early-ack|read-pending|no-lease] [--lenient]
//   [--no-disk-faults] [--verbose]
// Exits 1 when the checker finds violations. Known issues (K1) count too unless --lenient
// (--strict, the old opt-in, is still accepted and changes nothing).
import { describeFailure, runSeed } from './run.js';
import type { SimBug } from './cluster.js';

const args = process.argv.slice(2);
const seed = Number(args[0]);
const bugAt = args.indexOf('--bug');
const bug = bugAt >= 0 ? (args[bugAt + 1] as SimBug) : undefined;
if (!Number.isSafeInteger(seed) || seed < 0) {
  process.stderr.write(
    'usage: node --import tsx test/sim/replay.ts SEED ' +
      '[--bug early-ack|read-pending|no-lease] [--lenient] [--no-disk-faults] [--verbose]\n',
  );
  process.exit(2);
}
const strict = !args.includes('--lenient');
const verbose = args.includes('--verbose');
const diskFaults = !args.includes('--no-disk-faults');
const result = await runSeed(seed, {
  bug,
  strict,
  verbose,
  diskFaults,
  trace: (line) => process.stdout.write(`${line}\n`),
});
process.stdout.write(
  `\nscenario: ${JSON.stringify(result.config)}\nstats: ${JSON.stringify(result.stats)}\ndigest: ${result.digest}\n`,
);
for (const k of result.known) process.stdout.write(`known issue (not a failure with --lenient): ${k}\n`);
if (result.violations.length > 0) {
  process.stdout.write(`\n${describeFailure(result, bug, strict)}\n`);
  process.exit(1);
}
process.stdout.write(`seed ${seed}: no violations\n`);
