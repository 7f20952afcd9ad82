// How the KV-cache client reaches one storage node's KvStore: as calls on the node's bulk session
// when the client has bulk sessions and the node a bulk listener (common/storage-bulk-calls.ts),
// else as gRPC calls. Same requests, same answers, same errors either way.
//
// A get on the bulk session asks for each found page's bytes as a frame of its own: the client
// posts one receive per key before the call (into the caller's buffer when it gave one), the node
// sends the frames and then answers, so by the answer every found page has landed; receives of
// keys that were not found are cancelled.
import { setMaxListeners } from 'node:events';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { channelOptionsWithToken } from '../../common/auth/client-auth.js';
import { callUnary, channelCredentials } from '../../common/rpc.js';
import {
  StorageBulkMethod,
  decodeKvAnswer,
  encodeKvCall,
  type KvAnswerOf,
  type KvBulkMethod,
  type KvRequestOf,
} from '../../common/storage-bulk-calls.js';
import {
  KvGetStatus,
  KvStoreClient,
  type KvExistsRequest,
  type KvExistsResponse,
  type KvGetRequest,
  type KvMatchPrefixRequest,
  type KvMatchPrefixResponse,
  type KvPutRequest,
  type KvPutResponse,
  type KvRemoveRequest,
  type KvRemoveResponse,
} from '../../proto/index.js';
import type { BulkSessions } from '../bulk-sessions.js';
import type { RouteTarget } from '../routing-cache.js';

/** The largest page a frame may carry (the store's page size limit). */
const PAGE_FRAME_BYTES_MAX = 32 * 1024 * 1024;

/** One page of a get: its bytes, absent, or this replica's copy failed its checksum. */
export type PageFetch =
  | { kind: 'found'; value: Buffer }
  | { kind: 'missing' }
  | { kind: 'corrupt' }
  | { kind: 'deferred' };

export class KvNodeCalls {
  private readonly clients = new Map<string, KvStoreClient>();

  constructor(
    private readonly bulk: BulkSessions | undefined,
    private readonly timeoutMs: number,
    /** Bearer token of the gRPC calls (none: a cluster with authentication off). */
    private readonly token?: string,
  ) {}

  put(target: RouteTarget, request: KvPutRequest): Promise<KvPutResponse> {
    const bulkAddress = this.bulkAddressOf(target);
    if (bulkAddress !== undefined) return this.bulkCall(bulkAddress, StorageBulkMethod.KV_PUT, request);
    const c = this.grpcClient(target);
    return callUnary(c, c.kvPut, request, 'KvStore.KvPut', { timeoutMs: this.timeoutMs });
  }

  exists(target: RouteTarget, request: KvExistsRequest): Promise<KvExistsResponse> {
    const bulkAddress = this.bulkAddressOf(target);
    if (bulkAddress !== undefined) return this.bulkCall(bulkAddress, StorageBulkMethod.KV_EXISTS, request);
    const c = this.grpcClient(target);
    return callUnary(c, c.kvExists, request, 'KvStore.KvExists', { timeoutMs: this.timeoutMs });
  }

  remove(target: RouteTarget, request: KvRemoveRequest): Promise<KvRemoveResponse> {
    const bulkAddress = this.bulkAddressOf(target);
    if (bulkAddress !== undefined) return this.bulkCall(bulkAddress, StorageBulkMethod.KV_REMOVE, request);
    const c = this.grpcClient(target);
    return callUnary(c, c.kvRemove, request, 'KvStore.KvRemove', { timeoutMs: this.timeoutMs });
  }

  matchPrefix(target: RouteTarget, request: KvMatchPrefixRequest): Promise<KvMatchPrefixResponse> {
    const bulkAddress = this.bulkAddressOf(target);
    if (bulkAddress !== undefined) return this.bulkCall(bulkAddress, StorageBulkMethod.KV_MATCH_PREFIX, request);
    const c = this.grpcClient(target);
    return callUnary(c, c.kvMatchPrefix, request, 'KvStore.KvMatchPrefix', { timeoutMs: this.timeoutMs });
  }

