// SetLayout: change the layout new files under a directory inherit (existing files keep theirs).
// Zero fields keep the current value. Chunk size: a power of two within CHUNK_SIZE_MIN/MAX_BYTES;
// stripe width: 1 .. the chain table's chain count; chain table: must exist. ENOTDIR on a file.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { InodeResponse, InodeType, SetLayoutRequest } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { describePath, requireExisting, resolvePath } from '../path.js';
import { ADMIN_CALLER, type Caller, requireOwner, searchCheck } from '../permissions.js';
import { requirePathAt } from '../validate.js';
import { snapshot } from './helpers.js';

const METHOD = 'SetLayout';

export async function setLayout(
  ctx: NamespaceContext,
  request: SetLayoutRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<InodeResponse> {
  const at = requirePathAt(request.at, METHOD);
  return ctx.mutate(
    {
      method: METHOD,
      tag: request.tag,
      requestBytes: SetLayoutRequest.encode(request).finish(),
      response: InodeResponse,
      signal,
    },
    async (mt) => {
      const inode = requireExisting(
        await resolvePath(mt, at, { followLast: true, search: searchCheck(caller, METHOD) }),
        at,
      );
      if (inode.type !== InodeType.DIRECTORY) {
        throw new SpindleError(
          ErrorCode.NOT_DIRECTORY,
          `${METHOD}: ${describePath(at)} is not a directory (files keep the layout they were created with)`,
        );
      }
      requireOwner(caller, inode, METHOD, 'change the layout of the directory');
      inode.layout = ctx.chains.changedDirectoryLayout(inode.layout, request);
      inode.ctimeUs = mt.nowUs;
      mt.touch(inode);
      return { inode: snapshot(inode) };
    },
  );
}
