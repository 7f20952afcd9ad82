// A BatchRead as a plain gRPC call: the bytes of every result inline in the answer. The transport
// of nodes without a bulk listener, and of every node when config.dataTransport is 'grpc'.
import { callUnary } from '../../common/rpc.js';
import type { BatchReadResponse } from '../../proto/index.js';
import { failBatch, takeInlineResults } from './batch-outcome.js';
import { readIOs, type ReadEntry, type ReadTransportContext } from './read-entry.js';

/** Sends the entries as one BatchRead to `address`; each entry ends filled or with its error. */
export async function sendGrpcBatch(
  ctx: ReadTransportContext,
  address: string,
  entries: ReadEntry[],
  signal: AbortSignal,
): Promise<void> {
  let response: BatchReadResponse;
  try {
    const client = ctx.connections.get(address);
    response = await callUnary(client, client.batchRead, { ios: readIOs(ctx, entries) }, 'storage.BatchRead', {
      timeoutMs: ctx.config.rpcTimeoutMs,
      signal,
    });
  } catch (err) {
    failBatch(ctx, address, entries, err);
    return;
  }
  takeInlineResults(address, entries, response);
}
