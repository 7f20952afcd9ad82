// The async form of one rank's save (Checkpoints.save): the caller's buffers are copied into
// bounded staging memory while the staging directory is made, then written and finished in the
// background, so the training step continues while the bytes travel.
//
// Guarantees: bad shards or metadata are refused before anything is created (both promises reject
// with INVALID_ARGUMENT naming the field). `captured` resolves only once the save has begun and
// every byte of every buffer has been copied (the caller may reuse its buffers from then on); a
// failure before that rejects it. `committed` resolves with finish()'s result once every shard is
// synced and this rank's part is written; any failure rejects it and aborts the save (it can no
// longer commit). Neither promise is left unhandled when the caller awaits only one.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { checkShardName } from './args.js';
import { captureBytes } from './capture.js';
import type { CheckpointSave, FinishResult } from './checkpoint-save.js';
import type { StagingPool } from './staging-pool.js';

/** The shards of one rank: name → bytes (a plain object or a Map, written in their order). */
export type ShardBuffers = Readonly<Record<string, Uint8Array>> | ReadonlyMap<string, Uint8Array>;

export interface AsyncSave {
  /** The buffers have been copied: the caller may change them. */
  readonly captured: Promise<void>;
  /** This rank's finish() resolved: committed, or waiting for other ranks (see FinishResult). */
  readonly committed: Promise<FinishResult>;
}

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}

function checkShards(shards: unknown): [string, Uint8Array][] {
  let entries: [string, unknown][];
  if (shards instanceof Map) entries = [...shards.entries()];
  else if (typeof shards === 'object' && shards !== null && !Array.isArray(shards)) entries = Object.entries(shards);
  else throw invalid(`shards must be an object or a Map of shard name to Uint8Array, got ${typeof shards}`);
  for (const [name, data] of entries) {
    checkShardName(name, 'shards name');
    if (!(data instanceof Uint8Array)) {
      throw invalid(`shards[${JSON.stringify(name)}] must be a Uint8Array, got ${typeof data}`);
    }
  }
  return entries as [string, Uint8Array][];
}

function checkMetadata(userMetadata: unknown): void {
  try {
    JSON.stringify(userMetadata);
  } catch (err) {
    throw invalid(`userMetadata must be JSON: ${(err as Error).message}`);
  }
}

/** Checks the shards and metadata (throwing), then begins, captures, writes and finishes. */
export function startAsyncSave(
  begin: () => Promise<CheckpointSave>,
  stagingPool: StagingPool,
  shards: ShardBuffers,
  userMetadata: unknown,
): AsyncSave {
  const entries = checkShards(shards);
  checkMetadata(userMetadata);
  const started = begin();
  // Copies run one after another, in the order the writes take them (see capture.ts).
  let previous: Promise<unknown> = Promise.resolve();
  const captures = entries.map(([name, data]) => {
    const capture = captureBytes(data, stagingPool, previous);
    previous = capture.captured;
    return { name, capture };
  });
  const discardAll = () => {
    for (const { capture } of captures) capture.discard();
  };
  const committed = (async () => {
    let save: CheckpointSave;
    try {
      save = await started;
    } catch (err) {
      discardAll();
      throw err;
    }
    try {
      for (const { name, capture } of captures) await save.writeCaptured(name, capture);
      return await save.finish(userMetadata);
    } catch (err) {
      discardAll();
      // A rank that cannot finish means the save can never commit: free its staging now.
      await save.abort();
      throw err;
    }
  })();
  const captured = new Promise<void>((resolve, reject) => {
    Promise.all([started, ...captures.map(({ capture }) => capture.captured)]).then(() => resolve(), reject);
    // A failure before every byte was copied fails the capture too (no effect once resolved).
    committed.catch(reject);
  });
  captured.catch(() => undefined);
  committed.catch(() => undefined);
  return { captured, committed };
}
