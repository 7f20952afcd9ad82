// Storage requests answered over a bulk session (`BulkChannel.call`, common/bulk/transport.ts)
// instead of a gRPC call: batches of small chunk reads, whose cost on gRPC is the fixed per-call
// work of grpc-js, not bytes (docs/performance.md, rand-read).
//
// A call's payload is one method byte followed by the request as the protobuf message of
// proto/storage.proto; the answer is the method's response message (encoded with the copy-saving
// codec of storage-codec.ts; result bytes inline). Errors of the whole call travel as the bulk
// transport's ERROR frames (an ErrorCode and a message); per-item errors stay in each result's
// Status, exactly as over gRPC.
import { ErrorCode, SpindleError } from './errors.js';
import { decodeBatchReadResponse, encodeBatchReadResponse } from './storage-codec.js';
import { BatchReadRequest, type BatchReadResponse } from '../proto/index.js';

/** The methods a storage node answers over bulk sessions. */
export enum StorageBulkMethod {
  BATCH_READ = 1,
}

export type StorageBulkCall = { method: StorageBulkMethod.BATCH_READ; request: BatchReadRequest };

export function encodeBatchReadCall(request: BatchReadRequest): Buffer {
  const body = BatchReadRequest.encode(request).finish();
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = StorageBulkMethod.BATCH_READ;
  out.set(body, 1);
  return out;
}

/** Decodes a call's payload; RPC_MALFORMED for an unknown method or a message that does not decode. */
export function decodeStorageBulkCall(payload: Uint8Array): StorageBulkCall {
  if (payload.length === 0) throw new SpindleError(ErrorCode.RPC_MALFORMED, 'empty storage bulk call');
  const method = payload[0];
  if (method !== StorageBulkMethod.BATCH_READ) {
    throw new SpindleError(
      ErrorCode.RPC_MALFORMED,
      `unknown storage bulk call method ${method} (this node answers BatchRead = ${StorageBulkMethod.BATCH_READ})`,
    );
  }
  try {
    return { method, request: BatchReadRequest.decode(payload.subarray(1)) };
  } catch (err) {
    throw new SpindleError(
      ErrorCode.RPC_MALFORMED,
      `storage bulk call BatchRead does not decode: ${(err as Error).message}`,
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
