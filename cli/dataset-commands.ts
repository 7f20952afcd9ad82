// `spindle dataset pack|info|verify|rm` (docs/loader.md, "Datasets"): packing local samples into a
// dataset on the cluster, and looking after datasets there.
//
// pack prints one JSON line on stdout when the dataset is published ({dataset, id, samples, bytes,
// shards}); progress and the abandoned packs it collected go to stderr. info prints a table (or
// the manifest with --json); verify lists every problem and exits 1 when there is one; rm removes
// a dataset and abandoned packs beside it. Errors are one `spindle: …` line and the exit codes of
// exit-codes.ts. The client library and the sources load only when a command runs.
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { SpindleClient } from '../client/spindle-client.js';
import { parseBytes } from '../common/config.js';
import type { CommandContext } from './file-commands.js';
import { spindlePath } from './file-commands.js';
import { CliError, ExitCode } from './exit-codes.js';
import { formatBytes, formatTable } from './format.js';
import { addressOption, DEFAULT_META_ADDRESS } from './options.js';
import { createProgress } from './progress.js';
import type { SourceKind } from './dataset-sources/source.js';
import { INDEX_ENTRY_BYTES } from '../client/loader/dataset/format.js';

/** The smallest --shard-size: one chunk of the smallest chunk size (smaller shards only cost metadata). */
const SHARD_SIZE_MIN_BYTES = 64 * 1024;
/** Shards `dataset info` lists before it says how many more there are (--json lists all). */
const INFO_SHARDS_LISTED_MAX = 20;

interface RunState {
  exitCode: number;
}

type WithClient = (state: RunState, meta: string, fn: (ctx: CommandContext) => Promise<void>) => Promise<void>;

interface PackCommandOptions {
  format?: SourceKind;
  shardSize?: number;
  progress?: boolean;
  meta: string;
}