  /**
   * The pages of `request.keys` as this replica holds them. `into[i]`, when given, receives page i's
   * bytes (the result is a view of it); a page longer than its buffer fails the call.
   */
  async get(
    target: RouteTarget,
    request: Omit<KvGetRequest, 'bulkRequestIds'>,
    into?: ReadonlyArray<Uint8Array | undefined>,
  ): Promise<PageFetch[]> {
    const bulkAddress = this.bulkAddressOf(target);
    if (bulkAddress !== undefined) return this.getInFrames(bulkAddress, request, into);
    const c = this.grpcClient(target);
    const response = await callUnary(c, c.kvGet, { ...request, bulkRequestIds: [] }, 'KvStore.KvGet', {
      timeoutMs: this.timeoutMs,
    });
    return response.results.map((result, i) => {
      if (result.status !== KvGetStatus.KV_GET_FOUND) return fetchOf(result.status);
      return { kind: 'found', value: copyInto(result.value, into?.[i]) };
    });
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private async getInFrames(
    bulkAddress: string,
    request: Omit<KvGetRequest, 'bulkRequestIds'>,
    into: ReadonlyArray<Uint8Array | undefined> | undefined,
  ): Promise<PageFetch[]> {
    const channel = await this.bulk!.get(bulkAddress);
    const ids = request.keys.map(() => channel.nextRequestId());
    const unclaimed = new AbortController();
    setMaxListeners(ids.length + 1, unclaimed.signal); // one receive per key listens to it
    const frames = ids.map((id, i) => {
      const frame = channel.receive(id, { into: into?.[i], maxBytes: PAGE_FRAME_BYTES_MAX, signal: unclaimed.signal });
      frame.catch(() => undefined); // the receives of pages not found are cancelled below
      return frame;
    });
    try {
      const answer = await channel.call(encodeKvCall(StorageBulkMethod.KV_GET, { ...request, bulkRequestIds: ids }), {
        timeoutMs: this.timeoutMs,
      });
      const response = decodeKvAnswer(StorageBulkMethod.KV_GET, answer);
      if (response.results.length !== ids.length) {
        throw new SpindleError(
          ErrorCode.RPC_MALFORMED,
          `KvGet answered ${response.results.length} of ${ids.length} keys`,
        );
      }
      return await Promise.all(
        response.results.map(async (result, i): Promise<PageFetch> => {
          if (result.status !== KvGetStatus.KV_GET_FOUND) return fetchOf(result.status);
          const value = await frames[i]!;
          if (value.length !== result.bulkLength) {
            throw new SpindleError(
              ErrorCode.RPC_MALFORMED,
              `page frame has ${value.length} bytes, the answer says ${result.bulkLength}`,
            );
          }
          return { kind: 'found', value };
        }),
      );
    } finally {
      unclaimed.abort();
    }
  }

  private bulkAddressOf(target: RouteTarget): string | undefined {
    return this.bulk === undefined ? undefined : target.bulkAddress;
  }

  private async bulkCall<M extends KvBulkMethod>(
    bulkAddress: string,
    method: M,
    request: KvRequestOf<M>,
  ): Promise<KvAnswerOf<M>> {
    const channel = await this.bulk!.get(bulkAddress);
    const answer = await channel.call(encodeKvCall(method, request), { timeoutMs: this.timeoutMs });
    return decodeKvAnswer(method, answer);
  }

  private grpcClient(target: RouteTarget): KvStoreClient {
    if (target.address === undefined) {
      throw new SpindleError(ErrorCode.TARGET_NOT_FOUND, `target ${target.targetId} has no known address`);
    }
    return this.client(target.address);
  }

  private client(address: string): KvStoreClient {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new KvStoreClient(address, channelCredentials(), channelOptionsWithToken(this.token));
      this.clients.set(address, client);
    }
    return client;
  }
}

function fetchOf(status: KvGetStatus): PageFetch {
  if (status === KvGetStatus.KV_GET_CORRUPT) return { kind: 'corrupt' };
  if (status === KvGetStatus.KV_GET_DEFERRED) return { kind: 'deferred' };
  return { kind: 'missing' };
}

/** The value in the caller's buffer when it gave one (gRPC answers arrive in a buffer of their own). */
function copyInto(value: Buffer, into: Uint8Array | undefined): Buffer {
  if (into === undefined) return Buffer.from(value);
  if (value.length > into.length) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `a page of ${value.length} bytes does not fit its buffer of ${into.length}`,
    );
  }
  into.set(value);
  return Buffer.from(into.buffer, into.byteOffset, value.length);
}
