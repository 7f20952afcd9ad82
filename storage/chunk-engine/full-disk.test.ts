// The chunk engine on a real, small, full file system (a tmpfs the test mounts; needs root): with no
// reserve at all, block writes and the chunk-metadata lmdb run into the disk's own ENOSPC, and
// every failure is a NO_SPACE SpindleError — never an untyped "Commit failed" nor an unhandled
// rejection (which ended storage nodes); committed chunks still read back. With a reserve, writes
// are refused before the disk fills and the blocks of removed chunks are written again.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, asSpindleError, isSpindleError } from '../../common/errors.js';
import { UpdateType } from '../../proto/index.js';
import { ChunkEngine } from './chunk-engine.js';
import { isLmdbInternalCommitRejection } from './lmdb-failures.js';

const KiB = 1024;
const CHUNK = 64 * KiB;
const isRoot = process.getuid?.() === 0;

function chunkBytes(seed: number): Buffer {
  const data = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i += 4) data.writeUInt32LE((seed * 2654435761 + i) >>> 0, i);
  return data;
}

/** Writes and commits chunk `index` of inode 7; resolves to the error when it failed. */
async function put(engine: ChunkEngine, index: number, version: number, empty = false): Promise<unknown> {
  // An empty chunk has no block: only its metadata is written.
  const data = empty ? Buffer.alloc(0) : chunkBytes(index);
  try {
    await engine.applyUpdate(7, index, version, {
      type: UpdateType.REPLACE,
      offset: 0,
      data,
      dataCrc32c: crc32c(data),
    });
    await engine.commit(7, index, version, 1);
    return undefined;
  } catch (err) {
    engine.abort(7, index);
    return err;
  }
}

describe.skipIf(!isRoot)('chunk engine on a full disk', () => {
  let dir: string;
  let engine: ChunkEngine | undefined;
  const unhandled: unknown[] = [];
  // lmdb's internal copy of a failed commit is absorbed by the storage process (storage/main.ts).
  const onUnhandled = (reason: unknown) => {
    if (!isLmdbInternalCommitRejection(reason)) unhandled.push(reason);
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spindle-enospc-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]);
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });

  afterEach(async () => {
    await engine?.close();
    engine = undefined;
    process.off('unhandledRejection', onUnhandled);
    execFileSync('bash', ['-c', 'umount -l "$1"', 'umount', dir]);
    await rm(dir, { recursive: true, force: true });
  });

  it('with no reserve, every failure of a filling disk is NO_SPACE and nothing is unhandled', async () => {
    engine = await ChunkEngine.open({ dir, fsync: true });
    const committed: number[] = [];
    const failures: unknown[] = [];
    // 8 writers at a time until 20 rounds in a row failed: the disk is full for data and metadata.
    for (let index = 0, failedRounds = 0; failedRounds < 20 && index < 2000; ) {
      const batch = Array.from({ length: 8 }, (_, i) => index + i);
      index += 8;
      const results = await Promise.all(batch.map((i) => put(engine!, i, 1)));
      results.forEach((err, i) => (err === undefined ? committed.push(batch[i]!) : failures.push(err)));
      failedRounds = results.every((err) => err !== undefined) ? failedRounds + 1 : 0;
    }
    // Then metadata only (empty chunks), until the lmdb env cannot grow either.
    for (let index = 10_000, failedRounds = 0; failedRounds < 5 && index < 200_000; ) {
      const batch = Array.from({ length: 64 }, (_, i) => index + i);
      index += 64;
      const results = await Promise.all(batch.map((i) => put(engine!, i, 1, true)));
      for (const err of results) if (err !== undefined) failures.push(err);
      failedRounds = results.every((err) => err !== undefined) ? failedRounds + 1 : 0;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(unhandled).toEqual([]);
    expect(committed.length).toBeGreaterThan(0);
    expect(failures.length).toBeGreaterThan(0);
    // Block writes fail with the node's own ENOSPC (the service answers it as NO_SPACE, as
    // asSpindleError does); lmdb's failures arrive typed already: NO_SPACE, or INTERNAL naming the
    // I/O error when lmdb reports the failed page write as EIO (it does, now and then, on a full tmpfs).
    const fromMetadata = failures.filter((err) => isSpindleError(err) && /metadata/.test(err.message));
    expect(fromMetadata.length).toBeGreaterThan(0);
    for (const err of failures) {
      const typed = asSpindleError(err);
      if (typed.errorCode === ErrorCode.NO_SPACE) continue;
      expect(typed.errorCode, typed.message).toBe(ErrorCode.INTERNAL);
      expect(typed.message).toMatch(/chunk metadata write failed: Input\/output error/);
    }
    for (const index of committed.slice(0, 5)) {
      expect((await engine.read(7, index, 0, CHUNK)).data.equals(chunkBytes(index))).toBe(true);
    }
  }, 120_000);

  it('with a reserve, refuses before the disk is full and reuses the blocks of removed chunks', async () => {
    engine = await ChunkEngine.open({ dir, fsync: true, space: { fullRatio: 0.95, reservedBytes: 512 * KiB } });
    let refused: unknown;
    let count = 0;
    for (; count < 100; count++) {
      refused = await put(engine, count, 1);
      if (refused !== undefined) break;
    }
    expect(isSpindleError(refused) && refused.errorCode).toBe(ErrorCode.NO_SPACE);
    expect(String((refused as Error).message)).toMatch(/is full/);
    expect(count).toBeGreaterThan(10);
    // Removals go on (they write metadata, inside the reserve), and their blocks take new chunks.
    for (let index = 0; index < count; index++) expect(await engine.removeNow(7, index)).toBe(true);
    for (let index = 1000; index < 1000 + count; index++) expect(await put(engine, index, 1)).toBeUndefined();
    expect((await engine.read(7, 1000, 0, CHUNK)).data.equals(chunkBytes(1000))).toBe(true);
    expect(unhandled).toEqual([]);
  }, 120_000);
});
