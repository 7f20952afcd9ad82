// How fast `spindle` answers, as a ratio to a bare `node -e 0` measured in the same run:
//   node --import tsx bench/tools/cli-start-up.ts [runs=11] [-- spindle args, default --help]
// Prints the median wall time of each and the ratio. Run it from a checkout with dist/ built.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PACKAGE_ROOT } from '../../common/package-root.js';

const dash = process.argv.indexOf('--');
const runs = Number(process.argv[2] && process.argv[2] !== '--' ? process.argv[2] : 11);
const spindleArgs = dash >= 0 ? process.argv.slice(dash + 1) : ['--help'];

function medianMs(argv: string[]): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const startedMs = performance.now();
    const result = spawnSync(process.execPath, argv, { stdio: 'ignore' });
    times.push(performance.now() - startedMs);
    if (result.error !== undefined) throw result.error;
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const bareMs = medianMs(['-e', '0']);
const spindleMs = medianMs([join(PACKAGE_ROOT, 'bin', 'spindle.mjs'), ...spindleArgs]);
console.log(
  `node -e 0: ${bareMs.toFixed(0)} ms · spindle ${spindleArgs.join(' ')}: ${spindleMs.toFixed(0)} ms · ` +
    `ratio ${(spindleMs / bareMs).toFixed(2)} (median of ${runs})`,
);
