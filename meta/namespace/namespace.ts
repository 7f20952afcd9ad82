// Namespace: the metadata operations of docs/design.md §3 over a KvEngine. Each operation is one
// serializable transaction (a recursive remove is a loop of them); mutating operations are
// exactly-once per request tag (idempotency.ts). The gRPC edge is meta/service/meta-service.ts.
//
// Store schema: schema.ts. Path rules: path.ts. One file per operation in ops/. The public
// operations are exactly the Meta RPCs of proto/meta.proto (MetaHandlers, common/meta-methods.ts):
// the compiler refuses a Namespace that lacks one, and the service serves each by its name.
// Each operation acts as the call's principal and checks POSIX permissions for it (permissions.ts).
import type { Principal } from '../../common/auth/principal.js';
import { ROOT_INO } from '../../common/constants.js';
import type { MetaHandlers } from '../../common/meta-methods.js';
import type {
  BatchOpenRequest,
  BatchOpenResponse,
  BatchRemoveRequest,
  BatchRemoveResponse,
  BatchRenameRequest,
  BatchRenameResponse,
  BatchStatRequest,
  BatchStatResponse,
  GetXattrRequest,
  HardLinkRequest,
  InodeResponse,
  ListXattrResponse,
  LockRequest,
  LockResponse,
  MakeNodeRequest,
  MkdirsRequest,
  OpenRequest,
  OpenResponse,
  PollChangesRequest,
  PollChangesResponse,
  ReadDirRequest,
  ReadDirResponse,
  ReadLinkResponse,
  RemoveRequest,
  RemoveResponse,
  RenameRequest,
  RenameResponse,
  RenewLockSessionRequest,
  RenewLockSessionResponse,
  SetAttrRequest,
  SetLayoutRequest,
  SetXattrRequest,
  StatFsRequest,
  StatFsResponse,
  StatRequest,
  SymlinkRequest,
  SyncRequest,
  TruncateRequest,
  XattrResponse,
} from '../../proto/index.js';
import { NamespaceContext, type NamespaceDeps } from './context.js';
import { sweepIdempotency } from './idempotency.js';
import { rootLayout } from './layout.js';
import { batchOpen } from './ops/batch-open.js';
import { batchRemove, batchRename } from './ops/batch-rename-remove.js';
import { batchStat } from './ops/batch-stat.js';
import { hardLink } from './ops/hard-link.js';
import { newDirectoryInode } from './ops/helpers.js';
import { lock, renewLockSession } from './ops/lock.js';
import { makeNode } from './ops/make-node.js';
import { mkdirs } from './ops/mkdirs.js';
import { open } from './ops/open.js';
import { readDir } from './ops/readdir.js';
import { readLink } from './ops/readlink.js';
import { remove } from './ops/remove.js';
import { rename } from './ops/rename.js';
import { setAttr } from './ops/set-attr.js';
import { setLayout } from './ops/set-layout.js';
import { stat } from './ops/stat.js';
import { statFs } from './ops/statfs.js';
import { symlink } from './ops/symlink.js';
import { sync } from './ops/sync.js';
import { truncate } from './ops/truncate.js';
import { getXattr, listXattr, removeXattr, setXattr } from './ops/xattr.js';
import { callerOf } from './permissions.js';
import { MetaTxn } from './store.js';

export type NamespaceOptions = NamespaceDeps;

export interface CallOptions {
  signal?: AbortSignal;
  /** Who calls (the gRPC call's context carries it); absent: an in-process caller, as an admin. */
  principal?: Principal;
}

export class Namespace implements MetaHandlers<CallOptions> {
  private readonly ctx: NamespaceContext;

  constructor(options: NamespaceOptions) {
    this.ctx = new NamespaceContext(options);
  }

  /** Creates the root directory (inode 1, mode 0755, the default layout) if it is missing. Idempotent. */
  async init(options: CallOptions = {}): Promise<void> {
    const { kv, clock, rng, config } = this.ctx.deps;
    const created = await kv.transaction(
      async (txn) => {
        const mt = new MetaTxn(txn, clock.nowUs());
        if ((await mt.getInode(ROOT_INO)) !== undefined) return false;
        mt.createInode(
          newDirectoryInode(ROOT_INO, ROOT_INO, { mode: 0o755, uid: 0, gid: 0 }, rootLayout(config), mt.nowUs),
        );
        await mt.flush(rng);
        return true;
      },
      { signal: options.signal },
    );
    await this.ctx.ids.prefetch();
    if (created) this.ctx.deps.logger.info({ ino: ROOT_INO }, 'created the root directory');
  }

  open(request: OpenRequest, options: CallOptions = {}): Promise<OpenResponse> {
    return open(this.ctx, request, options.signal, callerOf(options.principal));
  }

  /** Many opens, each run as open() with its own status (ops/batch-open.ts). */
  batchOpen(request: BatchOpenRequest, options: CallOptions = {}): Promise<BatchOpenResponse> {
    return batchOpen(this.ctx, request, options.signal, callerOf(options.principal));
  }

  mkdirs(request: MkdirsRequest, options: CallOptions = {}): Promise<InodeResponse> {
    return mkdirs(this.ctx, request, options.signal, callerOf(options.principal));
  }

