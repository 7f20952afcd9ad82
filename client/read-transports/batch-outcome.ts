// How a BatchRead's answer lands in its entries: bytes into each caller's buffer (zeros for a
// hole and past a chunk's end), or the typed error of its item, or of the batch as a whole.
//
// Guarantees: an entry whose caller gave up (abandoned) is never written; an item that is done has
// its whole range of the caller's buffer filled; inline bytes are used only when they match the
// CRC32C the node sent with them (else the item fails over like a CHUNK_CORRUPT replica); a batch
// a node refused as too large lowers that node's budget and fails its items retryably (they go
// again, smaller), unless it asked for the minimum already.
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, SpindleError, asSpindleError, isKnownErrorCode } from '../../common/errors.js';
import type { BatchReadResponse, ReadResult } from '../../proto/index.js';
import type { ReadEntry, ReadTransportContext } from './read-entry.js';

/** Fills each entry from its result in a response whose bytes are inline. */
export function takeInlineResults(address: string, entries: readonly ReadEntry[], response: BatchReadResponse): void {
  entries.forEach((entry, i) => {
    if (entry.abandoned) return;
    const result = response.results[i];
    if (result === undefined) {
      entry.item.error = malformedBatch(address, response, entries.length);
      return;
    }
    const code = result.status?.code ?? 0;
    if (code === ErrorCode.OK) fillChecked(address, entry, result);
    else if (code === ErrorCode.CHUNK_NOT_FOUND) fillItem(entry, undefined);
    else entry.item.error = resultError(address, code, result.status?.message);
  });
}

/** Fills an entry from an OK result whose bytes are inline, if they match the CRC32C sent with them. */
export function fillChecked(address: string, entry: ReadEntry, result: ReadResult): void {
  const data = result.data;
  if (result.dataCrc32c === undefined) {
    entry.item.error = new SpindleError(
      ErrorCode.RPC_MALFORMED,
      `storage node ${address} sent ${data.length} bytes without their CRC32C`,
    );
  } else if (crc32c(data) !== result.dataCrc32c >>> 0) {
    entry.item.error = damagedInTransit(address, `${data.length} bytes`);
  } else {
    fillItem(entry, data);
  }
}

/**
 * Bytes from a replica that failed their CRC32C on the way: CHUNK_CORRUPT, so the read goes to
 * another replica at once (a retry of the same one may well be damaged again).
 */
export function damagedInTransit(address: string, what: string, cause?: unknown): SpindleError {
  return new SpindleError(
    ErrorCode.CHUNK_CORRUPT,
    `${what} from storage node ${address} failed their CRC32C check on the way; reading another replica`,
    { cause },
  );
}

/** Marks every entry of a batch that failed as a whole with the (typed) error. */
export function failBatch(ctx: ReadTransportContext, address: string, entries: ReadEntry[], err: unknown): void {
  let error = asSpindleError(err);
  const asked = entries.reduce((sum, entry) => sum + entry.item.length, 0);
  if (error.errorCode === ErrorCode.RPC_TOO_LARGE && ctx.budgets.refused(address, asked)) {
    // The node answers less per call than our config asks: we ask it for less, and retry.
    ctx.logger?.debug({ address, budget: ctx.budgets.of(address) }, 'storage node refused a batch read as too large');
    error = new SpindleError(ErrorCode.RPC_TOO_LARGE, error.message, { cause: error, retryable: true });
  }
  for (const entry of entries) entry.item.error = error;
}

/**
 * Completes an item with the bytes a replica returned (undefined: a hole); the rest of its
 * range reads as zeros. `inPlace`: the bytes are already in the caller's buffer.
 */
export function fillItem(entry: ReadEntry, data: Buffer | undefined, inPlace = false): void {
  const { item, target } = entry;
  const copied = data === undefined ? 0 : Math.min(data.length, item.length);
  if (copied > 0) {
    if (!inPlace) target.set(copied === data!.length ? data! : data!.subarray(0, copied), item.targetOffset);
    item.dataEnd = item.targetOffset + copied;
  }
  // A hole, or the part of the range past the chunk's end: zeros.
  if (copied < item.length) target.fill(0, item.targetOffset + copied, item.targetOffset + item.length);
  item.failovers = 0;
  item.done = true;
}

/** A BatchRead answer with fewer results than items. */
export function malformedBatch(address: string, response: BatchReadResponse, asked: number): SpindleError {
  return new SpindleError(
    ErrorCode.RPC_MALFORMED,
    `storage node ${address} answered ${response.results.length} of ${asked} reads`,
  );
}

/** The typed error of one item's status. */
export function resultError(address: string, code: number, message: string | undefined): SpindleError {
  const text = message || 'read failed';
  return isKnownErrorCode(code)
    ? new SpindleError(code, text)
    : new SpindleError(ErrorCode.INTERNAL, `storage node ${address} answered unknown code ${code}: ${text}`);
}
