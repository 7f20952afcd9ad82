// Typed, promise-based wrappers over the generated Meta and Mgmt gRPC clients: one method per
// RPC, typed SpindleErrors, per-attempt timeouts and retries of retryable errors inside the retry
// deadline.
//
// Idempotency: every mutating Meta call gets a RequestTag {clientId, requestId} once, before its
// first attempt; a retry after RPC_UNAVAILABLE or TIMEOUT (the first attempt may have been applied)
// sends the same tag, and meta answers it with the stored first result.
import type { Logger } from 'pino';
import { systemClock, systemRng, type Clock, type Rng } from '../common/clock.js';
import type { ClientConfig } from '../common/config.js';
import { ErrorCode, SpindleError, isSpindleError } from '../common/errors.js';
import { CHANNEL_OPTIONS, callUnary, insecureChannel } from '../common/rpc.js';
import {
  MetaClient,
  MgmtClient,
  type BatchStatRequest,
  type BatchStatResponse,
  type CreateChainTableResponse,
  type GetRoutingInfoResponse,
  type HardLinkRequest,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type InodeResponse,
  type MkdirsRequest,
  type OpenRequest,
  type OpenResponse,
  type ReadDirRequest,
  type ReadDirResponse,
  type ReadLinkResponse,
  type RegisterNodeRequest,
  type RegisterNodeResponse,
  type RemoveRequest,
  type RemoveResponse,
  type RenameRequest,
  type RenameResponse,
  type RequestTag,
  type SetAttrRequest,
  type SetLayoutRequest,
  type StatFsResponse,
  type StatRequest,
  type SymlinkRequest,
  type SyncRequest,
  type TruncateRequest,
  type UpdateChainResponse,
} from '../proto/index.js';
import { withRetries, type RetryAction } from './retry-policy.js';

export interface RpcCallOptions {
  signal?: AbortSignal;
  /** Per-attempt timeout (default: config.rpcTimeoutMs). */
  timeoutMs?: number;
  /** Retry retryable errors (default true). */
  retry?: boolean;
}

export interface RpcClientOptions {
  /** host:port of the meta process (Meta and Mgmt share its port). */
  address: string;
  /** Stable id of this client instance, the first half of every idempotency tag. */
  clientId: string;
  config: ClientConfig;
  /** Source of request ids (shared with the chunk store); a counter if absent. */
  nextRequestId?: () => number;
  clock?: Clock;
  rng?: Rng;
  logger?: Logger;
}

/** A mutating request without its tag: the wrapper adds it. */
type Untagged<T> = Omit<T, 'tag'>;

const classifyMeta = (err: unknown): RetryAction => {
  if (!isSpindleError(err)) return 'fail';
  if (err.errorCode === ErrorCode.CANCELLED || err.errorCode === ErrorCode.CLIENT_CLOSED) return 'fail';
  return err.retryable ? 'retry' : 'fail';
};

/** Shared plumbing of the two wrappers. */
abstract class RpcBase<C extends MetaClient | MgmtClient> {
  protected readonly clientId: string;
  protected readonly config: ClientConfig;
  protected readonly nextRequestId: () => number;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly logger: Logger | undefined;
  private isClosed = false;

  protected constructor(
    readonly client: C,
    readonly address: string,
    options: RpcClientOptions,
  ) {
    this.clientId = options.clientId;
    this.config = options.config;
    let counter = 0;
    this.nextRequestId = options.nextRequestId ?? (() => ++counter);
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? systemRng();
    this.logger = options.logger;
  }

  /** A fresh idempotency tag (one per logical request, reused by its retries). */
  newTag(): RequestTag {
    return { clientId: this.clientId, requestId: this.nextRequestId() };
  }

  protected call<Req, Res>(
    method: (this: C, ...args: any[]) => any,
    request: Req,
    what: string,
    options: RpcCallOptions = {},
  ): Promise<Res> {
    if (this.isClosed) return Promise.reject(new SpindleError(ErrorCode.CLIENT_CLOSED, `${what}: the client is closed`));
    const attempt = () =>
      callUnary<C, Req, Res>(this.client, method, request, what, {
        timeoutMs: options.timeoutMs ?? this.config.rpcTimeoutMs,
        signal: options.signal,
      });
    if (options.retry === false) return attempt();
    return withRetries(attempt, {
      clock: this.clock,
      rng: this.rng,
      backoff: { initialMs: this.config.retryBackoffInitialMs, maxMs: this.config.retryBackoffMaxMs },
      deadlineMs: this.config.retryDeadlineMs,
      what,
      signal: options.signal,
      classify: classifyMeta,
      onRetry: (err) => {
        this.logger?.debug({ what, code: err.codeName, err: err.message }, 'meta request retried');
      },
    });
  }

