// A batch of small reads as one call on the bulk session to the node (common/storage-bulk-calls.ts):
// results inline in the answer, as over gRPC, without the fixed cost of a grpc-js call, which
// dominates a batch of small ranges (docs/performance.md).
import { decodeBatchReadAnswer, encodeBatchReadCall } from '../../common/storage-bulk-calls.js';
import type { BatchReadResponse } from '../../proto/index.js';
import type { BulkSessions } from '../bulk-sessions.js';
import { failBatch, takeInlineResults } from './batch-outcome.js';
import { readIOs, type ReadEntry, type ReadTransportContext } from './read-entry.js';

/** Sends the entries as one BatchRead call on the session to `bulkAddress` (the node at `address`). */
export async function sendBulkCallBatch(
  ctx: ReadTransportContext,
  bulk: BulkSessions,
  address: string,
  bulkAddress: string,
  entries: ReadEntry[],
  signal: AbortSignal,
): Promise<void> {
  let response: BatchReadResponse;
  try {
    const channel = await bulk.get(bulkAddress, signal);
    const answer = await channel.call(encodeBatchReadCall({ ios: readIOs(ctx, entries) }), {
      timeoutMs: ctx.config.rpcTimeoutMs,
      signal,
    });
    response = decodeBatchReadAnswer(answer);
  } catch (err) {
    failBatch(ctx, address, entries, err);
    return;
  }
  takeInlineResults(address, entries, response);
}
