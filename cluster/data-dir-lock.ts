// One launcher per data dir: `spindle up` holds DIR/up.pid while it runs, so a second `up` on the
// same dir fails at once with what to do, instead of two sets of servers fighting over the data.
//
// Guarantees: a lock whose pid is no longer alive (a launcher that was SIGKILLed) is taken over;
// release() removes the file only while it still names this process, and is idempotent.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, SpindleError } from '../common/errors.js';

/** True while a process with this pid exists (ours or another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock file so two launchers do not run on one data dir at once. */
export function acquireDataDirLock(dataDir: string): { release(): void } {
  const lockFile = join(dataDir, 'up.pid');
  mkdirSync(dataDir, { recursive: true });
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new SpindleError(
        ErrorCode.BUSY,
        `a cluster is already running on ${dataDir} (launcher pid ${pid}); ` +
          `stop it first (kill ${pid}) or use another --data-dir`,
      );
    }
  }
  writeFileSync(lockFile, `${process.pid}\n`);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        if (readFileSync(lockFile, 'utf8').trim() === String(process.pid)) rmSync(lockFile, { force: true });
      } catch {
        // gone already
      }
    },
  };
}
