// The shape of one benchmark scenario file (bench/<suite>.ts).
import type { BenchContext } from './context.js';
import type { CurvePanel } from './render-curves.js';
import type { BenchRow, SuiteName } from './types.js';

export interface Suite {
  name: SuiteName;
  /** One line: what it measures and what the envelope says it should reach on the 2-core machine. */
  estimate: string;
  run(ctx: BenchContext): Promise<void>;
  /** A suite-specific markdown table of its rows, printed after the generic one (optional). */
  summary?(rows: readonly BenchRow[]): string;
  /** Line charts of its rows, drawn below the bars of the SVG (optional). */
  curves?(rows: readonly BenchRow[]): CurvePanel[];
}
