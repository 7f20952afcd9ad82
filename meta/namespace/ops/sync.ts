// Sync: a writer reports its length (fsync/close). Meta keeps the maximum of the stored length
// and the hint, unless the writer's truncate version is older than the file's (a truncate
// happened since it opened: its hint describes data that was cut). `wrote` updates mtime.
//
// `recompute_length` (after a client crash, when no writer will report) asks storage for the
// length held by the chains before the transaction and adopts it if larger and no truncate
// intervened. It never shrinks the file: a length set by truncate beyond the written data is a
// hole, not a lie.
//
// Works on files whose last link went away but that are still queued for GC (an unlinked file
// that a writer still has open): the queued record's length is updated, so the collector sees it.
import { withTimeBudget } from '../../../common/deadline.js';
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { InodeResponse, InodeType, SyncRequest, type Inode } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { ADMIN_CALLER, type Caller, requireAccess, WRITE } from '../permissions.js';
import { requireIno, requireLength, requireU64 } from '../validate.js';
import { inodeById } from './batch-stat.js';
import { snapshot } from './helpers.js';

const METHOD = 'Sync';

export async function sync(
  ctx: NamespaceContext,
  request: SyncRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<InodeResponse> {
  const ino = requireIno(request.ino, METHOD);
  const hint = requireLength(request.lengthHint, METHOD, 'length_hint');
  requireU64(request.truncateVersion, METHOD, 'truncate_version');

  let stored: { length: number; truncateVersion: number } | undefined;
  if (request.recomputeLength) {
    const before = await ctx.read((mt) => inodeById(mt, ino), signal);
    requireFile(before);
    const layout = before.layout!;
    // Within requestStorageBudgetMs (a retryable TIMEOUT past it, as truncate's cut in helpers.ts)
    // and the caller's signal: the query asks every chain of the file and retries slow replicas.
    const length = await withTimeBudget(
      ctx.config.requestStorageBudgetMs,
      `${METHOD}: length of inode ${ino} from storage`,
      (budget) => ctx.deps.storage.queryLength(ino, layout, { signal: budget }),
      { clock: ctx.deps.clock, signal },
    );
    stored = { length: Math.min(length, Number.MAX_SAFE_INTEGER), truncateVersion: before.truncateVersion };
  }

  return ctx.mutate(
    {
      method: METHOD,
      tag: request.tag,
      requestBytes: SyncRequest.encode(request).finish(),
      response: InodeResponse,
      signal,
    },
    async (mt) => {
      const live = await mt.getInode(ino);
      const queued = live === undefined ? await mt.getQueuedInode(ino) : undefined;
      const inode = live ?? queued?.inode;
      if (inode === undefined) throw new SpindleError(ErrorCode.NOT_FOUND, `${METHOD}: inode ${ino} does not exist`);
      requireFile(inode);
      // A length or mtime change is a write (an inode id is no path: only the file's bits count).
      if (request.wrote || hint > 0 || request.recomputeLength)
        requireAccess(caller, inode, WRITE, METHOD, `inode ${ino}`);
      let length = inode.size;
      if (request.truncateVersion >= inode.truncateVersion) length = Math.max(length, hint);
      if (stored !== undefined && stored.truncateVersion === inode.truncateVersion)
        length = Math.max(length, stored.length);
      if (live !== undefined) {
        if (length !== live.size) mt.setFileLength(live, length);
        if (request.wrote) {
          live.mtimeUs = mt.nowUs;
          live.ctimeUs = mt.nowUs;
          mt.touch(live);
        }
        return { inode: snapshot(live) };
      }
      const record = queued!;
      record.inode.size = length;
      if (request.wrote) record.inode.mtimeUs = mt.nowUs;
      mt.putQueuedInode(record);
      return { inode: snapshot(record.inode) };
    },
  );
}

function requireFile(inode: Inode): void {
  if (inode.type !== InodeType.FILE) {
    throw new SpindleError(
      inode.type === InodeType.DIRECTORY ? ErrorCode.IS_DIRECTORY : ErrorCode.INVALID_ARGUMENT,
      `${METHOD}: inode ${inode.ino} is not a regular file`,
    );
  }
  if (inode.layout === undefined)
    throw new SpindleError(ErrorCode.INTERNAL, `${METHOD}: file ${inode.ino} has no layout`);
}
