// SetAttr: change permission bits, owner, group, access and modification times; ctime becomes
// now. A final symlink is followed unless `no_follow`. Fields left unset keep their values.
// chmod and times need the owner, chown root, chgrp the owner moving to its own group (permissions.ts).
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { InodeResponse, SetAttrRequest } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { requireExisting, resolvePath } from '../path.js';
import { requireMode, requirePathAt, requireU64 } from '../validate.js';
import { ADMIN_CALLER, type Caller, requireOwner, requireOwnershipChange, searchCheck } from '../permissions.js';
import { snapshot } from './helpers.js';

const METHOD = 'SetAttr';
const U32_MAX = 0xffff_ffff;

export async function setAttr(
  ctx: NamespaceContext,
  request: SetAttrRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<InodeResponse> {
  const at = requirePathAt(request.at, METHOD);
  if (request.mode !== undefined) requireMode(request.mode, METHOD);
  for (const field of ['uid', 'gid'] as const) {
    const value = request[field];
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > U32_MAX)) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `${METHOD}: field '${field}' must be between 0 and ${U32_MAX}, got ${value}`,
      );
    }
  }
  if (request.atimeUs !== undefined) requireU64(request.atimeUs, METHOD, 'atime_us');
  if (request.mtimeUs !== undefined) requireU64(request.mtimeUs, METHOD, 'mtime_us');
  return ctx.mutate(
    {
      method: METHOD,
      tag: request.tag,
      requestBytes: SetAttrRequest.encode(request).finish(),
      response: InodeResponse,
      signal,
    },
    async (mt) => {
      const inode = requireExisting(
        await resolvePath(mt, at, { followLast: !request.noFollow, search: searchCheck(caller, METHOD) }),
        at,
      );
      if (request.mode !== undefined) requireOwner(caller, inode, METHOD, 'change the mode');
      requireOwnershipChange(caller, inode, request, METHOD);
      if (request.atimeUs !== undefined || request.mtimeUs !== undefined)
        requireOwner(caller, inode, METHOD, 'set its times');
      if (request.mode !== undefined) inode.mode = request.mode;
      if (request.uid !== undefined) inode.uid = request.uid;
      if (request.gid !== undefined) inode.gid = request.gid;
      if (request.atimeUs !== undefined) inode.atimeUs = request.atimeUs;
      if (request.mtimeUs !== undefined) inode.mtimeUs = request.mtimeUs;
      inode.ctimeUs = mt.nowUs;
      mt.touch(inode);
      return { inode: snapshot(inode) };
    },
  );
}
