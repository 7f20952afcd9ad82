// For tests: the block I/O backends a suite runs against (block-io.ts). Both, always; the uring
// suite is reported as skipped, with the reason, only where the addon cannot load (not built, or
// io_uring disabled in this kernel): scripts/setup.sh builds it wherever liburing-dev installs.
import type { BlockIoKind } from '../block-io.js';
import { loadUringAddon } from '../uring-block-io.js';

export interface BackendUnderTest {
  kind: BlockIoKind;
  /** Why this backend cannot run here (undefined: it runs). */
  skip: string | undefined;
}

export function blockIoBackendsUnderTest(): BackendUnderTest[] {
  let skip: string | undefined;
  try {
    loadUringAddon();
  } catch (err) {
    skip = `io_uring addon unusable: ${(err as Error).message}`;
  }
  return [
    { kind: 'fs', skip: undefined },
    { kind: 'uring', skip },
  ];
}
