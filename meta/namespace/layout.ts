// Layouts: the root's default, what a new file inherits from its directory, and validation of a
// directory's layout change.
//
// A directory's layout holds the chunk size, stripe width and chain table id its new files get.
// A new file fixes the table's latest version, a chain base (round-robin per table from a random
// start, advancing by the stripe width so consecutive files start on different chains, as 3FS's
// ChainAllocator does) and a random shuffle seed (common/placement.ts turns these into chains).
import { CHUNK_SIZE_MAX_BYTES, CHUNK_SIZE_MIN_BYTES, STRIPE_WIDTH_MAX } from '../../common/constants.js';
import type { Rng } from '../../common/clock.js';
import type { MetaConfig } from '../../common/config.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { Layout } from '../../proto/index.js';
import type { ClusterView } from '../cluster-view.js';
import { isChunkSize } from '../../common/chunk-size.js';

/** The chain table every directory uses until SetLayout picks another. */
const DEFAULT_CHAIN_TABLE_ID = 1;

/** The root directory's layout: chunk size and stripe width from config, chain table 1. */
export function rootLayout(config: Pick<MetaConfig, 'chunkSizeDefaultBytes' | 'stripeWidthDefault'>): Layout {
  return {
    chunkSizeBytes: config.chunkSizeDefaultBytes,
    stripeWidth: config.stripeWidthDefault,
    chainTableId: DEFAULT_CHAIN_TABLE_ID,
    chainTableVersion: 0,
    chainBase: 0,
    shuffleSeed: 0,
  };
}

/** What a new subdirectory inherits: the parent's chunk size, stripe and table, nothing per-file. */
export function directoryLayout(
  parent: Layout | undefined,
  config: Pick<MetaConfig, 'chunkSizeDefaultBytes' | 'stripeWidthDefault'>,
): Layout {
  const base = rootLayout(config);
  if (parent === undefined) return base;
  return {
    ...base,
    chunkSizeBytes: parent.chunkSizeBytes || base.chunkSizeBytes,
    stripeWidth: parent.stripeWidth || base.stripeWidth,
    chainTableId: parent.chainTableId || base.chainTableId,
  };
}

const SEED_MASK = (1n << 53n) - 1n;

/** Picks chain bases for new files: round-robin per chain table, from a random start. */
export class ChainAllocator {
  private readonly cursors = new Map<number, number>();

  constructor(
    private readonly cluster: ClusterView,
    private readonly rng: Rng,
    private readonly config: Pick<MetaConfig, 'chunkSizeDefaultBytes' | 'stripeWidthDefault'>,
  ) {}

  /**
   * The layout of a new file in a directory with layout `dir`. ROUTING_NOT_READY (retryable) when
   * the directory's chain table does not exist yet. The stripe width is capped at the table's
   * chain count (a table may be smaller than the directory's stripe).
   */
  fileLayout(dir: Layout | undefined): Layout {
    const inherited = directoryLayout(dir, this.config);
    const table = this.cluster.latestChainTable(inherited.chainTableId);
    if (table === undefined || table.chainIds.length === 0) {
      throw new SpindleError(
        ErrorCode.ROUTING_NOT_READY,
        `chain table ${inherited.chainTableId} does not exist yet: ` +
          'no storage chains to place a new file on (wait for storage nodes to register)',
      );
    }
    const chains = table.chainIds.length;
    const stripeWidth = Math.min(inherited.stripeWidth, chains);
    const cursor = this.cursors.get(table.tableId) ?? this.rng.nextInt(chains);
    const chainBase = cursor % chains;
    this.cursors.set(table.tableId, (chainBase + stripeWidth) % chains);
    return {
      chunkSizeBytes: inherited.chunkSizeBytes,
      stripeWidth,
      chainTableId: table.tableId,
      chainTableVersion: table.version,
      chainBase,
      // placement.ts takes the seed as a safe integer (uint64 carried as a JS number).
      shuffleSeed: Number(this.rng.nextU64() & SEED_MASK),
    };
  }

  /**
   * A directory's new layout after SetLayout: zeros keep the current value; chunk size must be a
   * power of two within bounds, the stripe at most the table's chains, the table must exist.
   */
  changedDirectoryLayout(
    current: Layout | undefined,
    change: { chunkSizeBytes: number; stripeWidth: number; chainTableId: number },
  ): Layout {
    const layout = directoryLayout(current, this.config);
    if (change.chunkSizeBytes !== 0) {
      if (!isChunkSize(change.chunkSizeBytes)) {
        throw new SpindleError(
          ErrorCode.INVALID_ARGUMENT,
          `chunk size ${change.chunkSizeBytes} must be a power of two ` +
            `between ${CHUNK_SIZE_MIN_BYTES} and ${CHUNK_SIZE_MAX_BYTES} bytes`,
        );
      }
      layout.chunkSizeBytes = change.chunkSizeBytes;
    }
    if (change.chainTableId !== 0) {
      if (this.cluster.latestChainTable(change.chainTableId) === undefined) {
        throw new SpindleError(ErrorCode.CHAIN_TABLE_NOT_FOUND, `chain table ${change.chainTableId} does not exist`);
      }
      layout.chainTableId = change.chainTableId;
    }
    if (change.stripeWidth !== 0) {
      if (
        !Number.isSafeInteger(change.stripeWidth) ||
        change.stripeWidth < 1 ||
        change.stripeWidth > STRIPE_WIDTH_MAX
      ) {
        throw new SpindleError(
          ErrorCode.INVALID_ARGUMENT,
          `stripe width ${change.stripeWidth} must be between 1 and ${STRIPE_WIDTH_MAX}`,
        );
      }
      const table = this.cluster.latestChainTable(layout.chainTableId);
      if (table === undefined) {
        throw new SpindleError(
          ErrorCode.ROUTING_NOT_READY,
          `chain table ${layout.chainTableId} does not exist yet, so a stripe width cannot be checked against it`,
        );
      }
      if (change.stripeWidth > table.chainIds.length) {
        throw new SpindleError(
          ErrorCode.INVALID_ARGUMENT,
          `stripe width ${change.stripeWidth} exceeds ` +
            `the ${table.chainIds.length} chains of chain table ${table.tableId}`,
        );
      }
      layout.stripeWidth = change.stripeWidth;
    }
    return layout;
  }
}
