// Storage requests answered over a bulk session (`BulkChannel.call`, common/bulk/transport.ts)
// instead of a gRPC call: batches of small chunk reads, whose cost on gRPC is the fixed per-call
// work of grpc-js, not bytes (docs/performance.md, rand-read).
//
// A call's payload is one method byte followed by the request as the protobuf message of
// proto/storage.proto or proto/kvstore.proto; the answer is the method's response message (encoded with the copy-saving
// codec of storage-codec.ts; result bytes inline). Errors of the whole call travel as the bulk
// transport's ERROR frames (an ErrorCode and a message); per-item errors stay in each result's
// Status, exactly as over gRPC.
import { ErrorCode, SpindleError } from './errors.js';
import { itemLimitError } from './request-item-limits.js';
import { decodeBatchReadResponse, encodeBatchReadResponse } from './storage-codec.js';
import {
  BatchReadRequest,
  KvExistsRequest,
  KvExistsResponse,
  KvGetRequest,
  KvGetResponse,
  KvMatchPrefixRequest,
  KvMatchPrefixResponse,
  KvPutRequest,
  KvPutResponse,
  KvRemoveRequest,
  KvRemoveResponse,
  type BatchReadResponse,
} from '../proto/index.js';

/** The methods a storage node answers over bulk sessions. */
export enum StorageBulkMethod {
  BATCH_READ = 1,
  KV_PUT = 2,
  KV_GET = 3,
  KV_EXISTS = 4,
  KV_REMOVE = 5,
  KV_MATCH_PREFIX = 6,
}

/** A generated message type: what encoding and decoding one needs. */
interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

export type KvBulkMethod =
  | StorageBulkMethod.KV_PUT
  | StorageBulkMethod.KV_GET
  | StorageBulkMethod.KV_EXISTS
  | StorageBulkMethod.KV_REMOVE
  | StorageBulkMethod.KV_MATCH_PREFIX;

interface KvRequests {
  [StorageBulkMethod.KV_PUT]: KvPutRequest;
  [StorageBulkMethod.KV_GET]: KvGetRequest;
  [StorageBulkMethod.KV_EXISTS]: KvExistsRequest;
  [StorageBulkMethod.KV_REMOVE]: KvRemoveRequest;
  [StorageBulkMethod.KV_MATCH_PREFIX]: KvMatchPrefixRequest;
}

interface KvAnswers {
  [StorageBulkMethod.KV_PUT]: KvPutResponse;
  [StorageBulkMethod.KV_GET]: KvGetResponse;
  [StorageBulkMethod.KV_EXISTS]: KvExistsResponse;
  [StorageBulkMethod.KV_REMOVE]: KvRemoveResponse;
  [StorageBulkMethod.KV_MATCH_PREFIX]: KvMatchPrefixResponse;
}

export type KvRequestOf<M extends KvBulkMethod> = KvRequests[M];
export type KvAnswerOf<M extends KvBulkMethod> = KvAnswers[M];

/**
 * The KV-cache store's calls (proto/kvstore.proto) as bulk calls: a KvPut's values and a KvGet's
 * answer skip grpc-js's per-byte work, the small calls its per-call cost (docs/kvcache.md).
 */
const KV_BULK_CALLS: {
  [M in KvBulkMethod]: { name: string; request: MessageCodec<KvRequests[M]>; answer: MessageCodec<KvAnswers[M]> };
} = {
  [StorageBulkMethod.KV_PUT]: { name: 'KvPut', request: KvPutRequest, answer: KvPutResponse },
  [StorageBulkMethod.KV_GET]: { name: 'KvGet', request: KvGetRequest, answer: KvGetResponse },
  [StorageBulkMethod.KV_EXISTS]: { name: 'KvExists', request: KvExistsRequest, answer: KvExistsResponse },
  [StorageBulkMethod.KV_REMOVE]: { name: 'KvRemove', request: KvRemoveRequest, answer: KvRemoveResponse },
  [StorageBulkMethod.KV_MATCH_PREFIX]: {
    name: 'KvMatchPrefix',
    request: KvMatchPrefixRequest,
    answer: KvMatchPrefixResponse,
  },
};

