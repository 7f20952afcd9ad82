// HardLink: a new name for an existing file or symlink (nlink + 1, ctime). Directories cannot be
// hard-linked (EPERM). Neither path's final symlink is followed (Linux link(2)). EEXIST when the
// new name exists.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { HardLinkRequest, InodeResponse, InodeType } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { describePath, directoryKey, requireExisting, requireNamed, resolvePath } from '../path.js';
import { ADMIN_CALLER, type Caller, requireAccess, searchCheck, WRITE } from '../permissions.js';
import { requirePathAt } from '../validate.js';
import { addEntry, noNameError, snapshot } from './helpers.js';

const METHOD = 'HardLink';

export async function hardLink(
  ctx: NamespaceContext,
  request: HardLinkRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<InodeResponse> {
  const existingAt = requirePathAt(request.existing, METHOD, 'existing');
  const linkAt = requirePathAt(request.link, METHOD, 'link');
  return ctx.mutate(
    {
      method: METHOD,
      tag: request.tag,
      requestBytes: HardLinkRequest.encode(request).finish(),
      response: InodeResponse,
      lanes: [directoryKey(linkAt)],
      signal,
    },
    async (mt) => {
      const search = searchCheck(caller, METHOD);
      const inode = requireExisting(
        await resolvePath(mt, existingAt, { followLast: false, slashFollows: false, search }),
        existingAt,
      );
      if (inode.type === InodeType.DIRECTORY) {
        throw new SpindleError(
          ErrorCode.PERMISSION_DENIED,
          `${METHOD}: ${describePath(existingAt)} is a directory; directories cannot be hard-linked`,
        );
      }
      const resolved = await resolvePath(mt, linkAt, { followLast: false, slashFollows: false, search });
      const named = requireNamed(resolved, noNameError(METHOD, ErrorCode.EXISTS, ErrorCode.EXISTS));
      if (named.inode !== undefined)
        throw new SpindleError(ErrorCode.EXISTS, `${METHOD}: ${describePath(linkAt)} already exists`);
      if (resolved.trailingSlash)
        throw new SpindleError(
          ErrorCode.NOT_FOUND,
          `${METHOD}: ${describePath(linkAt)} ends with '/' and does not exist`,
        );
      requireAccess(caller, named.parent, WRITE, METHOD, `the directory of ${describePath(linkAt)}`);
      addEntry(mt, named.parent, named.name, inode);
      inode.nlink += 1;
      inode.ctimeUs = mt.nowUs;
      mt.touch(inode);
      return { inode: snapshot(inode) };
    },
  );
}
