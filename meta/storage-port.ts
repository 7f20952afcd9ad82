// What the metadata service needs from storage: removing and cutting a file's chunks (GC,
// truncate, O_TRUNC) and finding a file's real length after a writer crashed. Implemented in
// meta/storage-adapter.ts over the client library's storage client, and by fakes in unit tests.
import type { Layout } from '../proto/index.js';

export interface StoragePort {
  /** Removes every chunk of `ino` with index >= fromChunkIndex on every chain of the layout. */
  removeChunks(ino: number, layout: Layout, fromChunkIndex: number, options?: { signal?: AbortSignal }): Promise<void>;
  /** Cuts the file to `length` bytes: removes chunks past it and truncates the boundary chunk. */
  truncateFile(ino: number, layout: Layout, length: number, options?: { signal?: AbortSignal }): Promise<void>;
  /** The file's length as stored: highest chunk over all chains, times chunk size, plus its length. */
  queryLength(ino: number, layout: Layout, options?: { signal?: AbortSignal }): Promise<number>;
}
