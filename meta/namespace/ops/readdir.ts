// ReadDir: one page of a directory listing, names in byte order (one range read of DENT ‖ dir),
// starting strictly after `after_name`. The page size is the request's limit capped by
// MetaConfig.readDirPageMax (0 asks for the cap; READDIR_PLUS_PAGE_MAX with attributes).
// `has_more` says whether entries follow.
// Entries go out packed (common/packed-dir-entries.ts: names straight from the stored keys' bytes).
// With `with_attributes` each entry's attributes follow in `attributes` (readdirplus), from the
// same snapshot. A final symlink is followed (listing a symlink to a directory lists the directory).
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { validateName } from '../../../common/names.js';
import { DirEntryPacker } from '../../../common/packed-dir-entries.js';
import { Inode, InodeType, type ReadDirRequest, type ReadDirResponse } from '../../../proto/index.js';
import { READDIR_PLUS_PAGE_MAX } from '../constants.js';
import type { NamespaceContext } from '../context.js';
import { describePath, requireExisting, resolvePath } from '../path.js';
import { ADMIN_CALLER, type Caller, READ, requireAccess, searchCheck } from '../permissions.js';
import { DENTRY_NAME_OFFSET } from '../schema.js';
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
  const cap = request.withAttributes
    ? Math.min(ctx.config.readDirPageMax, READDIR_PLUS_PAGE_MAX)
    : ctx.config.readDirPageMax;
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
    const listed = await mt.listEntryKeys(directory.ino, limit + 1, request.afterName || undefined);
    const hasMore = listed.length > limit;
    const count = Math.min(listed.length, limit);
    const packer = new DirEntryPacker(count);
    const attributes: Inode[] = [];
    for (let i = 0; i < count; i++) {
      const entry = listed[i]!;
      packer.add(entry.key, DENTRY_NAME_OFFSET, entry.ino, entry.type);
      if (request.withAttributes) {
        const child = await mt.getInode(entry.ino);
        // An entry whose inode is gone (a dangling entry) gets ino 0: "no attributes".
        attributes.push(child === undefined ? Inode.fromPartial({}) : snapshot(child));
      }
    }
    return { ...packer.finish(), hasMore, attributes };
  }, signal);
}
