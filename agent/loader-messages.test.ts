// Loader messages ↔ loader types: policies, cursors, starts and the per-message size limit.
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { LastBatch, type LoaderState as LoaderStateMessage } from '../proto/index.js';
import { AGENT_MESSAGE_MAX_BYTES } from './constants.js';
import {
  batchMessage,
  datasetPath,
  lastBatchPolicy,
  stateFromMessage,
  stateToMessage,
  streamStart,
} from './loader-messages.js';

const cursor: LoaderStateMessage = {
  dataset: '/data/train',
  datasetId: 'a1b2c3d4e5f60718',
  datasetSize: 1000,
  seed: 2 ** 53 - 1,
  epoch: 3,
  batchSize: 64,
  lastBatch: LastBatch.LAST_BATCH_DROP,
  nextBatch: 7,
};

function refusal(fn: () => unknown): SpindleError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpindleError);
    return err as SpindleError;
  }
  throw new Error('accepted');
}

describe('loader messages', () => {
  it('maps DROP and PAD, and refuses an unset or unknown policy naming the field', () => {
    expect(lastBatchPolicy(LastBatch.LAST_BATCH_DROP, 'x')).toBe('drop');
    expect(lastBatchPolicy(LastBatch.LAST_BATCH_PAD, 'x')).toBe('pad');
    const unset = refusal(() => lastBatchPolicy(LastBatch.LAST_BATCH_UNSPECIFIED, 'fresh.last_batch'));
    expect(unset.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(unset.message).toBe(
      'fresh.last_batch must be LAST_BATCH_DROP or LAST_BATCH_PAD, got LAST_BATCH_UNSPECIFIED',
    );
    expect(refusal(() => lastBatchPolicy(7 as LastBatch, 'last_batch')).message).toMatch(/got 7$/);
  });

  it('takes absolute dataset paths only', () => {
    expect(datasetPath('/data/train', 'dataset')).toBe('/data/train');
    const relative = refusal(() => datasetPath('data/train', 'dataset'));
    expect(relative.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(relative.message).toBe('dataset must be the dataset\'s absolute path in the namespace, got "data/train"');
  });

  it('keeps a cursor through message → state → message', () => {
    const state = stateFromMessage(cursor);
    expect(state).toEqual({ ...cursor, lastBatch: 'drop' });
    expect(stateToMessage(state)).toEqual(cursor);
    expect(stateToMessage({ ...state, lastBatch: 'pad' }).lastBatch).toBe(LastBatch.LAST_BATCH_PAD);
  });

  it('reads a fresh start, a resume, and refuses a request without a start', () => {
    const fresh = streamStart({
      start: {
        $case: 'fresh',
        value: { dataset: '/d', seed: 5, epoch: 1, batchSize: 8, lastBatch: LastBatch.LAST_BATCH_PAD },
      },
      rank: 1,
      worldSize: 2,
      prefetchBytes: 1024,
    });
    expect(fresh).toEqual({
      kind: 'fresh',
      options: {
        dataset: '/d',
        seed: 5,
        epoch: 1,
        batchSize: 8,
        lastBatch: 'pad',
        rank: 1,
        worldSize: 2,
        prefetchBytes: 1024,
      },
    });
    const resume = streamStart({ start: { $case: 'resume', value: cursor }, rank: 0, worldSize: 4 });
    expect(resume).toEqual({
      kind: 'resume',
      state: stateFromMessage(cursor),
      at: { rank: 0, worldSize: 4, prefetchBytes: undefined },
    });
    const none = refusal(() => streamStart({ rank: 0, worldSize: 1 }));
    expect(none.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(none.message).toMatch(/needs a start: `fresh`.*`resume`/);
    const badResume = refusal(() =>
      streamStart({ start: { $case: 'resume', value: { ...cursor, lastBatch: 0 } }, rank: 0, worldSize: 1 }),
    );
    expect(badResume.message).toMatch(/^resume\.last_batch must be/);
  });

  it('builds a batch message with the cursor after it, and refuses one over the message limit', () => {
    const state = stateFromMessage(cursor);
    const message = batchMessage(
      {
        batchIndex: 6,
        samples: [
          { index: 4, key: 'k4', data: Buffer.from('four') },
          { index: 9, key: undefined, data: Buffer.from('nine') },
        ],
      },
      state,
    );
    expect(message).toEqual({
      batchIndex: 6,
      samples: [
        { index: 4, key: 'k4', data: Buffer.from('four') },
        { index: 9, key: undefined, data: Buffer.from('nine') },
      ],
      cursor,
    });
    const half = Buffer.alloc(AGENT_MESSAGE_MAX_BYTES / 2);
    const tooLarge = refusal(() =>
      batchMessage(
        {
          batchIndex: 2,
          samples: [
            { index: 0, key: undefined, data: half },
            { index: 1, key: undefined, data: half },
          ],
        },
        state,
      ),
    );
    expect(tooLarge.errorCode).toBe(ErrorCode.RPC_TOO_LARGE);
    expect(tooLarge.message).toMatch(/^batch 2 holds \d+ bytes .* use a smaller batch_size/);
  });
});