export type KvBulkCall = {
  [M in KvBulkMethod]: { method: M; request: KvRequestOf<M> };
}[KvBulkMethod];

export type StorageBulkCall = { method: StorageBulkMethod.BATCH_READ; request: BatchReadRequest } | KvBulkCall;

function withMethod(method: StorageBulkMethod, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = method;
  out.set(body, 1);
  return out;
}

export function encodeBatchReadCall(request: BatchReadRequest): Buffer {
  return withMethod(StorageBulkMethod.BATCH_READ, BatchReadRequest.encode(request).finish());
}

export function encodeKvCall<M extends KvBulkMethod>(method: M, request: KvRequestOf<M>): Buffer {
  return withMethod(method, KV_BULK_CALLS[method].request.encode(request).finish());
}

function isKvMethod(method: number): method is KvBulkMethod {
  return Object.hasOwn(KV_BULK_CALLS, method);
}

/**
 * Decodes a call's payload; RPC_MALFORMED for an unknown method or a message that does not decode,
 * INVALID_ARGUMENT for a batch over its item limit — counted on the raw bytes before decoding, as
 * the same call over gRPC is (common/request-item-limits.ts).
 */
export function decodeStorageBulkCall(payload: Uint8Array): StorageBulkCall {
  if (payload.length === 0) throw new SpindleError(ErrorCode.RPC_MALFORMED, 'empty storage bulk call');
  const method = payload[0]!;
  const body = payload.subarray(1);
  if (method === StorageBulkMethod.BATCH_READ) {
    throwOverItemLimit('/spindle.Storage/BatchRead', body);
    return { method, request: decodeOrMalformed('BatchRead', () => BatchReadRequest.decode(body)) };
  }
  if (isKvMethod(method)) {
    const { name, request } = KV_BULK_CALLS[method];
    throwOverItemLimit(`/spindle.KvStore/${name}`, body);
    return { method, request: decodeOrMalformed(name, () => request.decode(body)) } as KvBulkCall;
  }
  throw new SpindleError(
    ErrorCode.RPC_MALFORMED,
    `unknown storage bulk call method ${method} (this node answers BatchRead = ${StorageBulkMethod.BATCH_READ} ` +
      `and the KV-cache calls ${StorageBulkMethod.KV_PUT}..${StorageBulkMethod.KV_MATCH_PREFIX})`,
  );
}

function throwOverItemLimit(grpcPath: string, body: Uint8Array): void {
  const error = itemLimitError(grpcPath, body);
  if (error !== undefined) throw error;
}

function decodeOrMalformed<T>(name: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw new SpindleError(
      ErrorCode.RPC_MALFORMED,
      `storage bulk call ${name} does not decode: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

export function encodeKvAnswer<M extends KvBulkMethod>(method: M, answer: KvAnswerOf<M>): Uint8Array {
  return KV_BULK_CALLS[method].answer.encode(answer).finish();
}

/** The answer of a KV call; RPC_MALFORMED if it does not decode. */
export function decodeKvAnswer<M extends KvBulkMethod>(method: M, answer: Uint8Array): KvAnswerOf<M> {
  const { name, answer: codec } = KV_BULK_CALLS[method];
  try {
    return codec.decode(answer);
  } catch (err) {
    throw new SpindleError(
      ErrorCode.RPC_MALFORMED,
      `storage bulk answer to ${name} does not decode: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

export const encodeBatchReadAnswer = (response: BatchReadResponse): Buffer => encodeBatchReadResponse(response);

/** The answer of a BatchRead call; result bytes are views of `answer`. RPC_MALFORMED if it does not decode. */
export function decodeBatchReadAnswer(answer: Uint8Array): BatchReadResponse {
  try {
    return decodeBatchReadResponse(answer);
  } catch (err) {
    throw new SpindleError(
      ErrorCode.RPC_MALFORMED,
      `storage bulk answer to BatchRead does not decode: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
