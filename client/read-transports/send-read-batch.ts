// Which transport carries one BatchRead (docs/performance.md): to a node without a bulk listener
// (or with dataTransport 'grpc'), a gRPC call with the bytes inline; to one with a listener, the
// bytes as frames straight into the callers' buffers when any range is large, else the whole batch
// as one call on the bulk session.
import type { BulkSessions } from '../bulk-sessions.js';
import { READ_BULK_MIN_BYTES } from '../constants.js';
import { sendBulkCallBatch } from './bulk-call-batch.js';
import { sendBulkFramesBatch } from './bulk-frames-batch.js';
import { sendGrpcBatch } from './grpc-batch.js';
import type { ReadEntry, ReadTransportContext } from './read-entry.js';

/**
 * One BatchRead to one node, carrying entries of one or several callers; fills each caller's
 * buffer (unless it gave up meanwhile) and marks each item done or failed.
 */
export async function sendReadBatch(
  ctx: ReadTransportContext,
  bulk: BulkSessions | undefined,
  address: string,
  entries: ReadEntry[],
  signal: AbortSignal,
): Promise<void> {
  // Every entry of a batch reads from one node, so from one bulk address (or none).
  const bulkAddress = bulk === undefined ? undefined : entries[0]!.item.bulkAddress;
  if (bulk === undefined || bulkAddress === undefined) return sendGrpcBatch(ctx, address, entries, signal);
  if (entries.some((entry) => entry.item.length >= READ_BULK_MIN_BYTES))
    return sendBulkFramesBatch(ctx, bulk, address, bulkAddress, entries, signal);
  return sendBulkCallBatch(ctx, bulk, address, bulkAddress, entries, signal);
}
