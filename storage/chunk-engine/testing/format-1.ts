// For tests: turns a target's chunk metadata into format 1 (64 KiB segments, chunk-meta.ts), as a
// storage node from before format 2 left it on disk. The target must not be open elsewhere.
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { crc32c } from '../../../common/crc32c.js';
import { CRC_SEGMENT_BYTES_FORMAT_1 } from '../../constants.js';
import { ChunkEngine } from '../chunk-engine.js';
import { decodeChunkMeta, encodeChunkMetaFormat1, segmentCount } from '../chunk-meta.js';
import { encodeChunkKey, isChunkKey } from '../chunk-key.js';

/** Rewrites every committed record of the target in `dir` as format 1; returns how many. */
export async function rewriteAsFormat1(dir: string): Promise<number> {
  // The bytes, read (and verified) through the engine; the records, rewritten in lmdb after it closed.
  const engine = await ChunkEngine.open({ dir, fsync: false });
  const contents: Array<{ key: Buffer; bytes: Buffer }> = [];
  try {
    for (let after: { ino: number; index: number } | undefined; ; ) {
      const { chunks, hasMore } = engine.dump({ after, limit: 1000 });
      for (const chunk of chunks) {
        const { data } = await engine.read(chunk.ino, chunk.index, 0, chunk.length);
        contents.push({ key: encodeChunkKey(chunk.ino, chunk.index), bytes: Buffer.from(data) });
        after = chunk;
      }
      if (!hasMore) break;
    }
  } finally {
    await engine.close();
  }
  const env = openLmdb<Buffer, Buffer>({
    path: join(dir, 'chunks.mdb'),
    keyEncoding: 'binary',
    encoding: 'binary',
    compression: false,
    overlappingSync: false,
  });
  try {
    for (const { key, bytes } of contents) {
      const meta = decodeChunkMeta(env.get(key)!);
      const segmentCrcs = new Uint32Array(segmentCount(bytes.length, CRC_SEGMENT_BYTES_FORMAT_1));
      for (let i = 0; i < segmentCrcs.length; i++) {
        segmentCrcs[i] = crc32c(bytes.subarray(i * CRC_SEGMENT_BYTES_FORMAT_1, (i + 1) * CRC_SEGMENT_BYTES_FORMAT_1));
      }
      await env.put(key, encodeChunkMetaFormat1({ ...meta, segmentBytes: CRC_SEGMENT_BYTES_FORMAT_1, segmentCrcs }));
    }
    await env.flushed;
  } finally {
    await env.close();
  }
  return contents.length;
}

/** Each committed record of the target in `dir`, by `ino:index`: its format (1 or 2) and segment size. */
export async function recordFormats(dir: string): Promise<Map<string, { format: number; segmentBytes: number }>> {
  const env = openLmdb<Buffer, Buffer>({
    path: join(dir, 'chunks.mdb'),
    keyEncoding: 'binary',
    encoding: 'binary',
    compression: false,
  });
  const out = new Map<string, { format: number; segmentBytes: number }>();
  try {
    for (const { key, value } of env.getRange({})) {
      if (!isChunkKey(key)) continue; // the records table's entry (lmdb-meta-store.ts)
      const { segmentBytes } = decodeChunkMeta(value);
      out.set(`${key.readBigUInt64BE(0)}:${key.readBigUInt64BE(8)}`, { format: value[0]!, segmentBytes });
    }
  } finally {
    await env.close();
  }
  return out;
}
