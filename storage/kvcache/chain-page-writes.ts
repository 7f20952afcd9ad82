// Page chunks written and removed through the chain, as ordinary head writes (WRITE of the whole
// chunk, single-chunk REMOVE): the chain replicator stores them on every replica, fsync'd, and
// answers only after the tail back to the head committed — exactly like a client's chunk write.
import { CHUNK_SIZE_MAX_BYTES } from '../../common/constants.js';
import { crc32c } from '../../common/crc32c.js';
import { UpdateType } from '../../proto/index.js';
import type { ChainReplicator } from '../chain-replicator.js';
import type { ChunkAddress } from '../chunk-engine/chunk-key.js';
import type { ChainView } from '../routing-view.js';

function chainWrite(
  replicator: ChainReplicator,
  view: ChainView,
  chunk: ChunkAddress,
  type: UpdateType,
  data: Buffer,
  signal?: AbortSignal,
) {
  return replicator.onWrite(
    {
      tag: undefined,
      chainId: view.chainId,
      chainVersion: view.chainVersion,
      chunk,
      type,
      offset: 0,
      data,
      dataCrc32c: crc32c(data),
      // A page's chunk is at most its header plus 32 MiB: any chunk size up to the largest fits.
      chunkSizeBytes: CHUNK_SIZE_MAX_BYTES,
      // No exactly-once channel: a repeated page write stores the same bytes, a repeated remove finds nothing.
      channelId: 0,
      seqnum: 0,
      bulk: undefined,
    },
    signal,
  );
}

/** Writes a page's chunk bytes (header and value) on every replica of the chain. */
export async function writePageChunk(
  replicator: ChainReplicator,
  view: ChainView,
  chunk: ChunkAddress,
  data: Buffer,
  signal?: AbortSignal,
): Promise<void> {
  await chainWrite(replicator, view, chunk, UpdateType.WRITE, data, signal);
}

/** Removes chunks from every replica, one after the other (children first keeps replicas prefix-closed). */
export async function removePageChunks(
  replicator: ChainReplicator,
  view: ChainView,
  chunks: readonly ChunkAddress[],
  signal?: AbortSignal,
): Promise<void> {
  for (const chunk of chunks) await chainWrite(replicator, view, chunk, UpdateType.REMOVE, Buffer.alloc(0), signal);
}
