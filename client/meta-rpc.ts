// Typed, promise-based wrappers over the generated Meta and Mgmt gRPC clients: one method per
// RPC, typed SpindleErrors, per-attempt timeouts and retries of retryable errors inside the retry
// deadline.
//
// Idempotency: every mutating Meta call gets a RequestTag {clientId, requestId} once, before its
// first attempt; a retry after RPC_UNAVAILABLE or TIMEOUT (the first attempt may have been applied)
// sends the same tag, and meta answers it with the stored first result.
//
// Coalescing: stat/lstat, open, rename and remove calls made without per-call options are combined
// while others of their kind are in flight (Coalescer below) into one BatchStat, BatchOpen,
// BatchRename or BatchRemove, so meta and this process pay the per-RPC cost of grpc-js once per
// batch — with 64 calls in flight that cost, not the namespace, bounded throughput. A call made
// while nothing of its kind is in flight goes out at once as a plain call (no added latency); a
// batch of one is sent as the plain call too.
// Callers cannot tell: every item gets the answer or the typed error it would get alone (items
// carry their own status; an item failing with a retryable code, or a batch meta refuses as a
// whole, is re-sent item by item), and every open, rename and remove keeps its own tag, so a
// retried batch replays the items meta already applied.
import type { Logger } from 'pino';
import { systemClock, systemRng, type Clock, type Rng } from '../common/clock.js';
import type { ClientConfig } from '../common/config.js';
import { ErrorCode, SpindleError, asSpindleError, isKnownErrorCode, isSpindleError } from '../common/errors.js';
import {
  isTaggedMetaMethod,
  metaCallName,
  type MetaMethod,
  type MetaRequest,
  type MetaResponse,
} from '../common/meta-methods.js';
import { FailoverClients, parseAddressList } from '../common/failover-clients.js';
import { retryWithBackoff } from '../common/retry.js';
import { callUnary, channelCredentials } from '../common/rpc.js';
import { channelOptionsWithToken } from '../common/auth/client-auth.js';
import {
  MetaClient,
  MgmtClient,
  type BatchOpenRequest,
  type BatchOpenResponse,
  type BatchRemoveRequest,
  type BatchRemoveResponse,
  type BatchRenameRequest,
  type BatchRenameResponse,
  type BatchStatRequest,
  type BatchStatResponse,
  type CreateChainTableResponse,
  type GetRoutingInfoResponse,
  type GetXattrRequest,
  type HardLinkRequest,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type InodeResponse,
  type ListXattrResponse,
  type LockRequest,
  type LockResponse,
  type MakeNodeRequest,
  type MkdirsRequest,
  type OpenRequest,
  type OpenResponse,
  type PollChangesRequest,
  type PollChangesResponse,
  type ReadDirRequest,
  type ReadDirResponse,
  type ReadLinkResponse,
  type RegisterNodeRequest,
  type RegisterNodeResponse,
  type RemoveRequest,
  type RemoveResponse,
  type RenameRequest,
  type RenameResponse,
  type RenewLockSessionRequest,
  type RenewLockSessionResponse,
  type RequestTag,
  type SetAttrRequest,
  type SetLayoutRequest,
  type SetXattrRequest,
  type StatFsRequest,
  type StatFsResponse,
  type StatRequest,
  type Status,
  type SymlinkRequest,
  type SyncRequest,
  type TruncateRequest,
  type UpdateChainResponse,
  type XattrResponse,
} from '../proto/index.js';
import { clientRetryBudget, metaRetryAction } from './retry-policy.js';

export interface RpcCallOptions {
  signal?: AbortSignal;
  /** Per-attempt timeout (default: config.rpcTimeoutMs). */
  timeoutMs?: number;
  /** Retry retryable errors (default true). */
  retry?: boolean;
}

export interface RpcClientOptions {
  /** host:port of the meta process (Meta and Mgmt share its port), or a comma-separated list of them. */
  address: string;
  /** Stable id of this client instance, the first half of every idempotency tag. */
  clientId: string;
  config: ClientConfig;
  /** Source of request ids (shared with the chunk store); a counter if absent. */
  nextRequestId?: () => number;
  /** Bearer token sent on every call (docs/security.md); none for a cluster with authentication off. */
  token?: string;
  clock?: Clock;
  rng?: Rng;
  logger?: Logger;
}

/**
 * Most calls one coalesced batch carries. Meta allows 256 opens, renames or removes and
 * `batchStatMax` stats (1,024 in production, 16 in the test preset): a batch meta refuses as too
 * large is re-sent item by item and later batches are made smaller.
 */
