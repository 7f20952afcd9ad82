// What `spindle dataset pack` reads samples from: a local directory, JSONL file or tar archives.
// Each source yields samples in a fixed order (the same source packs to the same samples) and
// reports how many of its bytes it has read, for the progress bar.

export type SourceKind = 'dir' | 'jsonl' | 'tar';

export interface SourceSample {
  readonly data: Uint8Array;
  readonly key?: string;
  /** Where the sample came from, for error messages ('train.jsonl:17', 'imgs/a.jpg'). */
  readonly where: string;
}

export interface PackSource {
  readonly kind: SourceKind;
  /** Absolute local path of SRC. */
  readonly path: string;
  /** 'parts' when each sample is encodeParts() of named members (tar). */
  readonly encoding: 'raw' | 'parts';
  /** Bytes the source will read in all (the progress bar's total). */
  readonly totalBytes: number;
  /** The samples in order; `onBytesRead` is told of the source bytes read as they are. */
  samples(onBytesRead: (bytes: number) => void, signal: AbortSignal): AsyncIterable<SourceSample>;
}
