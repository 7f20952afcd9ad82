// The sizes suite `scale` (bench/scale.ts) measures at: namespace sizes, the metadata operations
// timed at each, the file its read curves read and the long read's passes. Full run and --quick.
import { GiB, MiB } from './context.js';

export interface ScalePlan {
  /** Namespace sizes, ascending. */
  files: number[];
  /** Per depth: stats and creates timed at each size. */
  meta: Array<{ depth: number; stats: number; creates: number }>;
  /** The file the read curves read (and the long read reads over and over). */
  readFileBytes: number;
  clients: number[];
  iopsDepths: number[];
  iopsSeconds: number;
  /** Passes of the long read over the file (bytes moved = passes × readFileBytes). */
  longReadPasses: number;
}

export function scalePlan(quick: boolean, files?: number[]): ScalePlan {
  return {
    files: files ?? (quick ? [5000, 20_000] : [5000, 100_000, 1_000_000]),
    meta: quick
      ? [
          { depth: 1, stats: 500, creates: 300 },
          { depth: 64, stats: 4000, creates: 2000 },
        ]
      : [
          { depth: 1, stats: 2000, creates: 1000 },
          { depth: 64, stats: 20_000, creates: 5000 },
        ],
    readFileBytes: quick ? 256 * MiB : 2 * GiB,
    clients: [1, 2, 4, 8],
    iopsDepths: [1, 4, 16, 32, 64, 128],
    iopsSeconds: quick ? 1 : 4,
    longReadPasses: quick ? 4 : 5,
  };
}
