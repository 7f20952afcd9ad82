// `spindle ckpt ls|show|verify|rm|gc DIR` (docs/checkpoints.md, "Command line"): looking after a
// checkpoint directory written by the checkpoints library — its committed steps, the saves in
// progress or abandoned beside them, verifying shards against their CRC32Cs, removing steps.
//
// Every command opens DIR without creating it: a missing DIR exits 3, a file 5, a directory holding
// only other entries 5 ("not a checkpoint directory"). verify exits 1 naming every damaged shard;
// rm checks every STEP before removing any. Output is a table for people, --json for scripts;
// progress goes to stderr. The client library loads only when a command runs.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration } from '../common/config.js';
import { CliError, ExitCode } from './exit-codes.js';
import type { CommandContext } from './file-commands.js';
import { addressOption, DEFAULT_META_ADDRESS } from './options.js';
import { listCheckpoints, showCheckpoint } from './ckpt-listing.js';
import { openExisting, parseStep, usage } from './ckpt-open.js';
import { type VerifyCommandOptions, verify } from './ckpt-verify.js';

interface RunState {
  exitCode: number;
}

type WithClient = (state: RunState, meta: string, fn: (ctx: CommandContext) => Promise<void>) => Promise<void>;

interface GcCommandOptions {
  keepLast?: number;
  keepEvery?: number;
  stagingMaxAge?: number;
  dryRun?: boolean;
  json?: boolean;
  meta: string;
}

function countOption(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError(`must be a whole number of at least 1, got '${text}'`);
  }
  return Number(text);
}

function durationOption(text: string): number {
  try {
    return parseDuration(text);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

async function remove(ctx: CommandContext, dir: string, steps: number[]): Promise<void> {
  const checkpoints = await openExisting(ctx, dir);
  const missing: number[] = [];
  for (const step of steps) {
    try {
      await checkpoints.delete(step);
      ctx.out.write(`removed step ${step}\n`);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') throw err;
      missing.push(step);
    }
  }
  if (missing.length > 0) {
    throw new CliError(
      `${checkpoints.dir}: no committed step ${missing.join(', ')}` +
        (missing.length < steps.length ? ' (the others were removed)' : ''),
      ExitCode.NOT_FOUND,
      'ENOENT',
    );
  }
}

async function gc(ctx: CommandContext, dir: string, o: GcCommandOptions): Promise<void> {
  const checkpoints = await openExisting(ctx, dir, {
    keepLast: o.keepLast,
    keepEvery: o.keepEvery,
    stagingMaxAgeMs: o.stagingMaxAge,
  });
  let removedSteps: number[];
  let collected: { path: string; reason: string }[];
  if (o.dryRun) {
    removedSteps = await checkpoints.retentionPlan();
    const inventory = await checkpoints.inventory();
    collected = [
      ...inventory.saves.flatMap((save) =>
        save.abandoned === undefined ? [] : [{ path: save.path, reason: save.abandoned }],
      ),
      ...inventory.deleting.map((path) => ({ path, reason: 'an interrupted delete' })),
    ];
  } else {
    const result = await checkpoints.applyRetention();
    removedSteps = result.deletedSteps;
    collected = result.collected;
  }
  if (o.json) {
    ctx.out.write(`${JSON.stringify({ dir: checkpoints.dir, dryRun: o.dryRun === true, removedSteps, collected })}\n`);
    return;
  }
  const verb = o.dryRun ? 'would remove' : 'removed';
  for (const step of removedSteps) ctx.out.write(`${verb} step ${step}\n`);
  for (const entry of collected)
    ctx.out.write(`${o.dryRun ? 'would collect' : 'collected'} ${entry.path} (${entry.reason})\n`);
  if (removedSteps.length === 0 && collected.length === 0) ctx.out.write(`nothing to remove in ${checkpoints.dir}\n`);
}

/** Registers `spindle ckpt …` on the program; commands run through main.ts's withClient. */
export function addCkptCommands(program: Command, state: RunState, withClient: WithClient): void {
  const metaOption = () =>
    new Option('--meta <host:port>', 'metadata service of the cluster')
      .env('SPINDLE_META')
      .default(DEFAULT_META_ADDRESS)
      .argParser(addressOption);
  const ckpt = program
    .command('ckpt')
    .description('checkpoint directories: list, show, verify or remove steps, collect abandoned saves');

  ckpt
    .command('ls')
    .description('list the committed steps of DIR (size, shards, time, save id) and the saves in progress or abandoned')
    .argument('<dir>')
    .option('--json', 'print JSON')
    .addOption(metaOption())
    .action((dir: string, o: { json?: boolean; meta: string }) =>
      withClient(state, o.meta, async (ctx) => listCheckpoints(ctx, await openExisting(ctx, dir), o)),
    );

  ckpt
    .command('show')
    .description('show the manifest of a step: ranks, shards, sizes, CRC32Cs, user metadata')
    .argument('<dir>')
    .argument('[step]', 'a step number or latest', 'latest')
    .option('--json', 'print the manifest as JSON')
    .addOption(metaOption())
    .action((dir: string, step: string, o: { json?: boolean; meta: string }) => {
      // Arguments are checked before connecting: a usage error needs no cluster.
      const wanted = parseStep(step, true);
      return withClient(state, o.meta, async (ctx) => showCheckpoint(ctx, await openExisting(ctx, dir), wanted, o));
    });

  ckpt
    .command('verify')
    .description('read every shard of a step (default latest, or --all) and check its CRC32C; exits 1 naming damage')
    .argument('<dir>')
    .argument('[step]', 'a step number or latest (default latest)')
    .option('--all', 'verify every committed step')
    .option('--json', 'print the report as JSON')
    .option('--progress', 'always show a progress bar (on stderr)')
    .option('--no-progress', 'never show a progress bar')
    .addOption(metaOption())
    .action((dir: string, step: string | undefined, o: VerifyCommandOptions) => {
      if (o.all && step !== undefined) throw usage('give a STEP or --all, not both');
      const wanted = o.all ? undefined : parseStep(step ?? 'latest', true);
      return withClient(state, o.meta, (ctx) => verify(ctx, dir, wanted, o));
    });

  ckpt
    .command('rm')
    .description('remove committed steps of DIR (every STEP is checked first)')
    .argument('<dir>')
    .argument('<steps...>')
    .addOption(metaOption())
    .action((dir: string, steps: string[], o: { meta: string }) => {
      const parsed = [...new Set(steps.map((text) => parseStep(text, false) as number))];
      return withClient(state, o.meta, (ctx) => remove(ctx, dir, parsed));
    });

  ckpt
    .command('gc')
    .description('apply retention (--keep-last, --keep-every) and collect abandoned saves; prints what it removed')
    .argument('<dir>')
    .option('--keep-last <k>', 'keep only the newest K steps', countOption)
    .option('--keep-every <m>', 'with --keep-last: also keep steps that are multiples of M', countOption)
    .option(
      '--staging-max-age <duration>',
      'a save started longer ago is abandoned, e.g. 2h (default 24h)',
      durationOption,
    )
    .option('--dry-run', 'print what would be removed, remove nothing')
    .option('--json', 'print JSON')
    .addOption(metaOption())
    .action((dir: string, o: GcCommandOptions) => {
      if (o.keepEvery !== undefined && o.keepLast === undefined) throw usage('--keep-every needs --keep-last');
      return withClient(state, o.meta, (ctx) => gc(ctx, dir, o));
    });
}
