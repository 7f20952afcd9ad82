// The client's copy of the cluster's RoutingInfo (nodes, targets, chains, chain tables) and the
// lookups the data path needs: a chain's version and ordered targets, a chain table's chain ids,
// the address of a target's node, the serving replicas of a chain. The lookups are those of the
// shared index over one snapshot (common/routing-index.ts); this file adds fetching and versions.
//
// Independent of gRPC: it is given a `fetch(knownVersion)` function, so the cluster manager can
// host one in-process and a test can drive it with a fake. Guarantees: the cached version never
// goes backwards (an older snapshot is ignored); concurrent refresh() calls share one fetch; the
// periodic refresh is a PeriodicLoop (unref'd timers: it never keeps a process alive); ready()
// polls with the one backoff formula (common/retry.ts, full jitter); close() is idempotent.
import type { Logger } from 'pino';
import { systemClock, systemRng, type Clock, type Rng } from '../common/clock.js';
import { ErrorCode, SpindleError, asSpindleError } from '../common/errors.js';
import { silentLogger } from '../common/logger.js';
import { PeriodicLoop } from '../common/periodic-loop.js';
import { backoffDelayMs } from '../common/retry.js';
import { RoutingIndex, type ChainRoute, type RouteTarget } from '../common/routing-index.js';
import type { ChainTable, GetRoutingInfoResponse, RoutingInfo } from '../proto/index.js';
import { ROUTING_READY_BACKOFF_INITIAL_MS, ROUTING_READY_BACKOFF_MAX_MS } from './constants.js';
import { sleepAwake } from './retry-policy.js';

export { isServingState, type ChainRoute, type RouteTarget } from '../common/routing-index.js';

export interface RoutingCacheOptions {
  /** Asks the cluster manager for routing newer than `knownVersion` (0 = none held). */
  fetch: (knownVersion: number) => Promise<GetRoutingInfoResponse>;
  clock?: Clock;
  /** Draws ready()'s backoff jitter (default systemRng()). */
  rng?: Pick<Rng, 'nextFloat'>;
  /** Period of the background refresh; 0 disables it. */
  refreshIntervalMs: number;
  logger?: Logger;
}

