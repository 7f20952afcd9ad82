// `spindle ckpt verify DIR [STEP|latest|--all]`: reads every shard of the steps (each step's shards
// in parallel, in the library) under one progress bar on stderr, prints a verdict per step (or
// --json) and exits 1 naming every damaged shard; with --all it goes on past a damaged manifest.
import type { Checkpoints } from '../client/checkpoints/index.js';
import { type StepArg, openExisting } from './ckpt-open.js';
import { CliError, ExitCode } from './exit-codes.js';
import type { CommandContext } from './file-commands.js';
import { formatBytes } from './format.js';
import { createProgress } from './progress.js';

export interface VerifyCommandOptions {
  all?: boolean;
  json?: boolean;
  progress?: boolean;
  meta: string;
}

/** One step's outcome: `damaged` names each damaged shard (or, without rank and name, the manifest). */
interface StepVerdict {
  step: StepArg;
  ok: boolean;
  shards: number;
  bytes: number;
  damaged: readonly { rank?: number; name?: string; problem: string }[];
}

/** Verifies `steps` one after another (each one's shards in parallel) into one progress bar. */
async function verifySteps(
  ctx: CommandContext,
  checkpoints: Checkpoints,
  steps: StepArg[],
  o: VerifyCommandOptions,
): Promise<StepVerdict[]> {
  // Manifests first, for the bar's total; with --all a damaged one is reported with its step below.
  let totalBytes = 0;
  const resolved: StepArg[] = [];
  for (const wanted of steps) {
    const manifest = await checkpoints.load(wanted).catch((err: unknown) => {
      if (!o.all) throw err;
      return undefined;
    });
    resolved.push(manifest?.step ?? wanted);
    totalBytes += manifest?.shards.reduce((sum, shard) => sum + shard.bytes, 0) ?? 0;
  }
  let shardsText = `${steps.length} step(s)`;
  const progress = createProgress({
    progress: o.progress,
    label: `verify ${checkpoints.dir}`,
    totalBytes,
    detail: () => shardsText,
  });
  const verdicts: StepVerdict[] = [];
  try {
    for (const wanted of resolved) {
      let counted = 0;
      try {
        const { manifest, damaged } = await checkpoints.verifyReport(wanted, {
          signal: ctx.signal,
          onProgress: (p) => {
            shardsText = `step ${wanted}: ${p.shardsDone}/${p.shardsTotal} shards`;
            progress.add(p.bytesDone - counted);
            counted = p.bytesDone;
          },
        });
        const bytes = manifest.shards.reduce((sum, shard) => sum + shard.bytes, 0);
        verdicts.push({
          step: manifest.step,
          ok: damaged.length === 0,
          shards: manifest.shards.length,
          bytes,
          damaged,
        });
      } catch (err) {
        // --all goes on past a step whose manifest is damaged; one step's failure is the command's.
        if (!o.all || (err as { code?: string }).code !== 'EIO') throw err;
        verdicts.push({ step: wanted, ok: false, shards: 0, bytes: 0, damaged: [{ problem: (err as Error).message }] });
      }
    }
  } finally {
    progress.stop();
  }
  return verdicts;
}

/** Verifies step `wanted`, or every committed step when it is undefined (--all). */
export async function verify(ctx: CommandContext, dir: string, wanted: StepArg | undefined, o: VerifyCommandOptions) {
  const checkpoints = await openExisting(ctx, dir);
  const steps = wanted === undefined ? await checkpoints.list() : [wanted];
  if (steps.length === 0)
    throw new CliError(`no step is committed in ${checkpoints.dir}`, ExitCode.NOT_FOUND, 'ENOENT');
  const verdicts = await verifySteps(ctx, checkpoints, steps, o);
  if (o.json) ctx.out.write(`${JSON.stringify({ dir: checkpoints.dir, steps: verdicts })}\n`);
  for (const verdict of o.json ? [] : verdicts) {
    if (verdict.ok) {
      ctx.out.write(
        `ok: step ${verdict.step}: ${verdict.shards} shards, ${formatBytes(verdict.bytes)}, every CRC32C matches\n`,
      );
    } else {
      ctx.out.write(`step ${verdict.step}: ${verdict.damaged.length} problem(s):\n`);
      for (const shard of verdict.damaged) ctx.out.write(`  ${shard.problem}\n`);
    }
  }
  const names = verdicts.flatMap((verdict) =>
    verdict.damaged.map((shard) =>
      shard.name === undefined
        ? `the manifest of step ${verdict.step}`
        : `rank-${shard.rank}/${shard.name} of step ${verdict.step}`,
    ),
  );
  if (names.length > 0) throw new CliError(`${checkpoints.dir}: damaged: ${names.join(', ')}`, ExitCode.FAILURE, 'EIO');
}
