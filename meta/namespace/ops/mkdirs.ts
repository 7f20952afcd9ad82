// Mkdirs: create a directory; with `recursive`, also its missing parents, and succeed when it
// already is a directory (mkdir -p). New directories inherit the parent's layout (chunk size,
// stripe width, chain table) and add one to the parent's nlink. One transaction: either the whole
// chain of directories appears or none.
import { ErrorCode, SpindleError, assert } from '../../../common/errors.js';
import { InodeResponse, InodeType, MkdirsRequest, type Inode } from '../../../proto/index.js';
import type { NamespaceContext } from '../context.js';
import type { IdLease } from '../inode-ids.js';
import { directoryLayout } from '../layout.js';
import { describePath, directoryKey, resolvePath } from '../path.js';
import type { MetaTxn } from '../store.js';
import { requireMode, requirePathAt } from '../validate.js';
import { ADMIN_CALLER, type Caller, ownerFor, requireAccess, searchCheck, WRITE } from '../permissions.js';
import { addEntry, newDirectoryInode, snapshot } from './helpers.js';

const METHOD = 'Mkdirs';

export async function mkdirs(
  ctx: NamespaceContext,
  request: MkdirsRequest,
  signal?: AbortSignal,
  caller: Caller = ADMIN_CALLER,
): Promise<InodeResponse> {
  const at = requirePathAt(request.at, METHOD);
  requireMode(request.mode, METHOD);
  const components = at.path.split('/').filter((part) => part.length > 0).length;
  return ctx.mutate(
    {
      method: METHOD,
      tag: request.tag,
      requestBytes: MkdirsRequest.encode(request).finish(),
      response: InodeResponse,
      ids: request.recursive ? Math.max(1, components) : 1,
      lanes: [directoryKey(at)],
      signal,
    },
    async (mt, ids) => {
      const make = (parent: Inode, name: string): Inode => {
        requireAccess(caller, parent, WRITE, METHOD, `the directory holding ${JSON.stringify(name)}`);
        return makeDirectory(ctx, mt, ids, parent, name, ownerFor(caller, request));
      };
      const resolved = await resolvePath(mt, at, {
        followLast: request.recursive,
        onMissingDirectory: request.recursive ? async (parent, name) => make(parent, name) : undefined,
        search: searchCheck(caller, METHOD),
      });
      const existing = resolved.inode;
      if (existing !== undefined) {
        if (request.recursive && existing.type === InodeType.DIRECTORY) return { inode: snapshot(existing) };
        throw new SpindleError(ErrorCode.EXISTS, `${METHOD}: ${describePath(at)} already exists`);
      }
      assert(
        resolved.parent !== undefined && resolved.name !== undefined,
        'a missing entry always has a parent and a name',
      );
      return { inode: snapshot(make(resolved.parent, resolved.name)) };
    },
  );
}

function makeDirectory(
  ctx: NamespaceContext,
  mt: MetaTxn,
  ids: IdLease,
  parent: Inode,
  name: string,
  request: MkdirsRequest,
): Inode {
  const directory = newDirectoryInode(
    ids.take(),
    parent.ino,
    request,
    directoryLayout(parent.layout, ctx.config),
    mt.nowUs,
  );
  mt.createInode(directory);
  addEntry(mt, parent, name, directory);
  return directory;
}
