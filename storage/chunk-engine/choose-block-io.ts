// Picks the block I/O backend (block-io.ts) of a target directory when a chunk engine opens: the
// mode comes from the option, else $SPINDLE_BLOCK_IO (fs | uring | auto), else auto. `auto` probes
// the addon in the target directory (load it, create the ring, one aligned O_DIRECT write + read
// back) and takes BLOCK_IO_PREFERRED when that works, fs otherwise, and says why either way.
// `uring` fails the open when the probe fails (so a deployment that asked for it notices); `fs`
// never probes. Kept apart from block-io.ts because it is the one file that imports the backends.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { BLOCK_IO_PREFERRED, blockIoModeOf, type BlockIoChoice, type BlockIoMode } from './block-io.js';
import { FsBlockIo } from './fs-block-io.js';
import { probeUring, UringBlockIo } from './uring-block-io.js';

export interface ChooseBlockIoOptions {
  /** The mode asked for (config); default $SPINDLE_BLOCK_IO, else auto. */
  mode?: BlockIoMode;
  /** Where $SPINDLE_BLOCK_IO is read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The io_uring probe (default probeUring from uring-block-io.ts; tests pass a failing one). */
  probe?: (dir: string) => Promise<{ ok: boolean; reason: string }>;
}

/**
 * Picks the backend for a target directory. See the file comment for the rules. Only the probe
 * loads the io_uring addon (loadUringAddon), so mode `fs` never loads it.
 */
export async function chooseBlockIo(dir: string, options: ChooseBlockIoOptions = {}): Promise<BlockIoChoice> {
  const { mode, source } = blockIoModeOf(options.mode, options.env ?? process.env);
  if (mode === 'fs') return { io: new FsBlockIo(), kind: 'fs', reason: `fs asked for (${source})` };
  const probe = await (options.probe ?? probeUring)(dir);
  if (mode === 'uring') {
    if (!probe.ok) {
      throw new SpindleError(
        ErrorCode.CONFIG_INVALID,
        `block I/O backend uring asked for (${source}) but unusable in ${dir}: ${probe.reason}`,
      );
    }
    return { io: new UringBlockIo(), kind: 'uring', reason: `uring asked for (${source}); ${probe.reason}` };
  }
  if (!probe.ok) return { io: new FsBlockIo(), kind: 'fs', reason: `fs: io_uring unusable (${probe.reason})` };
  if (BLOCK_IO_PREFERRED === 'fs')
    return { io: new FsBlockIo(), kind: 'fs', reason: `fs preferred by auto (io_uring works: ${probe.reason})` };
  return { io: new UringBlockIo(), kind: 'uring', reason: `uring preferred by auto; ${probe.reason}` };
}
