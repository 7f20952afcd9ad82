// The bench worker tasks of suite `scale` (bench/scale.ts), run by bench/scale-worker.ts inside a
// bench worker process. `meta` is the host:port of the cluster's meta service. File i of the
// populated namespace is `<root>/<scaleFilePath(i)>`: 10,000 files a directory, so 1 M files are
// 100 directories and every stat resolves a path of the same depth whatever the namespace holds.

export type ScaleTask =
  /** Creates files from..to-1 (open 'wx' + close, `depth` in flight: the client batches the opens). */
  | { kind: 'scale-populate'; meta: string; root: string; from: number; to: number; depth: number }
  /**
   * Times `statCount` stats of files picked at random among the `files` populated ones, then
   * `createCount` creates of new files spread over the populated directories (named after `tag`),
   * `depth` in flight; a short untimed warm-up of both runs first.
   */
  | {
      kind: 'scale-meta';
      meta: string;
      root: string;
      files: number;
      statCount: number;
      createCount: number;
      depth: number;
      tag: string;
    };

/** Files per directory of the populated namespace. */
export const SCALE_FILES_PER_DIR = 10_000;

/** The directory holding file i, relative to the root: `d0042`. */
export function scaleDirName(i: number): string {
  return `d${String(Math.floor(i / SCALE_FILES_PER_DIR)).padStart(4, '0')}`;
}

/** File i relative to the root: `d0042/f0420017`. */
export function scaleFilePath(i: number): string {
  return `${scaleDirName(i)}/f${String(i).padStart(7, '0')}`;
}
