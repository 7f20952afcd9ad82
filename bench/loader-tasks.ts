// The bench worker tasks of suite `loader` (bench/loader.ts), run by bench/loader-worker.ts inside a
// bench worker process. Sizes are bytes; `meta` is the host:port of the cluster's meta service.
// Every sample of a bench dataset has the same size, so sample i sits at byte i·sampleBytes of the
// local packed file, and its key (the file name a directory pack would record), when it has one, is
// sampleKey(i).

export type LoaderTask =
  /** Packs `samples` samples of `sampleBytes` (with their keys, or none) into `path` and publishes it. */
  | { kind: 'loader-pack'; meta: string; path: string; samples: number; sampleBytes: number; keys: boolean }
  /** One epoch of openLoader over `path` at rank 0 of 1, timing every next(). */
  | {
      kind: 'loader-read';
      meta: string;
      path: string;
      samples: number;
      sampleBytes: number;
      seed: number;
      epoch: number;
      batchSize: number;
      prefetchBytes: number;
      /** Whether the dataset was packed with keys (each batch's first key is then checked). */
      keys: boolean;
    }
  /**
   * The limit: the same samples in the same shuffled order (Permutation of the same seed and epoch),
   * fs.readSync per sample from one local packed file whose pages were read once first; the epoch
   * is repeated until `minSeconds` have passed (a short epoch alone would measure noise).
   */
  | {
      kind: 'loader-local';
      dir: string;
      samples: number;
      sampleBytes: number;
      seed: number;
      epoch: number;
      batchSize: number;
      minSeconds: number;
    }
  /** Writes `files` files of `fileBytes` under `dir` (filePath layout), `depth` at a time. */
  | { kind: 'loader-files'; meta: string; dir: string; files: number; fileBytes: number; depth: number };

/** Files per directory of the one-file-per-sample tree (as a class directory of an image dataset). */
export const FILES_PER_DIR = 1000;

/** The key of sample i: the relative path a directory pack of the file tree would record. */
export function sampleKey(i: number): string {
  return filePath(i);
}

/** Relative path of sample i's file in the one-file-per-sample tree: `d0003/s0003141.bin`. */
export function filePath(i: number): string {
  const dir = Math.floor(i / FILES_PER_DIR);
  return `d${String(dir).padStart(4, '0')}/s${String(i).padStart(7, '0')}.bin`;
}