  /** Closes the channel; later calls fail with CLIENT_CLOSED. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.client.close();
  }
}

/** The namespace service (Meta) of one meta process. */
export class MetaRpc extends RpcBase<MetaClient> {
  constructor(options: RpcClientOptions) {
    super(new MetaClient(options.address, insecureChannel(), CHANNEL_OPTIONS), options.address, options);
  }

  open(request: Untagged<OpenRequest>, options?: RpcCallOptions): Promise<OpenResponse> {
    return this.call(this.client.open, { ...request, tag: this.newTag() }, 'meta.Open', options);
  }

  mkdirs(request: Untagged<MkdirsRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.call(this.client.mkdirs, { ...request, tag: this.newTag() }, 'meta.Mkdirs', options);
  }

  stat(request: StatRequest, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.call(this.client.stat, request, 'meta.Stat', options);
  }

  batchStat(request: BatchStatRequest, options?: RpcCallOptions): Promise<BatchStatResponse> {
    return this.call(this.client.batchStat, request, 'meta.BatchStat', options);
  }

  readDir(request: ReadDirRequest, options?: RpcCallOptions): Promise<ReadDirResponse> {
    return this.call(this.client.readDir, request, 'meta.ReadDir', options);
  }

  rename(request: Untagged<RenameRequest>, options?: RpcCallOptions): Promise<RenameResponse> {
    return this.call(this.client.rename, { ...request, tag: this.newTag() }, 'meta.Rename', options);
  }

  remove(request: Untagged<RemoveRequest>, options?: RpcCallOptions): Promise<RemoveResponse> {
    return this.call(this.client.remove, { ...request, tag: this.newTag() }, 'meta.Remove', options);
  }

  symlink(request: Untagged<SymlinkRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.call(this.client.symlink, { ...request, tag: this.newTag() }, 'meta.Symlink', options);
  }

  readLink(request: StatRequest, options?: RpcCallOptions): Promise<ReadLinkResponse> {
    return this.call(this.client.readLink, request, 'meta.ReadLink', options);
  }

  hardLink(request: Untagged<HardLinkRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.call(this.client.hardLink, { ...request, tag: this.newTag() }, 'meta.HardLink', options);
  }

  truncate(request: Untagged<TruncateRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.call(this.client.truncate, { ...request, tag: this.newTag() }, 'meta.Truncate', options);
  }

  setAttr(request: Untagged<SetAttrRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.call(this.client.setAttr, { ...request, tag: this.newTag() }, 'meta.SetAttr', options);
  }

  setLayout(request: Untagged<SetLayoutRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.call(this.client.setLayout, { ...request, tag: this.newTag() }, 'meta.SetLayout', options);
  }

  statFs(options?: RpcCallOptions): Promise<StatFsResponse> {
    return this.call(this.client.statFs, {}, 'meta.StatFs', options);
  }

  sync(request: Untagged<SyncRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.call(this.client.sync, { ...request, tag: this.newTag() }, 'meta.Sync', options);
  }
}

/** The cluster manager (Mgmt) hosted by the meta process. */
export class MgmtRpc extends RpcBase<MgmtClient> {
  constructor(options: RpcClientOptions) {
    super(new MgmtClient(options.address, insecureChannel(), CHANNEL_OPTIONS), options.address, options);
  }

  /**
   * Routing newer than `knownVersion`. One attempt by default: the routing cache has its own
   * retry loop, and the data path retries around it.
   */
  getRoutingInfo(knownVersion: number, options: RpcCallOptions = {}): Promise<GetRoutingInfoResponse> {
    return this.call(this.client.getRoutingInfo, { knownVersion }, 'mgmt.GetRoutingInfo', { retry: false, ...options });
  }

  registerNode(request: RegisterNodeRequest, options?: RpcCallOptions): Promise<RegisterNodeResponse> {
    return this.call(this.client.registerNode, request, 'mgmt.RegisterNode', options);
  }

  heartbeat(request: HeartbeatRequest, options?: RpcCallOptions): Promise<HeartbeatResponse> {
    return this.call(this.client.heartbeat, request, 'mgmt.Heartbeat', { retry: false, ...options });
  }

  /** Builds a chain table over the registered nodes with `replicas` per chain (admin). */
  createChainTable(replicas: number, options?: RpcCallOptions): Promise<CreateChainTableResponse> {
    return this.call(this.client.createChainTable, { tag: this.newTag(), replicas }, 'mgmt.CreateChainTable', options);
  }

  /** Reorders a chain's targets, head first; bumps the chain version (admin). */
  updateChain(chainId: number, targetIds: number[], options?: RpcCallOptions): Promise<UpdateChainResponse> {
    return this.call(this.client.updateChain, { tag: this.newTag(), chainId, targetIds }, 'mgmt.UpdateChain', options);
  }
}
