// The Meta gRPC service: maps each RPC to the Namespace, passing the call's abort signal, and lets
// serviceImplementation() turn errors into gRPC status and typed trailers. No namespace logic
// lives here (CONTRIBUTING.md: service → operator → store).
//
// Malformed requests — a missing required sub-message, an inode id or length out of range, a bad
// mode or name — are refused by the operations' first step (meta/namespace/validate.ts and
// common/names.ts) with INVALID_ARGUMENT (or INVALID_NAME / NAME_TOO_LONG) naming the field,
// before any transaction starts, so they change nothing. Bytes that do not decode never reach a
// handler (grpc-js answers them; the client sees RPC_MALFORMED).
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { isSpindleError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { serviceImplementation, type CallContext } from '../../common/rpc.js';
import type {
  BatchOpenRequest,
  BatchOpenResponse,
  BatchStatRequest,
  BatchStatResponse,
  HardLinkRequest,
  InodeResponse,
  MkdirsRequest,
  OpenRequest,
  OpenResponse,
  ReadDirRequest,
  ReadDirResponse,
  ReadLinkResponse,
  RemoveRequest,
  RemoveResponse,
  RenameRequest,
  RenameResponse,
  SetAttrRequest,
  SetLayoutRequest,
  StatFsRequest,
  StatFsResponse,
  StatRequest,
  SymlinkRequest,
  SyncRequest,
  TruncateRequest,
} from '../../proto/index.js';
import type { Namespace } from '../namespace/index.js';

/** The implementation object for `server.addService(MetaService, …)`. */
export function createMetaServiceImplementation(namespace: Namespace, logger: Logger): UntypedServiceImplementation {
  const log = logger.child({ component: 'meta.service' });
  return serviceImplementation(
    {
      open: (request: OpenRequest, context: CallContext): Promise<OpenResponse> => namespace.open(request, context),
      batchOpen: (request: BatchOpenRequest, context: CallContext): Promise<BatchOpenResponse> =>
        namespace.batchOpen(request, context),
      mkdirs: (request: MkdirsRequest, context: CallContext): Promise<InodeResponse> =>
        namespace.mkdirs(request, context),
      stat: (request: StatRequest, context: CallContext): Promise<InodeResponse> => namespace.stat(request, context),
      batchStat: (request: BatchStatRequest, context: CallContext): Promise<BatchStatResponse> =>
        namespace.batchStat(request, context),
      readDir: (request: ReadDirRequest, context: CallContext): Promise<ReadDirResponse> =>
        namespace.readDir(request, context),
      rename: (request: RenameRequest, context: CallContext): Promise<RenameResponse> =>
        namespace.rename(request, context),
      remove: (request: RemoveRequest, context: CallContext): Promise<RemoveResponse> =>
        namespace.remove(request, context),
      symlink: (request: SymlinkRequest, context: CallContext): Promise<InodeResponse> =>
        namespace.symlink(request, context),
      readLink: (request: StatRequest, context: CallContext): Promise<ReadLinkResponse> =>
        namespace.readLink(request, context),
      hardLink: (request: HardLinkRequest, context: CallContext): Promise<InodeResponse> =>
        namespace.hardLink(request, context),
      truncate: (request: TruncateRequest, context: CallContext): Promise<InodeResponse> =>
        namespace.truncate(request, context),
      setAttr: (request: SetAttrRequest, context: CallContext): Promise<InodeResponse> =>
        namespace.setAttr(request, context),
      setLayout: (request: SetLayoutRequest, context: CallContext): Promise<InodeResponse> =>
        namespace.setLayout(request, context),
      statFs: (_request: StatFsRequest, context: CallContext): Promise<StatFsResponse> => namespace.statFs(context),
      sync: (request: SyncRequest, context: CallContext): Promise<InodeResponse> => namespace.sync(request, context),
    },
    (method, err) => {
      if (isSpindleError(err) && err.codeName !== 'INTERNAL') {
        log.debug({ method, code: err.codeName, msg: err.message }, 'request refused');
      } else {
        log.error({ method, err }, 'request failed unexpectedly');
      }
    },
  );
}
