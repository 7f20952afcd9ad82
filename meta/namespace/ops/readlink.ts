// ReadLink: the stored target of a symlink (the final component is not followed). EINVAL
// (NOT_SYMLINK) for anything else. A read-only transaction.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { InodeType, type ReadLinkResponse, type StatRequest } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { describePath, requireExisting, resolvePath } from '../path.js';
import { ADMIN_CALLER, type Caller, searchCheck } from '../permissions.js';
import { requirePathAt } from '../validate.js';

export async function readLink(
  ctx: NamespaceContext,
  request: StatRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<ReadLinkResponse> {
  const at = requirePathAt(request.at, 'ReadLink');
  return ctx.read(async (mt) => {
    const inode = requireExisting(
      await resolvePath(mt, at, { followLast: false, search: searchCheck(caller, 'ReadLink') }),
      at,
    );
    if (inode.type !== InodeType.SYMLINK) {
      throw new SpindleError(ErrorCode.NOT_SYMLINK, `ReadLink: ${describePath(at)} is not a symbolic link`);
    }
    return { target: inode.symlinkTarget };
  }, signal);
}
