// Checks and conversions between proto/kvcache.proto messages and the client library's KvCache
// (client/kvcache): every request is checked whole, under its proto field names, before anything
// is sent to the storage nodes. Pure: no I/O.
//
// Guarantees: a bad request throws INVALID_ARGUMENT naming the field (`keys[3] is empty`,
// `pages[1].value has 100 bytes`, `namespace.kv_dtype ...`; a bad namespace lists every bad field);
// the limits are the storage nodes' (docs/kvcache.md "Bad input"), checked here so that the caller
// hears its own field names and no batch is half sent.
import type { KvNamespaceFields, KvPageToPut } from '../client/index.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import {
  KvCacheGetStatus,
  type KvCacheNamespace,
  type KvCachePage,
  KvCachePutStatus,
  type KvCachePutResult,
  KvCacheRemoveStatus,
  type KvCacheRemoveResult,
  KvPutStatus,
  type KvPutResult,
  KvRemoveStatus,
  type KvRemoveResult,
} from '../proto/index.js';

/** A page key: a SHA-256-sized hash-chain link. */
const PAGE_KEY_BYTES = 32;
/** Keys or pages in one Put, Get, Exists or Remove: the storage nodes' batch limit. */
const KV_BATCH_KEYS_MAX = 128;
/** Keys of one MatchPrefix chain (a 1M-token prompt at 64 tokens per page). */
const MATCH_PREFIX_KEYS_MAX = 16_384;
const PAGE_VALUE_BYTES_MIN = 16 * 1024;
const PAGE_VALUE_BYTES_MAX = 32 * 1024 * 1024;
/** The longest lease and TTL the storage nodes take. */
const LEASE_MS_MAX = 10 * 60 * 1000;
const TTL_MS_MAX = 24 * 60 * 60 * 1000;

const KV_DTYPES = ['float16', 'bfloat16', 'float32', 'float8_e4m3', 'float8_e5m2', 'int8'];
const NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
const LAYOUT_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const MODEL_ID_LENGTH_MAX = 256;
const PAGE_TOKENS_MAX = 65_536;
const TP_SIZE_MAX = 1024;
const REPLICAS_MAX = 16;

function invalid(message: string): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, message);
}

/** The namespace of a request, every bad field listed in one error. */
export function namespaceFields(namespace: KvCacheNamespace | undefined): KvNamespaceFields {
  if (namespace === undefined) throw invalid('namespace is required: the KV-cache namespace config of the caller');
  const n = namespace;
  const problems: string[] = [];
  if (!NAME_PATTERN.test(n.name)) problems.push(`name must be 1..128 of [A-Za-z0-9._-], got ${JSON.stringify(n.name)}`);
  if (n.modelId.length === 0 || n.modelId.length > MODEL_ID_LENGTH_MAX) {
    problems.push(`model_id must be 1..${MODEL_ID_LENGTH_MAX} characters, got ${n.modelId.length}`);
  }
  if (!KV_DTYPES.includes(n.kvDtype)) {
    problems.push(`kv_dtype must be one of ${KV_DTYPES.join(', ')}, got ${JSON.stringify(n.kvDtype)}`);
  }
  if (!LAYOUT_PATTERN.test(n.layout)) {
    problems.push(`layout must be 1..64 of [A-Za-z0-9._:-], got ${JSON.stringify(n.layout)}`);
  }
  if (n.pageTokens < 1 || n.pageTokens > PAGE_TOKENS_MAX) {
    problems.push(`page_tokens must be 1..${PAGE_TOKENS_MAX}, got ${n.pageTokens}`);
  }
  if (n.tpSize < 1 || n.tpSize > TP_SIZE_MAX) problems.push(`tp_size must be 1..${TP_SIZE_MAX}, got ${n.tpSize}`);
  else if (n.tpRank >= n.tpSize)
    problems.push(`tp_rank must be 0..${n.tpSize - 1} (tp_size ${n.tpSize}), got ${n.tpRank}`);
  if (n.replicas < 1 || n.replicas > REPLICAS_MAX)
    problems.push(`replicas must be 1..${REPLICAS_MAX}, got ${n.replicas}`);
  if (n.capacityBytes < PAGE_VALUE_BYTES_MIN) {
    problems.push(
      `capacity_bytes must be at least ${PAGE_VALUE_BYTES_MIN} (one smallest page), got ${n.capacityBytes}`,
    );
  }
  if (problems.length > 0) throw invalid(`bad namespace: ${problems.map((p) => `namespace.${p}`).join('; ')}`);
  const { name, modelId, kvDtype, layout, pageTokens, tpRank, tpSize, replicas, capacityBytes } = n;
  return { name, modelId, kvDtype, layout, pageTokens, tpRank, tpSize, replicas, capacityBytes };
}

