// The in-memory KvEngine, for unit tests and the simulator: the same transaction layer as the lmdb
// engine (optimistic-engine.ts: snapshot reads, serializable validation, bounded retries) over a
// sorted in-memory map. Commits apply synchronously, so a run is deterministic: no timers, no
// threads, only promise turns. Durability does not apply; close() drops the data.
import type { Logger } from '../../common/logger.js';
import { copyBytes, keyToString } from './bytes.js';
import type { KvPair } from './engine.js';
import { OptimisticEngine, type KvBackend, type KvBackendCursor, type KvWrite } from './optimistic-engine.js';
import { SortedMap } from './sorted-map.js';

export interface MemoryEngineOptions {
  /** Re-runs of a conflicting transaction before TXN_CONFLICT. */
  txnRetriesMax?: number;
  logger?: Logger;
}

interface Entry {
  readonly key: Buffer;
  readonly value: Buffer;
}

/** The sorted in-memory store under the memory engine (exported for tests that wrap it). */
export class MemoryBackend implements KvBackend {
  private readonly data = new SortedMap<Entry>();

  get(key: Buffer): Uint8Array | undefined {
    const entry = this.data.get(keyToString(key));
    return entry === undefined ? undefined : copyBytes(entry.value);
  }

  scan(start: Buffer, end: Buffer, reverse: boolean): KvBackendCursor {
    const cursor = this.data.cursor(keyToString(start), keyToString(end), reverse);
    return {
      next: (): KvPair | undefined => {
        const keyString = cursor.next();
        if (keyString === undefined) return undefined;
        const entry = this.data.get(keyString)!;
        return { key: copyBytes(entry.key), value: copyBytes(entry.value) };
      },
      close: () => {},
    };
  }

  apply(writes: readonly KvWrite[]): undefined {
    // The transaction layer hands over private copies, so they can be stored as they are.
    for (const write of writes) {
      if (write.value === undefined) this.data.delete(write.keyString);
      else this.data.set(write.keyString, { key: write.key, value: write.value });
    }
    return undefined;
  }

  async close(): Promise<void> {
    this.data.clear();
  }
}

export type MemoryEngine = OptimisticEngine;

export function createMemoryEngine(options: MemoryEngineOptions = {}): MemoryEngine {
  return new OptimisticEngine({
    name: 'memory',
    backend: new MemoryBackend(),
    txnRetriesMax: options.txnRetriesMax,
    logger: options.logger,
  });
}
