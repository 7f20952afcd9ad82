// `spindle bench`: runs the chosen suites, each on its own cluster (or --meta), and reports every
// figure as JSON rows, a markdown table (stdout) and an SVG chart. Loaded only by
// cli/bench-command.ts (dynamically): the client library never depends on bench/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { authCostSuite } from './auth-cost.js';
import { checkpointSuite } from './checkpoint.js';
import { cliSuite } from './cli.js';
import { BenchContext } from './context.js';
import { kvcacheSuite } from './kvcache.js';
import { limitsSuite } from './limits.js';
import { loaderSuite } from './loader.js';
import { metaSuite } from './meta.js';
import { mountSuite } from './mount.js';
import { ProgressLine } from './progress.js';
import { randReadSuite } from './rand-read.js';
import type { CurvePanel } from './render-curves.js';
import { markdownTable, svgChart } from './render.js';
import { scaleSuite } from './scale.js';
import { seqReadSuite } from './seq-read.js';
import { scrubCostSuite } from './scrub-cost.js';
import { seqWriteSuite } from './seq-write.js';
import type { Suite } from './suite.js';
import { ALL_SUITES, type BenchOptions, type BenchRow, type SuiteName } from './types.js';

export { parseBenchArgs, BenchUsageError, BENCH_USAGE } from './options.js';
export type { BenchOptions } from './types.js';

const SUITE_TABLE: Record<SuiteName, Suite> = {
  limits: limitsSuite,
  'seq-read': seqReadSuite,
  'seq-write': seqWriteSuite,
  cli: cliSuite,
  'rand-read': randReadSuite,
  meta: metaSuite,
  mount: mountSuite,
  loader: loaderSuite,
  checkpoint: checkpointSuite,
  kvcache: kvcacheSuite,
  auth: authCostSuite,
  scale: scaleSuite,
  scrub: scrubCostSuite,
};

export interface BenchReport {
  rows: BenchRow[];
  markdown: string;
  svg: string;
  seconds: number;
  failures: Array<{ suite: SuiteName; error: string }>;
}

/** The suites' own tables (e.g. kvcache's Spindle and Redis side by side), after the generic one. */
function suiteSummaries(suites: readonly SuiteName[], rows: readonly BenchRow[]): string {
  let out = '';
  for (const name of suites) {
    const summary = SUITE_TABLE[name].summary;
    const own = rows.filter((r) => r.suite === name);
    if (summary !== undefined && own.length > 0) out += `\n### ${name}\n\n${summary(own)}`;
  }
  return out;
}

/** Whether the run is `all` (its files are named all.*). */
function isAll(suites: readonly SuiteName[]): boolean {
  return suites.length === ALL_SUITES.length && ALL_SUITES.every((name) => suites.includes(name));
}

/** The suites' line charts of their own rows (scale's "how cost grows"), drawn below the bars. */
function suiteCurves(suites: readonly SuiteName[], rows: readonly BenchRow[]): CurvePanel[] {
  return suites.flatMap((name) => SUITE_TABLE[name].curves?.(rows.filter((r) => r.suite === name)) ?? []);
}

/** Runs the suites in order; a failing suite is reported and the next one still runs. */
export async function runBench(options: BenchOptions, signal?: AbortSignal): Promise<BenchReport> {
  const progress = new ProgressLine(!options.silent);
  // Every process of the run (clusters, workers, dd) inherits the malloc mode from here.
  if (options.malloc === 'default') process.env['SPINDLE_MALLOC'] = 'default';
  else delete process.env['SPINDLE_MALLOC'];
  const rows: BenchRow[] = [];
  const failures: BenchReport['failures'] = [];
  const t0 = Date.now();
  if (options.cpuProf !== undefined) mkdirSync(options.cpuProf, { recursive: true });
  for (const name of options.suites) {
    if (signal?.aborted) break;
    const suite = SUITE_TABLE[name];
    progress.log(`[${name}] ${suite.estimate}${options.quick ? ' (quick)' : ''}`);
    const ctx = new BenchContext(name, options, progress);
    const onAbort = () => void ctx.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await suite.run(ctx);
    } catch (err) {
      failures.push({ suite: name, error: err instanceof Error ? err.message : String(err) });
      progress.log(`[${name}] FAILED: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      rows.push(...ctx.rows);
      progress.update(`[${name}] stopping its cluster`, true);
      await ctx.close();
    }
  }
  progress.clear();
  const title =
    `spindle bench ${isAll(options.suites) ? 'all' : options.suites.join(',')}` +
    `${options.quick ? ' --quick' : ''}: figure ÷ raw limit (same run)`;
  const report: BenchReport = {
    rows,
    markdown: markdownTable(rows) + suiteSummaries(options.suites, rows),
    svg: svgChart(rows, { title, curves: suiteCurves(options.suites, rows) }),
    seconds: (Date.now() - t0) / 1000,
    failures,
  };
  if (options.json !== undefined) {
    mkdirSync(dirname(options.json), { recursive: true });
    writeFileSync(options.json, `${JSON.stringify(rows, null, 2)}\n`);
  }
  if (options.out !== undefined) {
    const base = isAll(options.suites) ? 'all' : options.suites.join('+');
    const stem = `${base}${options.quick ? '-quick' : ''}`;
    mkdirSync(options.out, { recursive: true });
    writeFileSync(join(options.out, `${stem}.json`), `${JSON.stringify(rows, null, 2)}\n`);
    const failed = failures.map((f) => `- \`${f.suite}\`: ${f.error.replace(/\n+/g, ' ')}`).join('\n');
    const failedText = failures.length === 0 ? '' : `\n## Failed suites (no rows)\n\n${failed}\n`;
    writeFileSync(
      join(options.out, `${stem}.md`),
      `# ${title}\n\nRun at ${new Date(t0).toISOString()}, ${report.seconds.toFixed(0)} s wall.\n\n` +
        `${report.markdown}${failedText}`,
    );
    if (failures.length > 0)
      writeFileSync(join(options.out, `${stem}.failures.json`), `${JSON.stringify(failures, null, 2)}\n`);
    writeFileSync(join(options.out, `${stem}.svg`), report.svg);
  }
  return report;
}
