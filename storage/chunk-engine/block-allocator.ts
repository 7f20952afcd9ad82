// The free-block map of one target: one bitmap per size class, kept in memory and rebuilt from
// committed chunk metadata when the target opens (so there is nothing to keep crash-consistent:
// a block allocated for an update that never committed is simply free again after a restart).
//
// Blocks are reference-counted while reads use them: freeing a block that a reader still holds
// only marks it; it returns to the free map when the last reader releases it, so a reader of the
// old committed version never sees bytes of a later write that reused its block.
import { ErrorCode, SpindleError, assert } from '../../common/errors.js';
import {
  BLOCK_CLASS_MAX_LOG2,
  BLOCK_CLASS_MIN_LOG2,
  DATA_FILE_BLOCKS_MIN,
  DATA_FILE_TARGET_BYTES,
  DATA_FILES_PER_CLASS_MAX,
} from '../constants.js';
import type { BlockLocation } from './chunk-meta.js';

/** Blocks one data file of a class holds. */
export function blocksPerFile(classLog2: number): number {
  return Math.max(DATA_FILE_BLOCKS_MIN, Math.floor(DATA_FILE_TARGET_BYTES / 2 ** classLog2));
}

/** The size class that holds `length` bytes (the smallest power of two ≥ length, at least the minimum). */
export function classForLength(length: number): number {
  if (length <= 2 ** BLOCK_CLASS_MIN_LOG2) return BLOCK_CLASS_MIN_LOG2;
  const log2 = Math.ceil(Math.log2(length));
  if (log2 > BLOCK_CLASS_MAX_LOG2) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `chunk of ${length} bytes exceeds the largest block (${2 ** BLOCK_CLASS_MAX_LOG2} bytes)`,
    );
  }
  return log2;
}

class ClassBitmap {
  /** Bit i set = block i in use. */
  private words = new Uint32Array(64);
  /** Every word below this index is full (search starts here). */
  private firstMaybeFree = 0;
  used = 0;
  /** One past the highest block ever marked used. */
  highWater = 0;
  /** One past the highest block known written (its space is on disk; see nextIsFresh). */
  writtenHighWater = 0;

  isUsed(blockNo: number): boolean {
    const word = blockNo >>> 5;
    return word < this.words.length && (this.words[word]! & (1 << (blockNo & 31))) !== 0;
  }

  mark(blockNo: number): void {
    const word = blockNo >>> 5;
    if (word >= this.words.length) {
      let size = this.words.length;
      while (size <= word) size *= 2;
      const grown = new Uint32Array(size);
      grown.set(this.words);
      this.words = grown;
    }
    assert(!this.isUsed(blockNo), `block ${blockNo} marked used twice`);
    this.words[word]! |= 1 << (blockNo & 31);
    this.used++;
    if (blockNo + 1 > this.highWater) this.highWater = blockNo + 1;
  }

  clear(blockNo: number): void {
    assert(this.isUsed(blockNo), `block ${blockNo} freed while free`);
    const word = blockNo >>> 5;
    this.words[word]! &= ~(1 << (blockNo & 31));
    this.used--;
    if (word < this.firstMaybeFree) this.firstMaybeFree = word;
  }

  /** Lowest free block (freed space is reused before the files grow). */
  findFree(): number {
    for (let word = this.firstMaybeFree; word < this.words.length; word++) {
      const bits = this.words[word]!;
      if (bits !== 0xffffffff) {
        this.firstMaybeFree = word;
        const inverted = ~bits >>> 0;
        // Index of the lowest set bit of `inverted`.
        return word * 32 + (31 - Math.clz32(inverted & -inverted));
      }
    }
    this.firstMaybeFree = this.words.length;
    return this.words.length * 32;
  }
}

function blockId(location: BlockLocation): string {
  return `${location.classLog2}/${location.blockNo}`;
}

export class BlockAllocator {
  private readonly classes = new Map<number, ClassBitmap>();
  /** Blocks held by readers: id → holders. */
  private readonly refs = new Map<string, number>();
  /** Blocks freed while held; released to the bitmap when the last holder lets go. */
  private readonly freeDeferred = new Set<string>();

  private bitmap(classLog2: number): ClassBitmap {
    let bitmap = this.classes.get(classLog2);
    if (bitmap === undefined) {
      assert(
        classLog2 >= BLOCK_CLASS_MIN_LOG2 && classLog2 <= BLOCK_CLASS_MAX_LOG2,
        `size class 2^${classLog2} out of range`,
      );
      bitmap = new ClassBitmap();
      this.classes.set(classLog2, bitmap);
    }
    return bitmap;
  }

  /** Marks a block used while rebuilding from metadata; a block claimed twice is corrupt metadata. */
  markUsed(location: BlockLocation): void {
    const bitmap = this.bitmap(location.classLog2);
    if (bitmap.isUsed(location.blockNo)) {
      throw new SpindleError(ErrorCode.CHUNK_CORRUPT, `two chunks claim block ${blockId(location)}`);
    }
    bitmap.mark(location.blockNo);
    bitmap.writtenHighWater = Math.max(bitmap.writtenHighWater, location.blockNo + 1);
  }

  allocate(classLog2: number): BlockLocation {
    const bitmap = this.bitmap(classLog2);
    const blockNo = bitmap.findFree();
    if (blockNo >= blocksPerFile(classLog2) * DATA_FILES_PER_CLASS_MAX) {
      throw new SpindleError(ErrorCode.NO_SPACE, `size class 2^${classLog2} has no free block left`);
    }
    bitmap.mark(blockNo);
    return { classLog2, blockNo };
  }

  /**
   * Whether the block allocate() would hand out next lies past every block ever written in its
   * class, so writing it takes new disk space (a block written before has its space on disk).
   */
  nextIsFresh(classLog2: number): boolean {
    const bitmap = this.bitmap(classLog2);
    return bitmap.findFree() >= bitmap.writtenHighWater;
  }

  /** A whole block was written (allocated blocks whose write was refused or failed do not count). */
  markWritten(location: BlockLocation): void {
    const bitmap = this.bitmap(location.classLog2);
    bitmap.writtenHighWater = Math.max(bitmap.writtenHighWater, location.blockNo + 1);
  }

  /** Returns a block to the free map (deferred while a reader holds it). */
  free(location: BlockLocation): void {
    const id = blockId(location);
    if (this.refs.has(id)) {
      this.freeDeferred.add(id);
      return;
    }
    this.bitmap(location.classLog2).clear(location.blockNo);
  }

  retain(location: BlockLocation): void {
    const id = blockId(location);
    this.refs.set(id, (this.refs.get(id) ?? 0) + 1);
  }

  release(location: BlockLocation): void {
    const id = blockId(location);
    const count = this.refs.get(id);
    assert(count !== undefined, `block ${id} released more often than retained`);
    if (count > 1) {
      this.refs.set(id, count - 1);
      return;
    }
    this.refs.delete(id);
    if (this.freeDeferred.delete(id)) this.bitmap(location.classLog2).clear(location.blockNo);
  }

  isUsed(location: BlockLocation): boolean {
    return this.classes.get(location.classLog2)?.isUsed(location.blockNo) ?? false;
  }

  /** Blocks in use per class (for tests and metrics). */
  usedBlocks(classLog2: number): number {
    return this.classes.get(classLog2)?.used ?? 0;
  }

  /** Bytes of all blocks in use. */
  usedBytes(): number {
    let total = 0;
    for (const [classLog2, bitmap] of this.classes) total += bitmap.used * 2 ** classLog2;
    return total;
  }
}
