// How a read becomes chunk reads (ReadItem): the caller's range cut at chunk boundaries and into
// parts of at most one batch's bytes, each starting at a random replica; before every round of
// the read, each item's node is chosen (replica-choice.ts) and an item larger than that node's
// budget (read-budgets.ts) is split.
//
// Guarantees: the items of a read cover its range exactly, each byte once (splitting keeps that);
// an item never asks a node for more than the node's budget; a first attempt goes to the least
// busy serving replica, a failed-over item to the next replica after the one that failed.
import type { Rng } from '../common/clock.js';
import type { SpindleError } from '../common/errors.js';
import { chainForChunk } from '../common/placement.js';
import type { Layout } from '../proto/index.js';
import { splitRange } from './chunk-math.js';
import type { ReadBudgets } from './read-budgets.js';
import type { ReplicaChoice } from './replica-choice.js';

/** One chunk range of a read, with its retry state. */
export interface ReadItem {
  readonly chainId: number;
  readonly chunkIndex: number;
  readonly chunkOffset: number;
  /** Bytes wanted (shrinks when the item is split for a node with a smaller batch limit). */
  length: number;
  /** Offset in the caller's buffer. */
  readonly targetOffset: number;
  /** Replica preference: serving[rotation % n]; bumped to fail over. */
  rotation: number;
  /** Failovers in a row without a success (to know when every replica was tried). */
  failovers: number;
  /**
   * Nodes whose replica answered CHUNK_CORRUPT (its bytes failed their stored checksum); replaced,
   * never changed in place (a split part shares it). When every serving replica is in it, the
   * chunk is damaged everywhere and the read fails instead of retrying.
   */
  corruptAt: readonly string[];
  error?: SpindleError;
  /** End (in the caller's buffer) of the bytes a replica returned. */
  dataEnd: number;
  /** The item's range of the caller's buffer is filled (data or zeros). */
  done: boolean;
  /** Storage node the current attempt reads from. */
  address?: string;
  /** That node's bulk listener, when it has one. */
  bulkAddress?: string;
}

/** Range of the random replica rotation of a read item (any multiple of every replica count works). */
const READ_ROTATION_SPAN = 1 << 30;

/**
 * The items of a read of [offset, offset + length) of a file into a buffer from its start: one
 * per chunk piece, or several when a piece is larger than `itemMaxBytes` (one batch's budget).
 */
export function readItemsFor(
  layout: Layout,
  table: readonly number[],
  offset: number,
  length: number,
  itemMaxBytes: number,
  rng: Rng,
): ReadItem[] {
  const items: ReadItem[] = [];
  const subLength = Math.max(1, Math.min(layout.chunkSizeBytes, itemMaxBytes));
  for (const piece of splitRange(offset, length, layout.chunkSizeBytes)) {
    const chainId = chainForChunk(layout, table, piece.chunkIndex);
    for (let done = 0; done < piece.length; done += subLength) {
      items.push({
        chainId,
        chunkIndex: piece.chunkIndex,
        chunkOffset: piece.chunkOffset + done,
        length: Math.min(subLength, piece.length - done),
        targetOffset: piece.bufferOffset + done,
        // Random, not a counter: a counter advancing with the chunk index can stay in step with
        // the chains' target order and pick the same node for every chunk of a sequential read.
        rotation: rng.nextInt(READ_ROTATION_SPAN),
        failovers: 0,
        corruptAt: [],
        dataEnd: 0,
        done: false,
      });
    }
  }
  return items;
}

/**
 * Picks each item's storage node and splits items larger than that node's batch budget; the
 * new parts join `all`. Returns every item to send (or failed: no serving replica), and counts
 * each sent item's bytes in flight to its node (the caller settles them).
 *
 * The node: on a first attempt, the replica whose node has the fewest of this client's read
 * bytes in flight (ties: rotation order). After a failure, the next replica by rotation.
 */
export function planReads(
  pending: ReadItem[],
  all: ReadItem[],
  replicas: ReplicaChoice,
  budgets: ReadBudgets,
): ReadItem[] {
  const queue = [...pending];
  for (let i = 0; i < queue.length; i++) {
    const item = queue[i]!;
    const serving = replicas.serving(item.chainId);
    if (serving.length === 0) {
      item.error = replicas.noReplicaError(item.chainId, 'serving replica');
      continue;
    }
    // The rotation moves to the replica chosen, so a failover goes on to the next one.
    if (item.failovers === 0) item.rotation += replicas.leastBusyOffset(serving, item.rotation);
    const replica = serving[item.rotation % serving.length]!;
    const address = replica.address!;
    item.address = address;
    item.bulkAddress = replica.bulkAddress;
    const budget = budgets.of(address);
    if (item.length > budget) {
      for (let done = budget; done < item.length; done += budget) {
        const part: ReadItem = {
          ...item,
          chunkOffset: item.chunkOffset + done,
          targetOffset: item.targetOffset + done,
          length: Math.min(budget, item.length - done),
          error: undefined,
          dataEnd: 0,
          done: false,
        };
        all.push(part);
        queue.push(part);
      }
      item.length = budget;
    }
    replicas.readStarted(address, item.length);
  }
  return queue;
}
