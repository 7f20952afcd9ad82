// Checks of requests as they arrive from the wire: every number in range, every field present,
// the data's CRC right. Bad input is refused here with a message naming the field, before any
// state is touched.
import { checkChunkSize } from '../../common/chunk-size.js';
import { CHUNK_SIZE_MAX_BYTES } from '../../common/constants.js';
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { validateClientId } from '../../common/names.js';
import {
  UpdateType,
  type BatchReadRequest,
  type DumpChunkMetaRequest,
  type QueryLastChunkRequest,
  type ReadIO,
  type RemoveChunksRequest,
  type UpdateRequest,
  type WriteRequest,
} from '../../proto/index.js';
import { checkChunkAddress, type ChunkAddress } from '../chunk-engine/chunk-key.js';
import { BATCH_READ_IOS_MAX, CHUNK_INDEX_MAX, INO_MAX } from '../constants.js';

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}

function checkInteger(value: number, what: string, max: number, min = 0): void {
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw invalid(`${what} must be an integer in [${min}, ${max}], got ${value}`);
}

function checkChainId(chainId: number): void {
  checkInteger(chainId, 'chain_id', 0xffff_ffff, 1);
}

interface UpdateFields {
  type: UpdateType;
  offset: number;
  data: Buffer;
  dataCrc32c: number;
  chunkSizeBytes: number;
}

/**
 * `dataCrcVerified`: the bytes came from a bulk frame the transport already checked against
 * `data_crc32c` (common/bulk `expectCrc32c`), so they are not checksummed a second time.
 */
function checkUpdateFields(request: UpdateFields, allowed: readonly UpdateType[], dataCrcVerified: boolean): void {
  if (!allowed.includes(request.type)) {
    throw invalid(
      `update type ${UpdateType[request.type] ?? request.type} is not accepted here ` +
        `(use ${allowed.map((t) => UpdateType[t]).join(', ')})`,
    );
  }
  checkChunkSize(request.chunkSizeBytes, 'chunk_size_bytes');
  checkInteger(request.offset, 'offset', CHUNK_SIZE_MAX_BYTES);
  const data = request.data ?? Buffer.alloc(0);
  switch (request.type) {
    case UpdateType.WRITE:
      if (request.offset + data.length > request.chunkSizeBytes) {
        throw invalid(
          `write of ${data.length} bytes at offset ${request.offset} ends past the chunk size ` +
            `${request.chunkSizeBytes}; split writes at chunk boundaries`,
        );
      }
      break;
    case UpdateType.REPLACE:
      if (request.offset !== 0) throw invalid('a REPLACE update must have offset 0');
      if (data.length > request.chunkSizeBytes)
        throw invalid(`replace of ${data.length} bytes exceeds the chunk size ${request.chunkSizeBytes}`);
      break;
    case UpdateType.TRUNCATE:
      if (request.offset > request.chunkSizeBytes)
        throw invalid(`truncate to ${request.offset} bytes exceeds the chunk size ${request.chunkSizeBytes}`);
      if (data.length !== 0) throw invalid('a TRUNCATE carries no data');
      break;
    case UpdateType.REMOVE:
      if (data.length !== 0) throw invalid('a REMOVE carries no data');
      break;
  }
  if (!dataCrcVerified && crc32c(data) !== request.dataCrc32c >>> 0) {
    throw new SpindleError(
      ErrorCode.CHECKSUM_MISMATCH,
      `data of ${data.length} bytes has CRC32C ${crc32c(data)} but the request says ${request.dataCrc32c}; ` +
        'the bytes were damaged on the way, resend',
    );
  }
}

/** A client write: WRITE, TRUNCATE or REMOVE of one chunk. Returns the chunk address. */
export function checkWriteRequest(request: WriteRequest, dataCrcVerified = false): ChunkAddress {
  checkChainId(request.chainId);
  const chunk = checkChunkAddress(request.chunk);
  checkUpdateFields(request, [UpdateType.WRITE, UpdateType.TRUNCATE, UpdateType.REMOVE], dataCrcVerified);
  checkInteger(request.channelId, 'channel_id', 0xffff_ffff);
  if (request.channelId !== 0) {
    if (!request.tag?.clientId) throw invalid('a write on a channel needs tag.client_id');
    validateClientId(request.tag.clientId);
    checkInteger(request.seqnum, 'seqnum', Number.MAX_SAFE_INTEGER, 1);
  }
  return chunk;
}

export function checkUpdateRequest(request: UpdateRequest, dataCrcVerified = false): ChunkAddress {
  checkChainId(request.chainId);
  const chunk = checkChunkAddress(request.chunk);
  checkUpdateFields(
    request,
    [UpdateType.WRITE, UpdateType.REPLACE, UpdateType.TRUNCATE, UpdateType.REMOVE],
    dataCrcVerified,
  );
  checkInteger(request.updateVersion, 'update_version', Number.MAX_SAFE_INTEGER, 1);
  return chunk;
}

export function checkReadIO(io: ReadIO): ChunkAddress {
  checkChainId(io.chainId);
  const chunk = checkChunkAddress(io.chunk);
  checkInteger(io.offset, 'offset', CHUNK_SIZE_MAX_BYTES);
  checkInteger(io.length, 'length', CHUNK_SIZE_MAX_BYTES);
  return chunk;
}

/** The request as a whole (items are checked one by one and fail on their own). */
export function checkBatchReadRequest(request: BatchReadRequest, readBatchMaxBytes: number): void {
  if (request.ios.length > BATCH_READ_IOS_MAX)
    throw invalid(`a batch read has ${request.ios.length} items; the limit is ${BATCH_READ_IOS_MAX}`);
  let total = 0;
  for (const io of request.ios) total += Number.isFinite(io.length) ? io.length : 0;
  if (total > readBatchMaxBytes) {
    throw new SpindleError(
      ErrorCode.RPC_TOO_LARGE,
      `a batch read asks for ${total} bytes; this node answers at most ${readBatchMaxBytes} per call`,
    );
  }
}

export function checkRemoveChunksRequest(request: RemoveChunksRequest): void {
  checkChainId(request.chainId);
  checkInteger(request.ino, 'ino', INO_MAX);
  checkInteger(request.fromIndex, 'from_index', CHUNK_INDEX_MAX);
  checkInteger(request.fromTargetId, 'from_target_id', 0xffff_ffff);
}

export function checkQueryLastChunkRequest(request: QueryLastChunkRequest): void {
  checkChainId(request.chainId);
  checkInteger(request.ino, 'ino', INO_MAX);
}

export function checkDumpChunkMetaRequest(request: DumpChunkMetaRequest): void {
  checkChainId(request.chainId);
  if (request.after !== undefined) checkChunkAddress(request.after);
  checkInteger(request.ino, 'ino', INO_MAX);
  checkInteger(request.limit, 'limit', 0xffff_ffff);
}