function shardSizeOption(text: string): number {
  let bytes: number;
  try {
    bytes = parseBytes(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  if (bytes < SHARD_SIZE_MIN_BYTES) throw new InvalidArgumentError(`must be at least 64KiB, got ${text}`);
  return bytes;
}

/** The CLI's connection is a SpindleClient (main.ts connects one and types it as the file commands' subset). */
function fullClient(ctx: CommandContext): SpindleClient {
  return ctx.client as unknown as SpindleClient;
}

const loadDataset = () => import('../client/loader/dataset/index.js');

async function pack(ctx: CommandContext, src: string, dest: string, o: PackCommandOptions): Promise<void> {
  const [{ openSource }, { packSource }] = await Promise.all([
    import('./dataset-sources/open-source.js'),
    import('./dataset-sources/pack.js'),
  ]);
  const source = await openSource(src, o.format, ctx.signal);
  const manifest = await packSource(fullClient(ctx), source, spindlePath(dest), {
    shardBytes: o.shardSize,
    progress: o.progress,
    signal: ctx.signal,
    onCollected: (dir) => process.stderr.write(`spindle: collected an abandoned pack: ${dir.path} (${dir.reason})\n`),
  });
  const { id, samples, bytes, shards } = manifest;
  ctx.out.write(`${JSON.stringify({ dataset: spindlePath(dest), id, samples, bytes, shards: shards.length })}\n`);
}

async function info(ctx: CommandContext, path: string, o: { json?: boolean }): Promise<void> {
  const { openDataset } = await loadDataset();
  const dataset = await openDataset(fullClient(ctx), spindlePath(path), { indexCacheBytes: 0 });
  await dataset.close();
  const m = dataset.manifest;
  if (o.json) {
    ctx.out.write(`${JSON.stringify({ path: dataset.path, ...m })}\n`);
    return;
  }
  const summary = [
    ['dataset', dataset.path],
    ['id', m.id],
    ['created', m.createdAt],
    ['samples', String(m.samples)],
    ['bytes', `${formatBytes(m.bytes)} (${m.bytes})`],
    ['shards', String(m.shards.length)],
    ['encoding', m.sampleEncoding ?? 'raw'],
    ['keys', m.keys.bytes > 0 ? formatBytes(m.keys.bytes) : 'none'],
    ['index', formatBytes(m.index.bytes)],
    ['source', m.source === undefined ? '-' : `${m.source.kind} ${m.source.path ?? ''}`.trim()],
  ];
  for (const line of formatTable(summary)) ctx.out.write(`${line}\n`);
  const rows = [['shard', 'samples', 'bytes']];
  for (const shard of m.shards.slice(0, INFO_SHARDS_LISTED_MAX)) {
    rows.push([shard.file, String(shard.samples), formatBytes(shard.bytes)]);
  }
  ctx.out.write('\n');
  for (const line of formatTable(rows, [false, true, true])) ctx.out.write(`${line}\n`);
  if (m.shards.length > INFO_SHARDS_LISTED_MAX) {
    ctx.out.write(`… and ${m.shards.length - INFO_SHARDS_LISTED_MAX} more shards (--json lists all)\n`);
  }
}

async function verify(ctx: CommandContext, path: string, o: { json?: boolean; progress?: boolean }): Promise<void> {
  const { openDataset, verifyDataset } = await loadDataset();
  const client = fullClient(ctx);
  const target = spindlePath(path);
  let totalBytes: number | undefined;
  try {
    const dataset = await openDataset(client, target, { indexCacheBytes: 0 });
    await dataset.close();
    // What verify reads: every index entry (not the header) and every sample.
    totalBytes = dataset.manifest.samples * INDEX_ENTRY_BYTES + dataset.manifest.bytes;
  } catch {
    // verifyDataset reports the same failure, or the damage, below
  }
  let counted = 0;
  let samplesChecked = 0;
  const progress = createProgress({
    progress: o.progress,
    label: `verify ${target}`,
    totalBytes,
    detail: () => `${samplesChecked.toLocaleString('en-US')} samples checked`,
  });
  let report: Awaited<ReturnType<typeof verifyDataset>>;
  try {
    report = await verifyDataset(client, target, {
      signal: ctx.signal,
      onProgress: (samples, bytes) => {
        samplesChecked = samples;
        progress.add(bytes - counted);
        counted = bytes;
      },
    });
  } finally {
    progress.stop();
  }
  if (o.json) {
    ctx.out.write(`${JSON.stringify(report)}\n`);
  } else if (report.ok) {
    ctx.out.write(
      `ok: ${report.path}: ${report.samples} samples, ${formatBytes(report.bytes)}, every CRC32C matches\n`,
    );
  } else {
    ctx.out.write(`${report.path}: ${report.problemCount} problem(s):\n`);
    for (const problem of report.problems) ctx.out.write(`  ${problem.what}\n`);
    const unlisted = report.problemCount - report.problems.length;
    if (unlisted > 0) ctx.out.write(`  … and ${unlisted} more\n`);
  }
  if (!report.ok) {
    throw new CliError(
      `${target}: the dataset is damaged (${report.problemCount} problem(s)); pack it again from its source`,
      ExitCode.FAILURE,
      'EIO',
    );
  }
}

async function remove(ctx: CommandContext, path: string): Promise<void> {
  const { removeDataset } = await loadDataset();
  const result = await removeDataset(fullClient(ctx), spindlePath(path));
  for (const dir of result.collected) ctx.out.write(`collected ${dir.path} (${dir.reason})\n`);
  if (result.removed !== undefined) ctx.out.write(`removed ${result.removed}\n`);
}

/** Registers `spindle dataset …` on the program; commands run through main.ts's withClient. */
export function addDatasetCommands(program: Command, state: RunState, withClient: WithClient): void {
  const metaOption = () =>
    new Option('--meta <host:port>', 'metadata service of the cluster')
      .env('SPINDLE_META')
      .default(DEFAULT_META_ADDRESS)
      .argParser(addressOption);
  const dataset = program
    .command('dataset')
    .description('packed training datasets: pack local samples into one, show, verify or remove it');

  dataset
    .command('pack')
    .description(
      'pack SRC (a local directory, .jsonl file or .tar archive) into a new dataset DEST on the cluster; ' +
        'prints one JSON line when it is published',
    )
    .argument('<src>', 'local directory, JSONL file, tar archive (or a directory of them with --format tar)')
    .argument('<dest>', 'dataset path on the cluster (must not exist; its parent must)')
    .addOption(new Option('--format <format>', 'what SRC holds (default: from SRC)').choices(['dir', 'jsonl', 'tar']))
    .option('--shard-size <size>', 'target shard size, e.g. 256MiB (default 256MiB)', shardSizeOption)
    .option('--progress', 'always show a progress bar (on stderr)')
    .option('--no-progress', 'never show a progress bar')
    .addOption(metaOption())
    .action((src: string, dest: string, o: PackCommandOptions) =>
      withClient(state, o.meta, (ctx) => pack(ctx, src, dest, o)),
    );

  dataset
    .command('info')
    .description('show a dataset: samples, bytes, shards, where it came from')
    .argument('<path>')
    .option('--json', 'print the manifest as JSON')
    .addOption(metaOption())
    .action((path: string, o: { json?: boolean; meta: string }) =>
      withClient(state, o.meta, (ctx) => info(ctx, path, o)),
    );

  dataset
    .command('verify')
    .description('read a whole dataset and check every CRC32C and its structure; exits 1 when damaged')
    .argument('<path>')
    .option('--json', 'print the report as JSON')
    .option('--progress', 'always show a progress bar (on stderr)')
    .option('--no-progress', 'never show a progress bar')
    .addOption(metaOption())
    .action((path: string, o: { json?: boolean; progress?: boolean; meta: string }) =>
      withClient(state, o.meta, (ctx) => verify(ctx, path, o)),
    );

  dataset
    .command('rm')
    .description('remove a dataset, and abandoned packs beside it')
    .argument('<path>')
    .addOption(metaOption())
    .action((path: string, o: { meta: string }) => withClient(state, o.meta, (ctx) => remove(ctx, path)));
}
