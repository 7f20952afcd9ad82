// Opening a checkpoint directory for `spindle ckpt …` (ckpt-commands.ts) and reading its STEP
// arguments: shared by the commands and verify (ckpt-verify.ts).
//
// Guarantees: DIR is never created; a bad STEP is a usage error (exit 2) before anything is read.
import type { Checkpoints } from '../client/checkpoints/index.js';
import type { SpindleClient } from '../client/spindle-client.js';
import { CliError, ExitCode } from './exit-codes.js';
import type { CommandContext } from './file-commands.js';
import { spindlePath } from './file-commands.js';

/** Largest step the library accepts (12 digits); checked here so a bad STEP is a usage error. */
const STEP_MAX = 10 ** 12 - 1;

export type StepArg = number | 'latest';

export function usage(message: string): CliError {
  return new CliError(message, ExitCode.USAGE, 'EINVAL');
}

export function parseStep(text: string, allowLatest: boolean): StepArg {
  if (allowLatest && text === 'latest') return 'latest';
  const step = /^\d{1,13}$/.test(text) ? Number(text) : Number.NaN;
  if (!(step >= 0 && step <= STEP_MAX)) {
    throw usage(`STEP must be a whole number from 0 to ${STEP_MAX}${allowLatest ? ' or latest' : ''}, got '${text}'`);
  }
  return step;
}

/** The CLI's connection is a SpindleClient (main.ts connects one and types it as the file commands' subset). */
function fullClient(ctx: CommandContext): SpindleClient {
  return ctx.client as unknown as SpindleClient;
}

/** Opens DIR as it is (never creating it); refuses a directory that holds no checkpoint entry. */
export async function openExisting(
  ctx: CommandContext,
  dir: string,
  options: { keepLast?: number; keepEvery?: number; stagingMaxAgeMs?: number } = {},
): Promise<Checkpoints> {
  const { openCheckpoints } = await import('../client/checkpoints/index.js');
  const checkpoints = await openCheckpoints(fullClient(ctx), spindlePath(dir), { ...options, create: false });
  if ((await checkpoints.list()).length > 0) return checkpoints;
  const inventory = await checkpoints.inventory();
  if (inventory.saves.length === 0 && inventory.deleting.length === 0 && inventory.other.length > 0) {
    throw new CliError(
      `${checkpoints.dir} is not a checkpoint directory: it holds ${inventory.other.length} other ` +
        `${inventory.other.length === 1 ? 'entry' : 'entries'} and no step-<N> directory nor save in progress`,
      ExitCode.WRONG_TYPE,
    );
  }
  return checkpoints;
}
