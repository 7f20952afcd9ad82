import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.js';
import {
  checkpointDir,
  checkpointStep,
  finishResponse,
  optionalCount,
  optionalSaveId,
  placement,
  shardChunks,
  userMetadata,
} from './checkpoint-messages.js';

function invalidMessage(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect((err as { errorCode: ErrorCode }).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    return (err as Error).message;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('checkpoint messages', () => {
  it('refuses bad fields naming them', () => {
    expect(invalidMessage(() => checkpointDir('relative/dir'))).toMatch(/^dir must be an absolute/);
    expect(invalidMessage(() => checkpointDir('/a/../b'))).toMatch(/^dir /);
    expect(invalidMessage(() => checkpointDir('/'))).toMatch(/^dir /);
    expect(checkpointDir('/ckpt/run1')).toBe('/ckpt/run1');
    expect(invalidMessage(() => checkpointStep(10 ** 12))).toMatch(/^step must be 0 \.\. 999999999999/);
    expect(invalidMessage(() => placement(0, 0))).toMatch(/^world_size must be at least 1/);
    expect(invalidMessage(() => placement(2, 2))).toMatch(/^rank must be 0 \.\. 1/);
    expect(placement(2, 1)).toEqual({ worldSize: 2, rank: 1 });
    expect(invalidMessage(() => optionalCount(0, 'keep_last'))).toMatch(/^keep_last must be at least 1/);
    expect(optionalCount(undefined, 'keep_last')).toBeUndefined();
    expect(invalidMessage(() => optionalSaveId(''))).toMatch(/^save_id must be/);
    expect(invalidMessage(() => optionalSaveId('a/b'))).toMatch(/^save_id must be/);
    expect(optionalSaveId('job-7_a')).toBe('job-7_a');
    expect(invalidMessage(() => userMetadata('{nope'))).toMatch(/^user_metadata_json must be JSON/);
    expect(userMetadata('')).toBeUndefined();
    expect(userMetadata('{"loss":1.5}')).toEqual({ loss: 1.5 });
  });

  it('cuts shard bytes into chunks that carry their offsets', () => {
    const data = Buffer.from('abcdefghij');
    const chunks = [...shardChunks(data, 100, 4)];
    expect(chunks.map((c) => [c.data.toString(), c.offset])).toEqual([
      ['abcd', 100],
      ['efgh', 104],
      ['ij', 108],
    ]);
    expect([...shardChunks(Buffer.alloc(0), 0, 4)]).toEqual([]);
  });

  it('turns finish results into responses', () => {
    expect(finishResponse({ committed: false, missingRanks: [1, 3], deletedSteps: [] })).toEqual({
      committed: false,
      missingRanks: [1, 3],
      committer: false,
      deletedSteps: [],
    });
    const manifest = {
      format: 'spindle-checkpoint' as const,
      formatVersion: 1,
      step: 7,
      worldSize: 1,
      saveId: 'w1',
      createdAt: '2026-01-01T00:00:00.000Z',
      userMetadata: { a: 1 },
      shards: [{ rank: 0, name: 'model.pt', bytes: 3, crc32c: 42 }],
    };
    expect(finishResponse({ committed: true, committer: true, manifest, deletedSteps: [5] })).toEqual({
      committed: true,
      missingRanks: [],
      committer: true,
      deletedSteps: [5],
      manifest: {
        step: 7,
        worldSize: 1,
        saveId: 'w1',
        createdAt: '2026-01-01T00:00:00.000Z',
        userMetadataJson: '{"a":1}',
        shards: [{ rank: 0, name: 'model.pt', bytes: 3, crc32c: 42 }],
      },
    });
  });
});
