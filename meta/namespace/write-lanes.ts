// Write lanes: mutations that change the same directory run their transactions one at a time in
// this process, each starting right after the previous one's commit point (not its fsync).
//
// Why: every create, unlink or rename in a directory rewrites the directory's inode (entry count,
// mtime), so under the optimistic engine concurrent mutations of one directory all read the same
// version of it and all but one conflict and re-run — a create with 64 in flight cost two runs of
// its body. Queued behind each other they never conflict, and group commit still batches their
// fsyncs (a lane is released at the commit point, the durability wait happens outside it).
//
// A lane is only a hint keyed by the path's spelling: two spellings of one directory (through a
// symlink, say) get two lanes and are then serialized by the engine's validation as before, so
// correctness never depends on it. Lanes exist only while held or waited for.
import { assert } from '../../common/errors.js';

export class WriteLanes {
  /** Held lanes and who waits for each, in arrival order. */
  private readonly waiting = new Map<string, Array<() => void>>();

  /** Lanes held right now (for tests). */
  get held(): number {
    return this.waiting.size;
  }

  /**
   * Takes the lanes of `keys` (in sorted order, so two callers never wait for each other in a
   * cycle) and resolves to a release function; calling it more than once is harmless.
   */
  async acquire(keys: readonly string[]): Promise<() => void> {
    const sorted = keys.length === 1 ? keys : [...new Set(keys)].sort();
    for (const key of sorted) await this.take(key);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const key of sorted) this.give(key);
    };
  }

  private take(key: string): Promise<void> | undefined {
    const queue = this.waiting.get(key);
    if (queue === undefined) {
      this.waiting.set(key, []);
      return undefined;
    }
    return new Promise<void>((resolve) => queue.push(resolve));
  }

  private give(key: string): void {
    const queue = this.waiting.get(key);
    assert(queue !== undefined, `write lane ${key} released but not held`);
    const next = queue.shift();
    if (next === undefined) this.waiting.delete(key);
    else next();
  }
}
