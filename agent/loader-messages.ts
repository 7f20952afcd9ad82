// Conversions between the Loader service's messages (proto/loader.proto) and the client loader's
// types (client/loader). Guarantees: a request field the loader cannot take — an unset or unknown
// last_batch, a missing start, a batch over the message limit — is a SpindleError naming the
// proto field; everything else is passed through unchanged for the loader to check (it names the
// field and the value it refuses), and a cursor survives the round trip message → state → message.
import type { LoadedBatch, LoaderOptions, LoaderState } from '../client/loader/index.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import {
  type Batch,
  LastBatch,
  type LoaderState as LoaderStateMessage,
  type StreamBatchesRequest,
} from '../proto/index.js';
import { AGENT_MESSAGE_MAX_BYTES } from './constants.js';

type LastBatchPolicy = LoaderState['lastBatch'];

/** Bytes a Batch message spends beside its samples' data and keys (cursor, tags, lengths), at most. */
const BATCH_OVERHEAD_BYTES = 64 * 1024;
/** Bytes a Sample spends beside its data and key (index, tags, lengths), at most. */
const SAMPLE_OVERHEAD_BYTES = 32;

/** The loader's policy for a LastBatch field; unset or unknown is INVALID_ARGUMENT naming `field`. */
export function lastBatchPolicy(value: LastBatch, field: string): LastBatchPolicy {
  if (value === LastBatch.LAST_BATCH_DROP) return 'drop';
  if (value === LastBatch.LAST_BATCH_PAD) return 'pad';
  throw new SpindleError(
    ErrorCode.INVALID_ARGUMENT,
    `${field} must be LAST_BATCH_DROP or LAST_BATCH_PAD, got ${LastBatch[value] ?? value}`,
  );
}

function lastBatchValue(policy: LastBatchPolicy): LastBatch {
  return policy === 'drop' ? LastBatch.LAST_BATCH_DROP : LastBatch.LAST_BATCH_PAD;
}

export function stateFromMessage(message: LoaderStateMessage): LoaderState {
  return {
    dataset: message.dataset,
    datasetId: message.datasetId,
    datasetSize: message.datasetSize,
    seed: message.seed,
    epoch: message.epoch,
    batchSize: message.batchSize,
    lastBatch: lastBatchPolicy(message.lastBatch, 'resume.last_batch'),
    nextBatch: message.nextBatch,
  };
}

export function stateToMessage(state: LoaderState): LoaderStateMessage {
  return {
    dataset: state.dataset,
    datasetId: state.datasetId,
    datasetSize: state.datasetSize,
    seed: state.seed,
    epoch: state.epoch,
    batchSize: state.batchSize,
    lastBatch: lastBatchValue(state.lastBatch),
    nextBatch: state.nextBatch,
  };
}

/**
 * A request's dataset path, which must be absolute, as the loader requires of its own (openDataset
 * alone would resolve a relative path against the root).
 */
export function datasetPath(path: string, field: string): string {
  if (!path.startsWith('/')) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${field} must be the dataset's absolute path in the namespace, got ${JSON.stringify(path)}`,
    );
  }
  return path;
}

/** How a StreamBatches request starts its loader: a new epoch, or a saved cursor. */
export type StreamStart =
  | { readonly kind: 'fresh'; readonly options: Omit<LoaderOptions, 'signal'> }
  | {
      readonly kind: 'resume';
      readonly state: LoaderState;
      readonly at: { rank: number; worldSize: number; prefetchBytes?: number };
    };

export function streamStart(request: StreamBatchesRequest): StreamStart {
  const placement = { rank: request.rank, worldSize: request.worldSize, prefetchBytes: request.prefetchBytes };
  const start = request.start;
  if (start === undefined) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      'StreamBatches needs a start: `fresh` (a new epoch: dataset, seed, epoch, batch_size, last_batch) or ' +
        '`resume` (a cursor from a previous Batch)',
    );
  }
  if (start.$case === 'resume') return { kind: 'resume', state: stateFromMessage(start.value), at: placement };
  const fresh = start.value;
  return {
    kind: 'fresh',
    options: {
      dataset: fresh.dataset,
      seed: fresh.seed,
      epoch: fresh.epoch,
      batchSize: fresh.batchSize,
      lastBatch: lastBatchPolicy(fresh.lastBatch, 'fresh.last_batch'),
      ...placement,
    },
  };
}

/**
 * The message for `batch` with the cursor after it; a batch too large for one message is
 * RPC_TOO_LARGE with what to change (a smaller batch per rank).
 */
export function batchMessage(batch: LoadedBatch, cursor: LoaderState): Batch {
  let bytes = BATCH_OVERHEAD_BYTES;
  for (const sample of batch.samples) {
    bytes += sample.data.length + SAMPLE_OVERHEAD_BYTES;
    if (sample.key !== undefined) bytes += Buffer.byteLength(sample.key);
  }
  if (bytes > AGENT_MESSAGE_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.RPC_TOO_LARGE,
      `batch ${batch.batchIndex} holds ${bytes} bytes for this rank, more than the ${AGENT_MESSAGE_MAX_BYTES}-byte ` +
        'message limit of the agent: use a smaller batch_size (or more ranks)',
    );
  }
  return {
    batchIndex: batch.batchIndex,
    samples: batch.samples.map((sample) => ({ index: sample.index, key: sample.key, data: sample.data })),
    cursor: stateToMessage(cursor),
  };
}