const META_BATCH_ITEMS_MAX = 64;
/**
 * Coalesced batches of one kind in flight at once. Two let this process build the next batch
 * while meta works on the previous one (one batch at a time was slower, more were costlier);
 * calls made meanwhile wait for a free slot.
 */
const META_BATCHES_INFLIGHT_MAX = 2;

/** One call waiting in a Coalescer. */
interface Pending<Item, Result> {
  readonly item: Item;
  readonly resolve: (result: Result) => void;
  readonly reject: (err: unknown) => void;
}

/** What a batch answered for one item: its result, or the error it would have got alone. */
type ItemOutcome<Result> = { ok: true; value: Result } | { ok: false; error: SpindleError };

export interface CoalescerOptions<Item, Result> {
  /** Sends one item alone (the plain RPC, with retries). */
  single: (item: Item) => Promise<Result>;
  /** Sends 2+ items as one batch RPC (with retries); one outcome per item, in order. */
  batch: (items: Item[]) => Promise<Array<ItemOutcome<Result>>>;
  itemsMax?: number;
  inflightMax?: number;
  /** Told when meta refused a batch as a whole and its items went alone. */
  onFallback?: (err: SpindleError, items: number) => void;
}

/**
 * Combines concurrent calls of one kind into batches: a call goes out at once when nothing is in
 * flight; calls made while batches are in flight are queued and sent together (at most itemsMax
 * per batch, inflightMax batches at a time) once the current event-loop turn's calls are all in.
 * Every queue here is bounded by the callers' own concurrency (each call waits for its answer).
 */
export class Coalescer<Item, Result> {
  private queue: Array<Pending<Item, Result>> = [];
  private inflight = 0;
  private scheduled = false;
  private itemsMax: number;
  private readonly inflightMax: number;

  constructor(private readonly options: CoalescerOptions<Item, Result>) {
    this.itemsMax = options.itemsMax ?? META_BATCH_ITEMS_MAX;
    this.inflightMax = options.inflightMax ?? META_BATCHES_INFLIGHT_MAX;
  }

  /** Batch size now in use (lowered when meta refuses a batch as too large). */
  get batchItemsMax(): number {
    return this.itemsMax;
  }

  submit(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.inflight === 0 && !this.scheduled) this.flush();
      else this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inflight >= this.inflightMax || this.queue.length === 0) return;
    this.scheduled = true;
    // After every call of this turn (and the continuations of answers just delivered) is queued.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inflight < this.inflightMax) {
      // As many as fit: fewer, larger batches cost both ends less CPU per call than spreading the
      // queue over the free slots (measured: ~25 % less per stat with 64 in flight).
      const batch = this.queue.splice(0, this.itemsMax);
      this.inflight++;
      void this.run(batch).finally(() => {
        this.inflight--;
        this.schedule();
      });
    }
  }

  private async run(batch: Array<Pending<Item, Result>>): Promise<void> {
    if (batch.length === 1) {
      await this.sendAlone(batch[0]!);
      return;
    }
    let outcomes: Array<ItemOutcome<Result>>;
    try {
      outcomes = await this.options.batch(batch.map((pending) => pending.item));
    } catch (err) {
      if (
        isSpindleError(err) &&
        (err.errorCode === ErrorCode.INVALID_ARGUMENT || err.errorCode === ErrorCode.RPC_MALFORMED)
      ) {
        // Too many items for this meta, an item it refuses, or a meta without the batch RPC:
        // each item alone gets exactly the answer it would have got without coalescing.
        this.itemsMax = Math.max(1, Math.floor(batch.length / 2));
        this.options.onFallback?.(err, batch.length);
        await Promise.all(batch.map((pending) => this.sendAlone(pending)));
        return;
      }
      for (const pending of batch) pending.reject(err);
      return;
    }
    const again: Array<Pending<Item, Result>> = [];
    batch.forEach((pending, i) => {
      const outcome = outcomes[i];
      if (outcome === undefined)
        pending.reject(
          new SpindleError(
            ErrorCode.INTERNAL,
            `meta answered ${outcomes.length} results for a batch of ${batch.length}`,
          ),
        );
      else if (outcome.ok) pending.resolve(outcome.value);
      else if (outcome.error.retryable) again.push(pending);
      else pending.reject(outcome.error);
    });
    // A retryable failure of one item (a conflict, say) is retried the way a single call is.
    await Promise.all(again.map((pending) => this.sendAlone(pending)));
  }

  private sendAlone(pending: Pending<Item, Result>): Promise<void> {
    return this.options.single(pending.item).then(pending.resolve, pending.reject);
  }
}

