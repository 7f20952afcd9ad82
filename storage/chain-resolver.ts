// Finds the local target of a chain named in a request and fences the request by chain version:
// an unknown chain or a request with a newer version than ours first refreshes routing; then the
// versions must be equal (CHAIN_VERSION_MISMATCH otherwise, retryable: the sender refreshes).
import { isBroken } from './test-breaks.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { ChainView, RoutingView } from './routing-view.js';
import type { StorageTarget } from './target.js';

export interface ResolvedChain {
  view: ChainView;
  target: StorageTarget;
}

export interface ChainResolverDeps {
  routing: RoutingView;
  target(targetId: number): StorageTarget | undefined;
  /** Fetches routing from the manager (single-flight; resolves even when the fetch failed). */
  refreshRouting(reason: string): Promise<void>;
  /** False while the node cannot renew its lease with the manager: it must not serve. */
  mayServe(): boolean;
}

export class ChainResolver {
  constructor(private readonly deps: ChainResolverDeps) {}

  /**
   * The local target of `chainId`, checked against `chainVersion` (0 with `allowAnyVersion` skips
   * the check: read-only inspection).
   */
  async resolve(
    chainId: number,
    chainVersion: number,
    options: { allowAnyVersion?: boolean } = {},
  ): Promise<ResolvedChain> {
    if (!this.deps.mayServe() && !isBroken('serve-without-lease')) {
      throw new SpindleError(
        ErrorCode.TARGET_NOT_SERVING,
        'this storage node lost its lease with the cluster manager and serves nothing until it renews',
      );
    }
    const skipCheck = options.allowAnyVersion === true && chainVersion === 0;
    let view = this.deps.routing.chain(chainId);
    if (view === undefined || chainVersion > view.chainVersion) {
      await this.deps.refreshRouting(
        view === undefined ? `unknown chain ${chainId}` : `chain ${chainId} version ${chainVersion} is newer`,
      );
      view = this.deps.routing.chain(chainId);
    }
    if (view === undefined) {
      throw new SpindleError(
        ErrorCode.TARGET_NOT_FOUND,
        `this storage node hosts no target of chain ${chainId}; refresh routing and ask a node of the chain`,
      );
    }
    if (!skipCheck) this.checkVersion(view, chainVersion);
    const target = this.deps.target(view.localTargetId);
    if (target === undefined) {
      throw new SpindleError(
        ErrorCode.TARGET_NOT_FOUND,
        `target ${view.localTargetId} of chain ${chainId} is not open on this node`,
      );
    }
    return { view, target };
  }

  /** The current view of a chain, re-checked against the version a request was admitted with. */
  recheck(chainId: number, chainVersion: number): ChainView {
    const view = this.deps.routing.chain(chainId);
    if (view === undefined) {
      throw new SpindleError(
        ErrorCode.TARGET_NOT_FOUND,
        `this storage node no longer hosts a target of chain ${chainId}`,
      );
    }
    this.checkVersion(view, chainVersion);
    return view;
  }

  private checkVersion(view: ChainView, chainVersion: number): void {
    if (view.chainVersion !== chainVersion) {
      throw new SpindleError(
        ErrorCode.CHAIN_VERSION_MISMATCH,
        `chain ${view.chainId} is at version ${view.chainVersion} on this node ` +
          `but the request has version ${chainVersion}; refresh routing and retry`,
      );
    }
  }
}
