// Exactly-once mutations: a mutating request carries a tag (client id, request id). Its result —
// the encoded response, or a final error — is stored under IDEM in the same transaction as the
// mutation, so a retry after a lost response returns the first result instead of applying twice.
//
// - Success is recorded in the mutation's own transaction (atomic with it). Operations with work
//   after the commit (truncate cutting chunks on storage) record after that work succeeded, so a
//   retry after a failed storage call re-runs it instead of replaying a success.
// - A final error (ENOENT, EEXIST, …: not retryable) aborts the mutation's transaction, so it is
//   recorded by a second small transaction. Retryable errors are never recorded: a retry runs again.
// - A tag reused for a different request (other method or other fields) is refused with
//   DUPLICATE_REQUEST_MISMATCH.
// - Records expire after MetaConfig.idempotencyTtlMs; `sweepIdempotency` deletes expired ones
//   through a time-ordered index, in bounded batches.
import { createHash } from 'node:crypto';
import { ErrorCode, SpindleError, isKnownErrorCode } from '../../common/errors.js';
import { validateClientId } from '../../common/names.js';
import type { KvEngine, KvTxn } from '../kv/engine.js';
import type { RequestTag } from '../../proto/index.js';
import { IDEMPOTENCY_SWEEP_BATCH } from './constants.js';
import {
  decodeIdempotencyRecord,
  encodeIdempotencyRecord,
  idempotencyExpiryKey,
  idempotencyExpiryRange,
  idempotencyKey,
  idempotencyKeyOfExpiry,
  type IdempotencyRecord,
} from './schema.js';

export interface IdempotencyTag {
  clientId: string;
  requestId: number;
}

/**
 * The tag of a request, or undefined when it carries none (then it is not deduplicated). A client
 * id over CLIENT_ID_MAX_BYTES is refused (INVALID_ARGUMENT) before any transaction.
 */
export function tagOf(tag: RequestTag | undefined): IdempotencyTag | undefined {
  if (tag === undefined || tag.clientId === '') return undefined;
  validateClientId(tag.clientId);
  return { clientId: tag.clientId, requestId: tag.requestId };
}

export function requestDigest(requestBytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(requestBytes).digest().subarray(0, 16);
}

export async function readRecord(txn: KvTxn, tag: IdempotencyTag): Promise<IdempotencyRecord | undefined> {
  const bytes = await txn.get(idempotencyKey(tag.clientId, tag.requestId));
  return bytes === undefined ? undefined : decodeIdempotencyRecord(bytes);
}

export function writeRecord(txn: KvTxn, tag: IdempotencyTag, record: IdempotencyRecord): void {
  txn.put(idempotencyKey(tag.clientId, tag.requestId), encodeIdempotencyRecord(record));
  txn.put(idempotencyExpiryKey(record.createdAtUs, tag.clientId, tag.requestId), new Uint8Array());
}

/** Records a result in its own transaction unless one is already there (the first result wins). */
export async function storeRecordOnce(kv: KvEngine, tag: IdempotencyTag, record: IdempotencyRecord): Promise<void> {
  await kv.transaction(async (txn) => {
    if ((await readRecord(txn, tag)) !== undefined) return;
    writeRecord(txn, tag, record);
  });
}

/** Errors whose outcome a retry should see again; retryable and internal failures run again instead. */
export function isRecordableError(err: unknown): err is SpindleError {
  if (!(err instanceof SpindleError) || err.retryable) return false;
  const code = err.errorCode;
  return (
    (code >= 3000 && code < 4000) || code === ErrorCode.INVALID_ARGUMENT || code === ErrorCode.CHAIN_TABLE_NOT_FOUND
  );
}

/** The stored result of a retried request: its response bytes, or the stored error thrown again. */
export function replay(record: IdempotencyRecord, method: string, digest: Uint8Array, tag: IdempotencyTag): Uint8Array {
  if (record.method !== method || Buffer.compare(Buffer.from(record.digest), Buffer.from(digest)) !== 0) {
    throw new SpindleError(
      ErrorCode.DUPLICATE_REQUEST_MISMATCH,
      `request id ${tag.requestId} of client ${tag.clientId} ` +
        `was already used for a different ${record.method} request; use a new request id`,
    );
  }
  if (record.error !== undefined) {
    const code = isKnownErrorCode(record.error.code) ? record.error.code : ErrorCode.INTERNAL;
    throw new SpindleError(code, record.error.message);
  }
  return record.response ?? new Uint8Array();
}

/**
 * Deletes records created more than `ttlMs` before `nowUs`, oldest first, at most `limit` in all
 * (in transactions of IDEMPOTENCY_SWEEP_BATCH). Returns how many were deleted.
 */
export async function sweepIdempotency(
  kv: KvEngine,
  nowUs: number,
  ttlMs: number,
  limit = Number.MAX_SAFE_INTEGER,
): Promise<number> {
  const cutoffUs = Math.max(0, nowUs - ttlMs * 1000);
  let removed = 0;
  while (removed < limit) {
    const batch = Math.min(IDEMPOTENCY_SWEEP_BATCH, limit - removed);
    const count = await kv.transaction(async (txn) => {
      const range = idempotencyExpiryRange(cutoffUs);
      const pairs = await txn.getRange(range.start, range.end, { limit: batch });
      for (const pair of pairs) {
        txn.delete(pair.key);
        txn.delete(idempotencyKeyOfExpiry(pair.key));
      }
      return pairs.length;
    });
    removed += count;
    if (count < batch) break;
  }
  return removed;
}