  stat(request: StatRequest, options: CallOptions = {}): Promise<InodeResponse> {
    return stat(this.ctx, request, options.signal, callerOf(options.principal));
  }

  batchStat(request: BatchStatRequest, options: CallOptions = {}): Promise<BatchStatResponse> {
    return batchStat(this.ctx, request, options.signal, callerOf(options.principal));
  }

  readDir(request: ReadDirRequest, options: CallOptions = {}): Promise<ReadDirResponse> {
    return readDir(this.ctx, request, options.signal, callerOf(options.principal));
  }

  rename(request: RenameRequest, options: CallOptions = {}): Promise<RenameResponse> {
    return rename(this.ctx, request, options.signal, callerOf(options.principal));
  }

  remove(request: RemoveRequest, options: CallOptions = {}): Promise<RemoveResponse> {
    return remove(this.ctx, request, options.signal, callerOf(options.principal));
  }

  /** Many renames, each run as rename() with its own status (ops/batch-rename-remove.ts). */
  batchRename(request: BatchRenameRequest, options: CallOptions = {}): Promise<BatchRenameResponse> {
    return batchRename(this.ctx, request, options.signal, callerOf(options.principal));
  }

  /** Many removes, each run as remove() with its own status (ops/batch-rename-remove.ts). */
  batchRemove(request: BatchRemoveRequest, options: CallOptions = {}): Promise<BatchRemoveResponse> {
    return batchRemove(this.ctx, request, options.signal, callerOf(options.principal));
  }

  symlink(request: SymlinkRequest, options: CallOptions = {}): Promise<InodeResponse> {
    return symlink(this.ctx, request, options.signal, callerOf(options.principal));
  }

  readLink(request: StatRequest, options: CallOptions = {}): Promise<ReadLinkResponse> {
    return readLink(this.ctx, request, options.signal, callerOf(options.principal));
  }

  hardLink(request: HardLinkRequest, options: CallOptions = {}): Promise<InodeResponse> {
    return hardLink(this.ctx, request, options.signal, callerOf(options.principal));
  }

  truncate(request: TruncateRequest, options: CallOptions = {}): Promise<InodeResponse> {
    return truncate(this.ctx, request, options.signal, callerOf(options.principal));
  }

  setAttr(request: SetAttrRequest, options: CallOptions = {}): Promise<InodeResponse> {
    return setAttr(this.ctx, request, options.signal, callerOf(options.principal));
  }

  setLayout(request: SetLayoutRequest, options: CallOptions = {}): Promise<InodeResponse> {
    return setLayout(this.ctx, request, options.signal, callerOf(options.principal));
  }

  /** Capacity and usage; the request is empty (statFs() alone is enough). */
  statFs(_request: StatFsRequest = {}, options: CallOptions = {}): Promise<StatFsResponse> {
    return statFs(this.ctx, options.signal);
  }

  sync(request: SyncRequest, options: CallOptions = {}): Promise<InodeResponse> {
    return sync(this.ctx, request, options.signal, callerOf(options.principal));
  }

  makeNode(request: MakeNodeRequest, options: CallOptions = {}): Promise<InodeResponse> {
    return makeNode(this.ctx, request, options.signal, callerOf(options.principal));
  }

  setXattr(request: SetXattrRequest, options: CallOptions = {}): Promise<XattrResponse> {
    return setXattr(this.ctx, request, options.signal, callerOf(options.principal));
  }

  getXattr(request: GetXattrRequest, options: CallOptions = {}): Promise<XattrResponse> {
    return getXattr(this.ctx, request, options.signal, callerOf(options.principal));
  }

  listXattr(request: StatRequest, options: CallOptions = {}): Promise<ListXattrResponse> {
    return listXattr(this.ctx, request, options.signal, callerOf(options.principal));
  }

  removeXattr(request: GetXattrRequest, options: CallOptions = {}): Promise<XattrResponse> {
    return removeXattr(this.ctx, request, options.signal, callerOf(options.principal));
  }

  lock(request: LockRequest, options: CallOptions = {}): Promise<LockResponse> {
    return lock(this.ctx, request, options.signal);
  }

  renewLockSession(request: RenewLockSessionRequest, options: CallOptions = {}): Promise<RenewLockSessionResponse> {
    return renewLockSession(this.ctx, request, options.signal);
  }

  /** Inodes other clients changed since the request's cursor (a long poll; see meta/changes/). */
  pollChanges(request: PollChangesRequest, options: CallOptions = {}): Promise<PollChangesResponse> {
    const feed = this.ctx.deps.changes;
    // Without a feed (a namespace built for one tool) nothing is ever published: every poll misses.
    if (feed === undefined) return Promise.resolve({ feedId: '', cursor: 0, inos: [], missed: true });
    return feed.poll(request, options.signal);
  }

  /**
   * Deletes idempotency records older than MetaConfig.idempotencyTtlMs (at most `limit`); the
   * server calls it periodically. Returns how many were deleted.
   */
  sweepIdempotency(limit?: number): Promise<number> {
    const { kv, clock, config } = this.ctx.deps;
    return sweepIdempotency(kv, clock.nowUs(), config.idempotencyTtlMs, limit);
  }
}