/** The outcome of one batch item from its Status (`what` names the call, as in error messages). */
function itemOutcome<Result>(status: Status | undefined, value: Result | undefined, what: string): ItemOutcome<Result> {
  const code = status?.code ?? ErrorCode.INTERNAL;
  if (code === ErrorCode.OK) {
    if (value === undefined)
      return { ok: false, error: new SpindleError(ErrorCode.INTERNAL, `${what}: meta answered without a result`) };
    return { ok: true, value };
  }
  if (!isKnownErrorCode(code))
    return {
      ok: false,
      error: new SpindleError(
        ErrorCode.INTERNAL,
        `${what}: meta answered unknown error code ${code}: ${status?.message ?? ''}`,
      ),
    };
  return { ok: false, error: new SpindleError(code, status?.message || `${what} failed`) };
}

/** A call with no per-call options can ride in a batch (a signal or timeout belongs to one call). */
function coalescable(options: RpcCallOptions | undefined): boolean {
  return (
    options === undefined ||
    (options.signal === undefined && options.timeoutMs === undefined && options.retry === undefined)
  );
}

/** A mutating request without its tag: the wrapper adds it. */
type Untagged<T> = Omit<T, 'tag'>;

/** Shared plumbing of the two wrappers. */
abstract class RpcBase<C extends MetaClient | MgmtClient> {
  protected readonly clientId: string;
  protected readonly config: ClientConfig;
  protected readonly nextRequestId: () => number;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly logger: Logger | undefined;
  private isClosed = false;

  /** One client per meta address (`address` may list several); calls fail over between them. */
  private readonly clients: FailoverClients<C>;

  protected constructor(
    makeClient: (address: string) => C,
    readonly address: string,
    options: RpcClientOptions,
  ) {
    this.clients = new FailoverClients(parseAddressList(address), makeClient);
    this.clientId = options.clientId;
    this.config = options.config;
    let counter = 0;
    this.nextRequestId = options.nextRequestId ?? (() => ++counter);
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? systemRng();
    this.logger = options.logger;
  }

  /** The client calls go to now (generated methods are shared by every client of a service). */
  get client(): C {
    return this.clients.current;
  }

  /** A fresh idempotency tag (one per logical request, reused by its retries). */
  newTag(): RequestTag {
    return { clientId: this.clientId, requestId: this.nextRequestId() };
  }

