// The shape of one benchmark scenario file (bench/<suite>.ts).
import type { BenchContext } from './context.js';
import type { SuiteName } from './types.js';

export interface Suite {
  name: SuiteName;
  /** One line: what it measures and what the envelope says it should reach on the 2-core machine. */
  estimate: string;
  run(ctx: BenchContext): Promise<void>;
}
