// A BatchRead whose results' bytes come as frames on the bulk session to the node, straight into
// the callers' buffers: the transport of large reads from nodes with a bulk listener. The BatchRead
// message itself goes as a call on that session too.
//
// Guarantees: a frame that failed its CRC32C check is never used (its item fails over like a
// CHUNK_CORRUPT replica, though its bytes may already sit in the caller's buffer: the item is not
// done, so they are overwritten or the read fails); a receive into the caller's buffer is posted
// for every item before the call goes out, and dropped for items that answered an error or a hole,
// and for entries whose caller gave up (their frame lands in a buffer of its own); the call
// returns only once no receive can write into any caller's buffer any more.
import type { BulkChannel } from '../../common/bulk/transport.js';
import { ErrorCode, SpindleError, asSpindleError } from '../../common/errors.js';
import { decodeBatchReadAnswer, encodeBatchReadCall } from '../../common/storage-bulk-calls.js';
import type { BatchReadResponse, ReadIO } from '../../proto/index.js';
import type { BulkSessions } from '../bulk-sessions.js';
import { damagedInTransit, failBatch, fillChecked, fillItem, malformedBatch, resultError } from './batch-outcome.js';
import type { ReadEntry, ReadTransportContext } from './read-entry.js';

/**
 * Why a receive was dropped. One shared reason: abort() without one builds a DOMException with a
 * stack trace, which cost more than the rest of a small read (every receive is dropped at the end).
 */
const RECEIVE_DROPPED = new SpindleError(ErrorCode.CANCELLED, 'the BatchRead no longer waits for this frame');

/** Sends the entries as one BatchRead to `address`, its bytes as frames on the session to `bulkAddress`. */
export async function sendBulkFramesBatch(
  ctx: ReadTransportContext,
  bulk: BulkSessions,
  address: string,
  bulkAddress: string,
  entries: ReadEntry[],
  signal: AbortSignal,
): Promise<void> {
  let channel: BulkChannel;
  try {
    channel = await bulk.get(bulkAddress, signal);
  } catch (err) {
    failBatch(ctx, address, entries, err);
    return;
  }
  const ios: ReadIO[] = [];
  const receives = entries.map((entry) => {
    const { ino, item, target } = entry;
    const chain = ctx.routing.chain(item.chainId);
    const frameId = channel.nextRequestId();
    ios.push({
      chainId: item.chainId,
      chainVersion: chain?.chainVersion ?? 0,
      chunk: { ino, index: item.chunkIndex },
      offset: item.chunkOffset,
      length: item.length,
      bulkRequestId: frameId,
    });
    const stop = new AbortController();
    entry.onAbandoned = () => stop.abort(RECEIVE_DROPPED);
    const received = channel.receive(frameId, {
      // A caller that gave up while the session was being opened has its buffer back: its frame
      // goes into a buffer of its own and is dropped.
      into: entry.abandoned ? undefined : target.subarray(item.targetOffset, item.targetOffset + item.length),
      timeoutMs: ctx.config.rpcTimeoutMs,
      signal: stop.signal,
    });
    // Outcomes are read below; a dropped receive's rejection is expected.
    received.catch(() => undefined);
    return { stop, received };
  });
  const stopAll = () => {
    for (const receive of receives) if (!receive.stop.signal.aborted) receive.stop.abort(RECEIVE_DROPPED);
  };
  signal.addEventListener('abort', stopAll, { once: true });
  try {
    let response: BatchReadResponse;
    try {
      // The BatchRead itself is a call on the same session (common/storage-bulk-calls.ts), not a
      // grpc-js call: the node answers it with the same handler, which sends the frames on the
      // session it names. A grpc-js call cost the reader ≈ 8–15% of its CPU per 4 MiB read.
      const answer = await channel.call(encodeBatchReadCall({ ios, bulkSessionId: channel.sessionId }), {
        timeoutMs: ctx.config.rpcTimeoutMs,
        signal,
      });
      response = decodeBatchReadAnswer(answer);
    } catch (err) {
      stopAll();
      failBatch(ctx, address, entries, err);
      return;
    }
    await Promise.all(
      entries.map(async (entry, i) => {
        const receive = receives[i]!;
        const result = response.results[i];
        const code = result === undefined ? undefined : (result.status?.code ?? 0);
        if (entry.abandoned || code !== ErrorCode.OK || result!.bulkLength === undefined)
          receive.stop.abort(RECEIVE_DROPPED);
        if (entry.abandoned) return;
        if (result === undefined) {
          entry.item.error = malformedBatch(address, response, entries.length);
        } else if (code === ErrorCode.CHUNK_NOT_FOUND) {
          fillItem(entry, undefined);
        } else if (code !== ErrorCode.OK) {
          entry.item.error = resultError(address, code!, result.status?.message);
        } else if (result.bulkLength === undefined) {
          // The node put the bytes in the message after all.
          fillChecked(address, entry, result);
        } else {
          let frame: Buffer;
          try {
            frame = await receive.received;
          } catch (err) {
            if (entry.abandoned) return;
            const error = asSpindleError(err);
            entry.item.error =
              error.errorCode === ErrorCode.CHECKSUM_MISMATCH
                ? damagedInTransit(address, `a frame of ${result.bulkLength} bytes`, error)
                : error;
            return;
          }
          if (entry.abandoned) return;
          if (frame.length !== result.bulkLength) {
            entry.item.error = new SpindleError(
              ErrorCode.RPC_MALFORMED,
              `storage node ${address} sent ${frame.length} bytes for a result of ${result.bulkLength}`,
            );
            return;
          }
          // The bytes are in place already (received into the caller's buffer).
          fillItem(entry, frame, true);
        }
      }),
    );
  } finally {
    signal.removeEventListener('abort', stopAll);
    stopAll();
    await Promise.allSettled(receives.map((receive) => receive.received));
  }
}