  protected call<Req, Res>(
    // biome-ignore lint/suspicious/noExplicitAny: a generated grpc-js client method; Req/Res type the call
    method: (this: C, ...args: any[]) => any,
    request: Req,
    what: string,
    options: RpcCallOptions = {},
  ): Promise<Res> {
    if (this.isClosed)
      return Promise.reject(new SpindleError(ErrorCode.CLIENT_CLOSED, `${what}: the client is closed`));
    const attempt = () => {
      const client = this.clients.current;
      return callUnary<C, Req, Res>(client, method, request, what, {
        timeoutMs: options.timeoutMs ?? this.config.rpcTimeoutMs,
        signal: options.signal,
      }).catch((err: unknown) => {
        // A meta that is down, or a standby asked for Mgmt: the next attempt goes to the next address.
        if (isSpindleError(err) && err.retryable) this.clients.failed(client);
        throw err;
      });
    };
    // One attempt too goes through the loop, so every failure is a SpindleError naming the call
    // (`what`: 'meta.Open', …) when meta or the transport did not type it.
    return retryWithBackoff(attempt, {
      ...clientRetryBudget(this.config, this.clock, this.rng),
      what,
      signal: options.signal,
      classify: options.retry === false ? () => 'fail' : metaRetryAction,
      onRetry: (err) => {
        const error = asSpindleError(err);
        this.logger?.debug({ what, code: error.codeName, err: error.message }, 'meta request retried');
      },
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Closes the channel; later calls fail with CLIENT_CLOSED. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.clients.close();
  }
}

/** Each Meta RPC as a MetaRpc method: a mutating one's request without its tag (the wrapper adds it). */
type MetaRpcCalls = {
  [M in MetaMethod]: (request: Untagged<MetaRequest<M>>, options?: RpcCallOptions) => Promise<MetaResponse<M>>;
};

/**
 * The namespace service (Meta) of one meta process: one method per RPC of the proto (the compiler
 * refuses a MetaRpc without one), each sent by its name (common/meta-methods.ts).
 */
export class MetaRpc extends RpcBase<MetaClient> implements MetaRpcCalls {
  private readonly opens: Coalescer<OpenRequest, OpenResponse>;
  private readonly renames: Coalescer<RenameRequest, RenameResponse>;
  private readonly removes: Coalescer<RemoveRequest, RemoveResponse>;
  /** Index 0: stat (follow a final symlink); 1: lstat. */
  private readonly stats: [Coalescer<StatRequest, InodeResponse>, Coalescer<StatRequest, InodeResponse>];

  constructor(options: RpcClientOptions) {
    super(
      (address) => new MetaClient(address, channelCredentials(), channelOptionsWithToken(options.token)),
      options.address,
      options,
    );
    const onFallback = (what: string) => (err: SpindleError, items: number) =>
      options.logger?.debug(
        { what, items, code: err.codeName, err: err.message },
        'meta refused a batch; its calls went one by one',
      );
    this.opens = new Coalescer<OpenRequest, OpenResponse>({
      single: (request) => this.send('open', request),
      batch: async (requests) => {
        const response = await this.send('batchOpen', { requests });
        return requests.map((_, i) =>
          itemOutcome(response.results[i]?.status, response.results[i]?.response, metaCallName('open')),
        );
      },
      onFallback: onFallback(metaCallName('batchOpen')),
    });
    this.renames = new Coalescer<RenameRequest, RenameResponse>({
      single: (request) => this.send('rename', request),
      batch: async (requests) => {
        const response = await this.send('batchRename', { requests });
        return requests.map((_, i) =>
          itemOutcome(response.results[i]?.status, response.results[i]?.response, metaCallName('rename')),
        );
      },
      onFallback: onFallback(metaCallName('batchRename')),
    });
    this.removes = new Coalescer<RemoveRequest, RemoveResponse>({
      single: (request) => this.send('remove', request),
      batch: async (requests) => {
        const response = await this.send('batchRemove', { requests });
        return requests.map((_, i) =>
          itemOutcome(response.results[i]?.status, response.results[i]?.response, metaCallName('remove')),
        );
      },
      onFallback: onFallback(metaCallName('batchRemove')),
    });
    const statCoalescer = (noFollow: boolean) =>
      new Coalescer<StatRequest, InodeResponse>({
        single: (request) => this.send('stat', request),
        batch: async (requests) => {
          const request: BatchStatRequest = { paths: requests.map((r) => r.at!), inos: [], noFollow };
          const response = await this.send('batchStat', request);
          return requests.map((_, i) => {
            const result = response.results[i];
            return itemOutcome(
              result?.status,
              result?.inode === undefined ? undefined : { inode: result.inode },
              metaCallName('stat'),
            );
          });
        },
        onFallback: onFallback(metaCallName('batchStat')),
      });
    this.stats = [statCoalescer(false), statCoalescer(true)];
  }

  /** Opens (or creates) a file; concurrent calls without options share BatchOpen calls. */
  open(request: Untagged<OpenRequest>, options?: RpcCallOptions): Promise<OpenResponse> {
    // One tag for the open, whether it goes alone, in a batch, or alone again after a batch.
    const tagged = { ...request, tag: this.newTag() };
    if (coalescable(options) && !this.closed) return this.opens.submit(tagged);
    return this.send('open', tagged, options);
  }

  /** Many opens in one call; each carries its own tag (newTag()), and gets its own status. */
  batchOpen(request: BatchOpenRequest, options?: RpcCallOptions): Promise<BatchOpenResponse> {
    return this.invoke('batchOpen', request, options);
  }

  mkdirs(request: Untagged<MkdirsRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.invoke('mkdirs', request, options);
  }

  /** Attributes of one entry; concurrent calls without options share BatchStat calls. */
  stat(request: StatRequest, options?: RpcCallOptions): Promise<InodeResponse> {
    if (coalescable(options) && !this.closed && request.at !== undefined)
      return this.stats[request.followSymlink ? 0 : 1].submit(request);
    return this.invoke('stat', request, options);
  }

  batchStat(request: BatchStatRequest, options?: RpcCallOptions): Promise<BatchStatResponse> {
    return this.invoke('batchStat', request, options);
  }

  readDir(request: ReadDirRequest, options?: RpcCallOptions): Promise<ReadDirResponse> {
    return this.invoke('readDir', request, options);
  }

  /** Renames an entry; concurrent calls without options share BatchRename calls. */
  rename(request: Untagged<RenameRequest>, options?: RpcCallOptions): Promise<RenameResponse> {
    const tagged = { ...request, tag: this.newTag() };
    if (coalescable(options) && !this.closed) return this.renames.submit(tagged);
    return this.send('rename', tagged, options);
  }

  /** Many renames in one call; each carries its own tag (newTag()), and gets its own status. */
  batchRename(request: BatchRenameRequest, options?: RpcCallOptions): Promise<BatchRenameResponse> {
    return this.invoke('batchRename', request, options);
  }

  /** Removes an entry; concurrent calls without options share BatchRemove calls. */
  remove(request: Untagged<RemoveRequest>, options?: RpcCallOptions): Promise<RemoveResponse> {
    const tagged = { ...request, tag: this.newTag() };
    if (coalescable(options) && !this.closed) return this.removes.submit(tagged);
    return this.send('remove', tagged, options);
  }

  /** Many removes in one call; each carries its own tag (newTag()), and gets its own status. */
  batchRemove(request: BatchRemoveRequest, options?: RpcCallOptions): Promise<BatchRemoveResponse> {
    return this.invoke('batchRemove', request, options);
  }

  symlink(request: Untagged<SymlinkRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.invoke('symlink', request, options);
  }

  readLink(request: StatRequest, options?: RpcCallOptions): Promise<ReadLinkResponse> {
    return this.invoke('readLink', request, options);
  }

  hardLink(request: Untagged<HardLinkRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.invoke('hardLink', request, options);
  }

  truncate(request: Untagged<TruncateRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.invoke('truncate', request, options);
  }

  setAttr(request: Untagged<SetAttrRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.invoke('setAttr', request, options);
  }

  setLayout(request: Untagged<SetLayoutRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.invoke('setLayout', request, options);
  }

  /** Capacity and usage; the request is empty (statFs() alone is enough). */
  statFs(request: StatFsRequest = {}, options?: RpcCallOptions): Promise<StatFsResponse> {
    return this.invoke('statFs', request, options);
  }

  sync(request: Untagged<SyncRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.invoke('sync', request, options);
  }

  makeNode(request: Untagged<MakeNodeRequest>, options?: RpcCallOptions): Promise<InodeResponse> {
    return this.invoke('makeNode', request, options);
  }

  setXattr(request: Untagged<SetXattrRequest>, options?: RpcCallOptions): Promise<XattrResponse> {
    return this.invoke('setXattr', request, options);
  }

  getXattr(request: Untagged<GetXattrRequest>, options?: RpcCallOptions): Promise<XattrResponse> {
    return this.invoke('getXattr', request, options);
  }

  listXattr(request: StatRequest, options?: RpcCallOptions): Promise<ListXattrResponse> {
    return this.invoke('listXattr', request, options);
  }

  removeXattr(request: Untagged<GetXattrRequest>, options?: RpcCallOptions): Promise<XattrResponse> {
    return this.invoke('removeXattr', request, options);
  }

  lock(request: LockRequest, options?: RpcCallOptions): Promise<LockResponse> {
    return this.invoke('lock', request, options);
  }

  renewLockSession(request: RenewLockSessionRequest, options?: RpcCallOptions): Promise<RenewLockSessionResponse> {
    return this.invoke('renewLockSession', request, options);
  }

  /**
   * Inodes other clients changed since `cursor` (this client's own changes are left out): waits up
   * to `waitMs` for one. Give feedId and cursor of the last answer; '' and 0 start the feed.
   */
  pollChanges(request: Omit<PollChangesRequest, 'clientId'>, options?: RpcCallOptions): Promise<PollChangesResponse> {
    return this.invoke('pollChanges', { ...request, clientId: this.clientId }, options);
  }

  /** Sends one RPC; a mutating one gets a fresh idempotency tag, which its retries reuse. */
  private invoke<M extends MetaMethod>(
    method: M,
    request: Untagged<MetaRequest<M>>,
    options?: RpcCallOptions,
  ): Promise<MetaResponse<M>> {
    const message = isTaggedMetaMethod(method) ? { ...request, tag: this.newTag() } : request;
    return this.send(method, message as MetaRequest<M>, options);
  }

  /** Sends one RPC with the request as it is (a mutating one already tagged). */
  private send<M extends MetaMethod>(
    method: M,
    request: MetaRequest<M>,
    options?: RpcCallOptions,
  ): Promise<MetaResponse<M>> {
    return this.call(this.client[method], request, metaCallName(method), options);
  }
}

/** The cluster manager (Mgmt) hosted by the meta process. */
export class MgmtRpc extends RpcBase<MgmtClient> {
  constructor(options: RpcClientOptions) {
    super(
      (address) => new MgmtClient(address, channelCredentials(), channelOptionsWithToken(options.token)),
      options.address,
      options,
    );
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
