// Open: open an existing file, or create it (O_CREAT), failing if it exists (O_EXCL), cutting it to
// length 0 (O_TRUNC). One transaction: under concurrent O_CREAT|O_EXCL opens of one name exactly
// one creator commits (the others conflict on the entry key, re-run, and see EEXIST).
//
// A final symlink is followed (a dangling one with O_CREAT creates its target), except with
// O_EXCL, where an existing symlink is EEXIST as in POSIX. Opening a directory is allowed
// read-only; with O_CREAT or O_TRUNC it is EISDIR.
import { ErrorCode, SpindleError, assert } from '../../../common/errors.js';
import { InodeType, OpenRequest, OpenResponse, type PathAt } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import type { IdLease } from '../inode-ids.js';
import type { MetaTxn } from '../store.js';
import { describePath, directoryKey, resolvePath } from '../path.js';
import { ADMIN_CALLER, type Caller, ownerFor, READ, requireAccess, searchCheck, WRITE } from '../permissions.js';
import { requireMode, requirePathAt } from '../validate.js';
import { addEntry, newFileInode, snapshot, truncateFile } from './helpers.js';

const METHOD = 'Open';
/** The method name of Open's idempotency records (BatchOpen items are Opens). */
export const OPEN_METHOD = METHOD;

export async function open(
  ctx: NamespaceContext,
  request: OpenRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<OpenResponse> {
  const at = requirePathAt(request.at, METHOD);
  requireMode(request.mode, METHOD);
  return ctx.mutate(
    {
      method: METHOD,
      tag: request.tag,
      requestBytes: OpenRequest.encode(request).finish(),
      response: OpenResponse,
      ids: request.create ? 1 : 0,
      lanes: request.create ? [directoryKey(at)] : undefined,
      signal,
    },
    (mt, ids) => openInTxn(ctx, request, at, mt, ids, caller),
  );
}

/**
 * The body of an open inside a transaction (`at` validated). For an exclusive create every error
 * is thrown before anything is written, so a batch may run several of them in one transaction
 * (ops/batch-open.ts): a failed one leaves the others' writes alone.
 */
export async function openInTxn(
  ctx: NamespaceContext,
  request: OpenRequest,
  at: PathAt,
  mt: MetaTxn,
  ids: IdLease,
  caller: Caller = ADMIN_CALLER,
): Promise<OpenResponse> {
  const exclusive = request.create && request.exclusive;
  const resolved = await resolvePath(mt, at, { followLast: !exclusive, search: searchCheck(caller, METHOD) });
  const existing = resolved.inode;
  if (existing !== undefined) {
    if (exclusive) throw new SpindleError(ErrorCode.EXISTS, `${METHOD}: ${describePath(at)} already exists`);
    if (existing.type === InodeType.DIRECTORY) {
      if (request.create || request.truncate) {
        throw new SpindleError(ErrorCode.IS_DIRECTORY, `${METHOD}: ${describePath(at)} is a directory`);
      }
      requireAccess(caller, existing, READ, METHOD, describePath(at));
      return { inode: snapshot(existing), created: false };
    }
    if (resolved.trailingSlash) {
      throw new SpindleError(
        ErrorCode.NOT_DIRECTORY,
        `${METHOD}: ${describePath(at)} ends with '/' but is not a directory`,
      );
    }
    assert(existing.type !== InodeType.SYMLINK, 'open resolved a symlink while following symlinks');
    if (existing.type !== InodeType.FILE) {
      // FIFOs, sockets and devices are opened by the kernel of the machine that uses them.
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `${METHOD}: ${describePath(at)} is a special file (FIFO, socket or device); it has no data to open`,
      );
    }
    // Open carries no access mode: O_CREAT or O_TRUNC means writing, anything else reading.
    requireAccess(caller, existing, request.create || request.truncate ? WRITE : READ, METHOD, describePath(at));
    if (request.truncate) truncateFile(ctx, mt, existing, 0);
    return { inode: snapshot(existing), created: false };
  }
  if (!request.create) throw new SpindleError(ErrorCode.NOT_FOUND, `${METHOD}: ${describePath(at)} does not exist`);
  if (resolved.trailingSlash) {
    throw new SpindleError(ErrorCode.IS_DIRECTORY, `${METHOD}: cannot create a regular file named with a trailing '/'`);
  }
  const parent = resolved.parent;
  const name = resolved.name;
  assert(parent !== undefined && name !== undefined, 'a missing entry always has a parent and a name');
  requireAccess(caller, parent, WRITE, METHOD, `the directory of ${describePath(at)}`);
  const layout = ctx.chains.fileLayout(parent.layout);
  const file = newFileInode(ids.take(), ownerFor(caller, request), layout, mt.nowUs);
  mt.createInode(file);
  addEntry(mt, parent, name, file);
  return { inode: snapshot(file), created: true };
}