/** `promise`, or a rejection as soon as `signal` aborts (the promise keeps running). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

export class RoutingCache {
  private readonly fetchRouting: (knownVersion: number) => Promise<GetRoutingInfoResponse>;
  private readonly clock: Clock;
  private readonly rng: Pick<Rng, 'nextFloat'>;
  private readonly logger: Logger | undefined;
  private readonly refresher: PeriodicLoop | undefined;
  private index: RoutingIndex | undefined;
  private inflight: Promise<RoutingInfo | undefined> | undefined;
  private readonly closer = new AbortController();
  private readonly listeners = new Set<(info: RoutingInfo) => void>();
  private fetches = 0;
  private lastError: SpindleError | undefined;

  constructor(options: RoutingCacheOptions) {
    this.fetchRouting = options.fetch;
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? systemRng();
    this.logger = options.logger;
    if (options.refreshIntervalMs > 0) {
      this.refresher = new PeriodicLoop({
        intervalMs: options.refreshIntervalMs,
        pass: () => this.periodicRefresh(),
        clock: this.clock,
        // periodicRefresh logs its own failures; the loop never sees one.
        logger: this.logger ?? silentLogger(),
        failureMessage: 'periodic routing refresh failed',
      });
      this.refresher.start();
    }
  }

  /** The cached version (0 before the first snapshot). */
  get version(): number {
    return this.index?.info.version ?? 0;
  }

  /** Number of fetches issued so far (observability and tests). */
  get fetchCount(): number {
    return this.fetches;
  }

  get closed(): boolean {
    return this.closer.signal.aborted;
  }

  /** The error of the last fetch if it failed, undefined after a successful one. */
  get lastFetchError(): SpindleError | undefined {
    return this.lastError;
  }

  /** The cached snapshot, or undefined before the first successful fetch. */
  current(): RoutingInfo | undefined {
    return this.index?.info;
  }

  /**
   * Resolves once a chain table with at least one chain exists (of `tableId`, or any), fetching
   * with backoff; fetch errors (meta not up yet) are retried too. Rejects on abort or close().
   */
  async ready(options: { signal?: AbortSignal; tableId?: number } = {}): Promise<RoutingInfo> {
    const signal = options.signal ? AbortSignal.any([options.signal, this.closer.signal]) : this.closer.signal;
    const stopped = (cause: unknown) => {
      this.throwIfClosed();
      return new SpindleError(ErrorCode.CANCELLED, 'waiting for routing: cancelled', {
        cause: options.signal?.reason ?? cause,
      });
    };
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw stopped(undefined);
      if (this.index?.hasUsableTable(options.tableId)) return this.index.info;
      try {
        // A fetch may hang up to the RPC timeout (an address that drops packets): stop waiting
        // for it when the caller gives up; it finishes or fails on its own.
        await untilAborted(this.refresh(), signal);
      } catch (err) {
        if (signal.aborted) throw stopped(err);
        this.logger?.debug({ err }, 'routing fetch failed while waiting for a chain table');
      }
      if (this.index?.hasUsableTable(options.tableId)) return this.index.info;
      const delayMs = backoffDelayMs(attempt, ROUTING_READY_BACKOFF_INITIAL_MS, ROUTING_READY_BACKOFF_MAX_MS, this.rng);
      try {
        await sleepAwake(this.clock, delayMs, signal);
      } catch (err) {
        throw signal.aborted ? stopped(err) : err;
      }
    }
  }

  /**
   * Fetches routing newer than the cached version. Concurrent calls share one fetch. Resolves to
   * the snapshot held afterwards; rejects with the fetch's typed error.
   */
  refresh(): Promise<RoutingInfo | undefined> {
    this.throwIfClosed();
    if (this.inflight) return this.inflight;
    const run = async () => {
      this.fetches++;
      let response: GetRoutingInfoResponse;
      try {
        response = await this.fetchRouting(this.version);
      } catch (err) {
        this.lastError = asSpindleError(err);
        throw this.lastError;
      }
      this.lastError = undefined;
      this.apply(response);
      return this.current();
    };
    const promise = run().finally(() => {
      if (this.inflight === promise) this.inflight = undefined;
    });
    this.inflight = promise;
    return promise;
  }

  /**
   * Installs a snapshot pushed by its owner (the cluster manager hosting this cache in-process, or
   * a fetch answer). Returns true if it replaced the cached one; older or equal versions are ignored.
   */
  apply(response: GetRoutingInfoResponse): boolean {
    const routing = response.routing;
    if (routing === undefined) return false;
    const held = this.version;
    if (this.index !== undefined && routing.version <= held) {
      if (routing.version < held) {
        this.logger?.warn({ held, received: routing.version }, 'ignored older routing snapshot');
      }
      return false;
    }
    this.index = new RoutingIndex(routing);
    this.logger?.debug({ version: routing.version }, 'routing updated');
    for (const listener of this.listeners) {
      try {
        listener(routing);
      } catch (err) {
        this.logger?.error({ err }, 'routing listener threw');
      }
    }
    return true;
  }

  /** Calls `listener` after every installed snapshot; returns the unsubscribe function. */
  onChange(listener: (info: RoutingInfo) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A chain's version and ordered targets (head first), or undefined if unknown. */
  chain(chainId: number): ChainRoute | undefined {
    return this.index?.chain(chainId);
  }

  /** Like chain(), but an unknown chain is a typed error (retryable: routing may be behind). */
  requireChain(chainId: number): ChainRoute {
    const chain = this.chain(chainId);
    if (chain === undefined) {
      throw new SpindleError(ErrorCode.CHAIN_NOT_FOUND, `chain ${chainId} is not in routing version ${this.version}`);
    }
    return chain;
  }

  /** The chain ids of one version of a chain table, in table order, or undefined if unknown. */
  tableChainIds(tableId: number, version: number): readonly number[] | undefined {
    return this.index?.tableChainIds(tableId, version);
  }

  /** The newest version of a chain table held, or undefined. */
  latestTable(tableId: number): ChainTable | undefined {
    return this.index?.latestTable(tableId);
  }

  /** host:port of the node hosting `targetId`, or undefined. */
  nodeAddress(targetId: number): string | undefined {
    return this.index?.nodeAddress(targetId);
  }

  /** Targets of the chain that serve reads, in chain order (head first); empty if none/unknown. */
  servingTargets(chainId: number): RouteTarget[] {
    return this.index?.servingTargets(chainId) ?? [];
  }

  /** The target writes of the chain go to: its first serving target. */
  head(chainId: number): RouteTarget | undefined {
    return this.servingTargets(chainId)[0];
  }

  /** Stops the background refresh and fails pending ready() waits. Idempotent. */
  close(): void {
    if (this.closer.signal.aborted) return;
    this.closer.abort();
    void this.refresher?.stop();
    this.listeners.clear();
  }

  private throwIfClosed(): void {
    if (this.closer.signal.aborted) throw new SpindleError(ErrorCode.CLIENT_CLOSED, 'routing cache is closed');
  }

  /** One pass of the background refresh: a failure (meta restarting) is only logged, at debug. */
  private async periodicRefresh(): Promise<void> {
    try {
      await this.refresh();
    } catch (err) {
      this.logger?.debug({ err }, 'periodic routing refresh failed');
    }
  }
}
