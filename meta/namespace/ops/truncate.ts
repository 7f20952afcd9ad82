// Truncate: set a file's length (a final symlink is followed). Bumps the truncate version so
// length reports from writers that opened earlier are ignored. When the file shrinks, storage
// cuts the chunks past the new length after the transaction commits (ordering explained in
// helpers.ts `truncateFile`). EISDIR on a directory.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { InodeResponse, InodeType, TruncateRequest } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { describePath, requireExisting, resolvePath } from '../path.js';
import { ADMIN_CALLER, type Caller, requireAccess, searchCheck, WRITE } from '../permissions.js';
import { requireLength, requirePathAt } from '../validate.js';
import { snapshot, truncateFile } from './helpers.js';

const METHOD = 'Truncate';

export async function truncate(
  ctx: NamespaceContext,
  request: TruncateRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<InodeResponse> {
  const at = requirePathAt(request.at, METHOD);
  const length = requireLength(request.length, METHOD, 'length');
  return ctx.mutate(
    {
      method: METHOD,
      tag: request.tag,
      requestBytes: TruncateRequest.encode(request).finish(),
      response: InodeResponse,
      signal,
    },
    async (mt) => {
      const inode = requireExisting(
        await resolvePath(mt, at, { followLast: true, search: searchCheck(caller, METHOD) }),
        at,
      );
      if (inode.type === InodeType.DIRECTORY)
        throw new SpindleError(ErrorCode.IS_DIRECTORY, `${METHOD}: ${describePath(at)} is a directory`);
      requireAccess(caller, inode, WRITE, METHOD, describePath(at));
      truncateFile(ctx, mt, inode, length);
      return { inode: snapshot(inode) };
    },
  );
}
