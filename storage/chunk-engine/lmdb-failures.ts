// lmdb write failures as SpindleErrors. lmdb-js rejects each write of a failed commit with a generic
// "Commit failed" whose real cause (ENOSPC, MDB_MAP_FULL…) arrives later on a separate promise,
// `commitError`; left without a handler, that promise's rejection is unhandled and ends the process
// (a full disk killed storage nodes this way). Every lmdb write of a target goes through here.
import { ErrorCode, SpindleError } from '../../common/errors.js';

const NO_SPACE_PATTERN = /ENOSPC|no space|MDB_MAP_FULL|MDB_TXN_FULL|EDQUOT/i;

/** Runs one lmdb write; a failure becomes NO_SPACE (disk or map full) or INTERNAL, never unhandled. */
export async function lmdbWrite<T>(what: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    throw await lmdbFailure(what, err);
  }
}

async function lmdbFailure(what: string, err: unknown): Promise<SpindleError> {
  if (err instanceof SpindleError) return err;
  let cause = err;
  const commitError = (err as { commitError?: Promise<unknown> } | null)?.commitError;
  if (commitError !== undefined) {
    // The cause settles when lmdb's write thread reports it; it may also never settle (another
    // failed write of the same commit took it), so do not wait past a moment.
    cause = await Promise.race([
      commitError.then(
        () => err,
        (reason: unknown) => reason,
      ),
      new Promise((resolve) => setTimeout(() => resolve(err), 200).unref()),
    ]);
  }
  const text = `${(cause as Error)?.message ?? String(cause)} ${(cause as { code?: string })?.code ?? ''}`;
  if (NO_SPACE_PATTERN.test(text) || NO_SPACE_PATTERN.test(String(err))) {
    return new SpindleError(ErrorCode.NO_SPACE, `${what}: the chunk metadata store is out of space`, { cause });
  }
  return new SpindleError(ErrorCode.INTERNAL, `${what}: chunk metadata write failed: ${text.trim()}`, { cause });
}

/**
 * Whether `reason` is lmdb-js's own copy of a failed commit's rejection: besides the promise each
 * write returns (which its caller awaits and gets through lmdbWrite), lmdb rejects an internal
 * promise nobody holds, with the same "Commit failed" error carrying `commitError` (whose own
 * rejection, the cause, may also be reported before a writer takes it).
 */
export function isLmdbInternalCommitRejection(reason: unknown): boolean {
  if (!(reason instanceof Error)) return false;
  if (
    reason.message.startsWith('Commit failed') &&
    (reason as { commitError?: unknown }).commitError instanceof Promise
  )
    return true;
  // The cause itself (commitError's reason), when it is reported before a writer took it.
  return /[/\\]lmdb[/\\]write\.js/.test(reason.stack ?? '');
}

/**
 * For a storage process: lmdb's internal copies of failed commits (a full disk) must not end it.
 * Every other unhandled rejection still ends the process, as Node does by default.
 */
export function absorbLmdbInternalRejections(onAbsorbed: (reason: Error) => void): void {
  process.on('unhandledRejection', (reason) => {
    if (!isLmdbInternalCommitRejection(reason)) throw reason;
    // The real cause is on commitError, rejected too; its writers have it already.
    (reason as { commitError?: Promise<unknown> }).commitError?.catch(() => undefined);
    onAbsorbed(reason as Error);
  });
}
