// The storage node's link to the cluster manager (Mgmt, hosted by meta): registration (retried
// with backoff while the manager is not up yet), routing fetches (single-flight: concurrent
// callers share one fetch), and the lease rule — a node that could not renew with the manager for
// half the lease stops serving until it renews (docs/design.md §4).
//
// The lease is renewed from the time a heartbeat was *sent* (not answered): the manager counts a
// node's silence from the last heartbeat it received, which is later, so a node always stops
// serving before the manager moves its chains on. A heartbeat answered later than half the lease
// after its send cannot renew anything, so that is its deadline (MGMT_CALL_TIMEOUT_MS at most).
// The manager link has its own HTTP/2 connection (a local subchannel pool), so heartbeats never
// queue behind other traffic of the process to the same address. `--meta` may list several meta
// processes: Mgmt calls go to one at a time and move to the next on a retryable failure.
import type { Logger } from 'pino';
import type { Clock, Rng } from '../common/clock.js';
import { ErrorCode, SpindleError, asSpindleError } from '../common/errors.js';
import { FailoverClients, parseAddressList } from '../common/failover-clients.js';
import { isRetryableError, retryWithBackoff } from '../common/retry.js';
import { callUnary, channelCredentials } from '../common/rpc.js';
import { channelOptionsWithToken } from '../common/auth/client-auth.js';
import {
  MgmtClient,
  type GetRoutingInfoRequest,
  type GetRoutingInfoResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterNodeRequest,
  type RegisterNodeResponse,
} from '../proto/index.js';
import {
  MGMT_CALL_TIMEOUT_MS,
  MGMT_RECONNECT_BACKOFF_INITIAL_MS,
  MGMT_RECONNECT_BACKOFF_MAX_MS,
  REGISTER_BACKOFF_MAX_MS,
  REGISTER_BACKOFF_MIN_MS,
  ROUTING_REFRESH_TIMEOUT_MS,
} from './constants.js';
import type { StorageMetrics } from './metrics.js';
import type { RoutingView } from './routing-view.js';

export interface MgmtAgentOptions {
  metaAddress: string;
  routing: RoutingView;
  clock: Clock;
  rng: Rng;
  logger: Logger;
  /** The node stops serving when its last renewal is older than half of this. */
  nodeLeaseMs: number;
  metrics?: StorageMetrics;
  /** The node's bearer token (role storage), sent on every Mgmt call; none with authentication off. */
  token?: string;
}

export class MgmtAgent {
  /** One client per meta address; Mgmt calls fail over to the next one on a retryable error. */
  private readonly clients: FailoverClients<MgmtClient>;
  private refreshing: Promise<void> | undefined;
  /** Time (ms) the last successful registration or heartbeat was sent. */
  private lastRenewedMs: number | undefined;
  private closed = false;

  constructor(private readonly options: MgmtAgentOptions) {
    this.clients = new FailoverClients(
      parseAddressList(options.metaAddress),
      (address) =>
        new MgmtClient(address, channelCredentials(), {
          ...channelOptionsWithToken(options.token),
          'grpc.use_local_subchannel_pool': 1,
          'grpc.initial_reconnect_backoff_ms': MGMT_RECONNECT_BACKOFF_INITIAL_MS,
          'grpc.max_reconnect_backoff_ms': MGMT_RECONNECT_BACKOFF_MAX_MS,
        }),
    );
  }

