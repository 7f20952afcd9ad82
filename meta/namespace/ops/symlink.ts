// Symlink: create a symbolic link whose target is stored verbatim (it may dangle). EEXIST when
// the name exists (a final symlink is not followed). Size is the target's byte length.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { InodeResponse, SymlinkRequest } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { describePath, directoryKey, requireNamed, resolvePath } from '../path.js';
import { requirePathAt, requireSymlinkTarget } from '../validate.js';
import { ADMIN_CALLER, type Caller, ownerFor, requireAccess, searchCheck, WRITE } from '../permissions.js';
import { addEntry, newSymlinkInode, noNameError, snapshot } from './helpers.js';

const METHOD = 'Symlink';

export async function symlink(
  ctx: NamespaceContext,
  request: SymlinkRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<InodeResponse> {
  const at = requirePathAt(request.at, METHOD);
  const target = requireSymlinkTarget(request.target, METHOD);
  return ctx.mutate(
    {
      method: METHOD,
      tag: request.tag,
      requestBytes: SymlinkRequest.encode(request).finish(),
      response: InodeResponse,
      ids: 1,
      lanes: [directoryKey(at)],
      signal,
    },
    async (mt, ids) => {
      const resolved = await resolvePath(mt, at, {
        followLast: false,
        slashFollows: false,
        search: searchCheck(caller, METHOD),
      });
      const named = requireNamed(resolved, noNameError(METHOD, ErrorCode.EXISTS, ErrorCode.EXISTS));
      if (named.inode !== undefined)
        throw new SpindleError(ErrorCode.EXISTS, `${METHOD}: ${describePath(at)} already exists`);
      if (resolved.trailingSlash)
        throw new SpindleError(ErrorCode.NOT_FOUND, `${METHOD}: ${describePath(at)} ends with '/' and does not exist`);
      requireAccess(caller, named.parent, WRITE, METHOD, `the directory of ${describePath(at)}`);
      const link = newSymlinkInode(ids.take(), ownerFor(caller, request), target, mt.nowUs);
      mt.createInode(link);
      addEntry(mt, named.parent, named.name, link);
      return { inode: snapshot(link) };
    },
  );
}