function checkKey(key: Uint8Array, field: string): void {
  if (key.length === 0) throw invalid(`${field} is empty: a page key has ${PAGE_KEY_BYTES} bytes`);
  if (key.length !== PAGE_KEY_BYTES) {
    throw invalid(`${field} has ${key.length} bytes: a page key has ${PAGE_KEY_BYTES} bytes`);
  }
}

function checkCount(count: number, field: string, max: number): void {
  if (count === 0) throw invalid(`${field} is empty: give 1..${max}`);
  if (count > max) throw invalid(`${field} has ${count} entries: at most ${max} per call`);
}

/** Keys of a Get, Exists or Remove (1..128 of 32 bytes). */
export function batchKeys(keys: readonly Buffer[]): Buffer[] {
  checkCount(keys.length, 'keys', KV_BATCH_KEYS_MAX);
  keys.forEach((key, i) => checkKey(key, `keys[${i}]`));
  return [...keys];
}

/** The keys of a MatchPrefix chain (1..16,384 of 32 bytes). */
export function chainKeys(keys: readonly Buffer[]): Buffer[] {
  checkCount(keys.length, 'keys', MATCH_PREFIX_KEYS_MAX);
  keys.forEach((key, i) => checkKey(key, `keys[${i}]`));
  return [...keys];
}

/** The root key of a Get, Exists or Remove: `root_key`, or keys[0] when empty. */
export function rootOfKeys(rootKey: Buffer, keys: readonly Buffer[]): Buffer {
  if (rootKey.length === 0) return keys[0]!;
  checkKey(rootKey, 'root_key');
  return rootKey;
}

export function leaseMs(value: number | undefined): number | undefined {
  if (value !== undefined && value > LEASE_MS_MAX) throw invalid(`lease_ms must be 0..${LEASE_MS_MAX}, got ${value}`);
  return value;
}

/** The pages of a Put (1..128) with their root key, checked whole. */
export function putPages(rootKey: Buffer, pages: readonly KvCachePage[]): { root: Buffer; pages: KvPageToPut[] } {
  checkCount(pages.length, 'pages', KV_BATCH_KEYS_MAX);
  const checked = pages.map((page, i): KvPageToPut => {
    const field = `pages[${i}]`;
    checkKey(page.key, `${field}.key`);
    if (page.parentKey !== undefined) {
      checkKey(page.parentKey, `${field}.parent_key`);
      if (page.parentKey.equals(page.key))
        throw invalid(`${field}.parent_key equals its key: a page is not its own parent`);
    }
    const size = page.value.length;
    if (size < PAGE_VALUE_BYTES_MIN || size > PAGE_VALUE_BYTES_MAX) {
      throw invalid(
        `${field}.value has ${size} bytes: a page has ${PAGE_VALUE_BYTES_MIN}..${PAGE_VALUE_BYTES_MAX} ` +
          '(16 KiB..32 MiB)',
      );
    }
    if (page.ttlMs !== undefined && (page.ttlMs < 1 || page.ttlMs > TTL_MS_MAX)) {
      throw invalid(`${field}.ttl_ms must be 1..${TTL_MS_MAX} when given, got ${page.ttlMs}`);
    }
    return { key: page.key, parentKey: page.parentKey, value: page.value, ttlMs: page.ttlMs };
  });
  if (rootKey.length > 0) {
    checkKey(rootKey, 'root_key');
    return { root: rootKey, pages: checked };
  }
  if (checked[0]!.parentKey !== undefined) {
    throw invalid(
      'root_key is required when pages[0] has a parent_key (a suffix of a chain): give the first key of the chain, ' +
        'which places the prefix tree',
    );
  }
  return { root: checked[0]!.key as Buffer, pages: checked };
}