  /**
   * One Mgmt call to the current meta address; a retryable failure (that meta is down, or is a
   * standby without the cluster-manager role) sends the next call to the next address.
   */
  private async mgmtCall<Req, Res>(
    pick: (client: MgmtClient) => Parameters<typeof callUnary<MgmtClient, Req, Res>>[1],
    request: Req,
    what: string,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<Res> {
    const client = this.clients.current;
    try {
      return await callUnary<MgmtClient, Req, Res>(client, pick(client), request, what, options);
    } catch (err) {
      if (isRetryableError(err)) this.clients.failed(client);
      throw err;
    }
  }

  /** Registers, retrying retryable failures (manager not up yet) until it succeeds or `signal` aborts. */
  async register(request: RegisterNodeRequest, signal?: AbortSignal): Promise<RegisterNodeResponse> {
    const { clock, rng, logger } = this.options;
    try {
      return await retryWithBackoff(
        async () => {
          const sentMs = clock.nowMs();
          const response = await this.mgmtCall<RegisterNodeRequest, RegisterNodeResponse>(
            (client) => client.registerNode,
            request,
            'mgmt.RegisterNode',
            { timeoutMs: MGMT_CALL_TIMEOUT_MS, signal },
          );
          this.renewed(sentMs);
          this.applyRouting(response.routing);
          return response;
        },
        {
          // No deadline: a node waits for its manager as long as it takes.
          deadlineMs: Number.POSITIVE_INFINITY,
          minMs: REGISTER_BACKOFF_MIN_MS,
          initialMs: REGISTER_BACKOFF_MIN_MS,
          maxMs: REGISTER_BACKOFF_MAX_MS,
          clock,
          rng,
          signal,
          what: 'mgmt.RegisterNode',
          classify: (err) => (!this.closed && isRetryableError(err) ? 'retry' : 'fail'),
          onRetry: (err, { attempt }) => {
            if (attempt % 20 === 0)
              logger.info(
                { meta: this.options.metaAddress, code: asSpindleError(err).codeName, attempt },
                'cluster manager not reachable yet; retrying registration',
              );
          },
        },
      );
    } catch (err) {
      if (signal?.aborted || this.closed)
        throw new SpindleError(ErrorCode.CANCELLED, 'registration with the cluster manager was cancelled', {
          cause: err,
        });
      throw err;
    }
  }

  /** Sends a heartbeat; on success the lease counts from its send time. Returns the round trip too. */
  async heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse & { roundTripMs: number }> {
    const { clock, nodeLeaseMs } = this.options;
    const sentMs = clock.nowMs();
    const timeoutMs = Math.max(1, Math.min(MGMT_CALL_TIMEOUT_MS, Math.floor(nodeLeaseMs / 2)));
    const response = await this.mgmtCall<HeartbeatRequest, HeartbeatResponse>(
      (client) => client.heartbeat,
      request,
      'mgmt.Heartbeat',
      { timeoutMs },
    );
    this.renewed(sentMs);
    return { ...response, roundTripMs: clock.nowMs() - sentMs };
  }

  /** Milliseconds since the send time of the last renewal (undefined before registration). */
  sinceRenewalMs(): number | undefined {
    return this.lastRenewedMs === undefined ? undefined : this.options.clock.nowMs() - this.lastRenewedMs;
  }

  /** Heartbeats may overlap and answer out of order: the lease counts from the latest send. */
  private renewed(sentMs: number): void {
    this.lastRenewedMs = Math.max(this.lastRenewedMs ?? sentMs, sentMs);
  }

  /** Whether the lease is fresh enough to serve requests. */
  mayServe(): boolean {
    return (
      this.lastRenewedMs !== undefined && this.options.clock.nowMs() - this.lastRenewedMs < this.options.nodeLeaseMs / 2
    );
  }

  /**
   * Fetches routing newer than the one held. Concurrent callers share one fetch; failures are
   * logged, not thrown (the caller re-checks what it needed and answers accordingly).
   */
  refreshRouting(reason: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.refreshing ??= (async () => {
      try {
        const response = await this.mgmtCall<GetRoutingInfoRequest, GetRoutingInfoResponse>(
          (client) => client.getRoutingInfo,
          { knownVersion: this.options.routing.version },
          'mgmt.GetRoutingInfo',
          { timeoutMs: ROUTING_REFRESH_TIMEOUT_MS },
        );
        this.applyRouting(response.routing);
      } catch (err) {
        this.options.logger.warn({ reason, err: asSpindleError(err).message }, 'routing refresh failed');
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  private applyRouting(routing: RegisterNodeResponse['routing']): void {
    if (this.options.routing.update(routing)) {
      this.options.metrics?.routingVersion.set(this.options.routing.version);
      this.options.logger.debug({ version: this.options.routing.version }, 'routing updated');
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clients.close();
  }
}
