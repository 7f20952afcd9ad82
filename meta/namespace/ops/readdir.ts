// ReadDir: one page of a directory listing, names in byte order (one range read of DENT ‖ dir),
// starting strictly after `after_name`. The page size is the request's limit capped by
// MetaConfig.readDirPageMax (0 asks for the cap). `has_more` says whether entries follow.
// With `with_attributes` each entry carries its child's attributes (readdirplus), from the same
// snapshot. A final symlink is followed (listing a symlink to a directory lists the directory).
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { validateName } from '../../../common/names.js';
import { InodeType, type DirEntry, type ReadDirRequest, type ReadDirResponse } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { describePath, requireExisting, resolvePath } from '../path.js';
import { ADMIN_CALLER, type Caller, READ, requireAccess, searchCheck } from '../permissions.js';
import { requirePathAt } from '../validate.js';
import { snapshot } from './helpers.js';

const METHOD = 'ReadDir';

export async function readDir(
  ctx: NamespaceContext,
  request: ReadDirRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<ReadDirResponse> {
  const at = requirePathAt(request.at, METHOD);
  if (request.afterName !== '') validateName(request.afterName);
  const cap = ctx.config.readDirPageMax;
  const limit = request.limit === 0 ? cap : Math.min(request.limit, cap);
  return ctx.read(async (mt) => {
    const directory = requireExisting(
      await resolvePath(mt, at, { followLast: true, search: searchCheck(caller, METHOD) }),
      at,
    );
    if (directory.type !== InodeType.DIRECTORY) {
      throw new SpindleError(ErrorCode.NOT_DIRECTORY, `${METHOD}: ${describePath(at)} is not a directory`);
    }
    requireAccess(caller, directory, READ, METHOD, `directory ${describePath(at)}`);
    const listed = await mt.listEntries(directory.ino, limit + 1, request.afterName || undefined);
    const hasMore = listed.length > limit;
    const entries: DirEntry[] = [];
    for (const entry of listed.slice(0, limit)) {
      let inode: DirEntry['inode'];
      if (request.withAttributes) {
        const child = await mt.getInode(entry.ino);
        inode = child === undefined ? undefined : snapshot(child);
      }
      entries.push({ name: entry.name, ino: entry.ino, type: entry.type, inode });
    }
    return { entries, hasMore };
  }, signal);
}
