// Stat: attributes of one entry; `follow_symlink` chooses stat (follow a final symlink) over
// lstat (describe the symlink itself). A read-only transaction.
import type { InodeResponse, StatRequest } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import { requireExisting, resolvePath } from '../path.js';
import { ADMIN_CALLER, type Caller, searchCheck } from '../permissions.js';
import { requirePathAt } from '../validate.js';
import { snapshot } from './helpers.js';

export async function stat(
  ctx: NamespaceContext,
  request: StatRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<InodeResponse> {
  const at = requirePathAt(request.at, 'Stat');
  return ctx.read(async (mt) => {
    const resolved = await resolvePath(mt, at, {
      followLast: request.followSymlink,
      search: searchCheck(caller, 'Stat'),
    });
    return { inode: snapshot(requireExisting(resolved, at)) };
  }, signal);
}