const PUT_STATUSES = new Map<KvPutStatus, [KvCachePutStatus, string]>([
  [KvPutStatus.KV_PUT_STORED, [KvCachePutStatus.KV_CACHE_PUT_STORED, '']],
  [KvPutStatus.KV_PUT_ALREADY_PRESENT, [KvCachePutStatus.KV_CACHE_PUT_ALREADY_PRESENT, '']],
  [
    KvPutStatus.KV_PUT_PARENT_MISSING,
    [KvCachePutStatus.KV_CACHE_PUT_PARENT_MISSING, 'the parent page is not stored: put the parent first'],
  ],
  [
    KvPutStatus.KV_PUT_PARENT_EXPIRED,
    [KvCachePutStatus.KV_CACHE_PUT_PARENT_EXPIRED, "the parent's TTL passed (only a lease keeps it): no new children"],
  ],
  [
    KvPutStatus.KV_PUT_REJECTED_MISMATCH,
    [KvCachePutStatus.KV_CACHE_PUT_REJECTED_MISMATCH, 'the key is stored with another parent or size'],
  ],
  [
    KvPutStatus.KV_PUT_REJECTED_FULL,
    [
      KvCachePutStatus.KV_CACHE_PUT_REJECTED_FULL,
      "the namespace is full on the prefix tree's storage target and bounded eviction freed too little",
    ],
  ],
  [
    KvPutStatus.KV_PUT_REJECTED_TOO_LARGE,
    [KvCachePutStatus.KV_CACHE_PUT_REJECTED_TOO_LARGE, "the page is larger than the namespace's capacity on a target"],
  ],
]);

export function putResult(result: KvPutResult): KvCachePutResult {
  const [status, reason] = PUT_STATUSES.get(result.status) ?? [
    KvCachePutStatus.KV_CACHE_PUT_STATUS_INVALID,
    `the storage node answered an unknown status ${result.status}`,
  ];
  const retryAfterMs = status === KvCachePutStatus.KV_CACHE_PUT_REJECTED_FULL ? result.retryAfterMs : 0;
  return { status, reason, retryAfterMs };
}

export function removeResult(result: KvRemoveResult): KvCacheRemoveResult {
  const status =
    result.status === KvRemoveStatus.KV_REMOVE_REMOVED
      ? KvCacheRemoveStatus.KV_CACHE_REMOVE_REMOVED
      : result.status === KvRemoveStatus.KV_REMOVE_NOT_FOUND
        ? KvCacheRemoveStatus.KV_CACHE_REMOVE_NOT_FOUND
        : result.status === KvRemoveStatus.KV_REMOVE_REJECTED_LEASED
          ? KvCacheRemoveStatus.KV_CACHE_REMOVE_REJECTED_LEASED
          : KvCacheRemoveStatus.KV_CACHE_REMOVE_STATUS_INVALID;
  return { status, removedPages: result.removedPages, retryAfterMs: result.retryAfterMs };
}

export const GET_FOUND = KvCacheGetStatus.KV_CACHE_GET_FOUND;
export const GET_MISSING = KvCacheGetStatus.KV_CACHE_GET_MISSING;
export const GET_DEFERRED = KvCacheGetStatus.KV_CACHE_GET_DEFERRED;
