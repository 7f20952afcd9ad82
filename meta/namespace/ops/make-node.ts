// MakeNode: create a special file — a FIFO, a Unix socket, or a character or block device with
// its device number. It is an inode of its own type with attributes only: no layout and nothing on
// storage (the kernel of the machine that opens it provides the pipe, socket or device). Mode is
// taken as given. Links, rename, unlink, chmod, chown and utimens treat it as a file; its last
// link deletes it at once. EEXIST when the name exists (a final symlink is not followed).
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { InodeResponse, InodeType, MakeNodeRequest } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { describePath, directoryKey, requireNamed, resolvePath } from '../path.js';
import { requireMode, requirePathAt, requireU64 } from '../validate.js';
import { ADMIN_CALLER, type Caller, ownerFor, requireAccess, searchCheck, WRITE } from '../permissions.js';
import { addEntry, newSpecialInode, noNameError, snapshot } from './helpers.js';

const METHOD = 'MakeNode';
const SPECIAL_TYPES = new Set([InodeType.FIFO, InodeType.SOCKET, InodeType.CHAR_DEVICE, InodeType.BLOCK_DEVICE]);

export async function makeNode(
  ctx: NamespaceContext,
  request: MakeNodeRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<InodeResponse> {
  const at = requirePathAt(request.at, METHOD);
  requireMode(request.mode, METHOD);
  if (!SPECIAL_TYPES.has(request.type)) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${METHOD}: field 'type' must be FIFO, SOCKET, CHAR_DEVICE or BLOCK_DEVICE, got ${request.type}`,
    );
  }
  const devices = request.type === InodeType.CHAR_DEVICE || request.type === InodeType.BLOCK_DEVICE;
  const rdev = devices ? requireU64(request.rdev, METHOD, 'rdev') : 0;
  return ctx.mutate(
    {
      method: METHOD,
      tag: request.tag,
      requestBytes: MakeNodeRequest.encode(request).finish(),
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
      const node = newSpecialInode(ids.take(), request.type, ownerFor(caller, request), rdev, mt.nowUs);
      mt.createInode(node);
      addEntry(mt, named.parent, named.name, node);
      return { inode: snapshot(node) };
    },
  );
}
