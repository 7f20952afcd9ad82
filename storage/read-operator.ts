// The read side of a storage node: BatchRead, QueryLastChunk and DumpChunkMeta. Reads are served
// by any serving replica from committed state only: they never take chunk locks, never wait for
// an in-flight write, and never return a pending version (the chunk engine guarantees the rest).
// Each BatchRead item is resolved and checked on its own and carries its own status, and every OK
// result the CRC32C of its bytes (ReadResult.data_crc32c, and its bulk frame's), so the reader
// checks what arrived end to end.
import { ErrorCode, SpindleError, asSpindleError } from '../common/errors.js';
import {
  PublicTargetState,
  type BatchReadRequest,
  type BatchReadResponse,
  type DumpChunkMetaRequest,
  type DumpChunkMetaResponse,
  type QueryLastChunkRequest,
  type QueryLastChunkResponse,
  type ReadIO,
  type ReadResult,
} from '../proto/index.js';
import type { ChainResolver } from './chain-resolver.js';
import type { ChunkRepairer } from './chunk-repair.js';
import { DUMP_CHUNK_META_LIMIT_DEFAULT, DUMP_CHUNK_META_LIMIT_MAX } from './constants.js';
import type { StorageMetrics } from './metrics.js';
import type { ChainView } from './routing-view.js';
import { checkReadIO } from './service/validate.js';

/** A BatchRead answer plus the CRC32C of each OK result's bytes (for bulk frames; not on the wire). */
export interface BatchReadResponseWithCrcs extends BatchReadResponse {
  dataCrc32cs: Array<number | undefined>;
}

/**
 * Test-only fault (SPINDLE_TEST_DAMAGE_READ_RESULTS=1 in a storage node's environment): every OK
 * result leaves with one byte flipped after its CRC32C was taken, as bytes damaged between the
 * node's check and the reader. Tests prove with it that readers check results end to end.
 */
const DAMAGE_READ_RESULTS = process.env.SPINDLE_TEST_DAMAGE_READ_RESULTS === '1';

export interface ReadOperatorDeps {
  resolver: ChainResolver;
  metrics?: StorageMetrics;
  /** Repairs a local chunk whose read failed its checksum (the client reads another replica). */
  repairer?: ChunkRepairer;
}

export class ReadOperator {
  constructor(private readonly deps: ReadOperatorDeps) {}

  async onBatchRead(request: BatchReadRequest): Promise<BatchReadResponseWithCrcs> {
    const read = await Promise.all(request.ios.map((io) => this.readOne(io)));
    return { results: read.map((r) => r.result), dataCrc32cs: read.map((r) => r.dataCrc32c) };
  }

  private async readOne(io: ReadIO): Promise<{ result: ReadResult; dataCrc32c: number | undefined }> {
    try {
      const chunk = checkReadIO(io);
      const { view, target } = await this.deps.resolver.resolve(io.chainId, io.chainVersion);
      requireServing(view);
      const read = await target.engine.read(chunk.ino, chunk.index, io.offset, io.length).catch((err: unknown) => {
        if (asSpindleError(err).errorCode === ErrorCode.CHUNK_CORRUPT)
          void this.deps.repairer?.report(target, io.chainId, chunk.ino, chunk.index, 'read');
        throw err;
      });
      this.deps.metrics?.bytesRead.inc(read.data.length);
      const dataCrc32c = read.dataCrc32c;
      return {
        result: {
          status: { code: ErrorCode.OK, message: '' },
          data: DAMAGE_READ_RESULTS ? damaged(read.data) : read.data,
          chunkLength: read.chunkLength,
          commitVersion: read.commitVersion,
          dataCrc32c,
        },
        dataCrc32c,
      };
    } catch (err) {
      const error = asSpindleError(err);
      return {
        result: {
          status: { code: error.errorCode, message: error.message },
          data: Buffer.alloc(0),
          chunkLength: 0,
          commitVersion: 0,
        },
        dataCrc32c: undefined,
      };
    }
  }

  async onQueryLastChunk(request: QueryLastChunkRequest): Promise<QueryLastChunkResponse> {
    const { view, target } = await this.deps.resolver.resolve(request.chainId, request.chainVersion, {
      allowAnyVersion: true,
    });
    requireServing(view);
    const last = target.engine.lastChunk(request.ino);
    return last === undefined
      ? { found: false, index: 0, length: 0 }
      : { found: true, index: last.index, length: last.length };
  }

  async onDumpChunkMeta(request: DumpChunkMetaRequest): Promise<DumpChunkMetaResponse> {
    const { target } = await this.deps.resolver.resolve(request.chainId, request.chainVersion, {
      allowAnyVersion: true,
    });
    const limit = Math.min(
      request.limit === 0 ? DUMP_CHUNK_META_LIMIT_DEFAULT : request.limit,
      DUMP_CHUNK_META_LIMIT_MAX,
    );
    const page = target.engine.dump({ after: request.after, limit, ino: request.ino });
    return {
      chunks: page.chunks.map((c) => ({
        chunk: { ino: c.ino, index: c.index },
        commitVersion: c.commitVersion,
        updateVersion: c.updateVersion,
        chainVersion: c.chainVersion,
        length: c.length,
        crc32c: c.crc32c,
      })),
      hasMore: page.hasMore,
    };
  }
}

/** A copy of `data` with its middle byte flipped (DAMAGE_READ_RESULTS). */
function damaged(data: Buffer): Buffer {
  if (data.length === 0) return data;
  const copy = Buffer.from(data);
  copy[copy.length >> 1]! ^= 0xff;
  return copy;
}

function requireServing(view: ChainView): void {
  if (view.localState !== PublicTargetState.SERVING) {
    throw new SpindleError(
      ErrorCode.TARGET_NOT_SERVING,
      `target ${view.localTargetId} of chain ${view.chainId} ` +
        `is ${PublicTargetState[view.localState] ?? view.localState}; read another replica`,
    );
  }
}
