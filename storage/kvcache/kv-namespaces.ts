// The KV-cache namespaces of one storage target, each with its own page index and capacity.
//
// Guarantees: every operation names its namespace and the writer's config fingerprint; an unknown
// namespace is NOT_FOUND and a writer of another configuration gets FAILED_PRECONDITION naming
// both configurations, so pages are never read as the wrong model, dtype, layout or TP slice.
// Creating a namespace that exists with the same config is idempotent.
import type { Clock } from '../../common/clock.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import {
  type KvNamespaceConfig,
  describeNamespaceMeaning,
  namespaceFingerprint,
  validateNamespaceConfig,
} from './namespace-config.js';
import { PageIndex } from './page-index.js';
import type { DroppedPage } from './page-index-types.js';

interface KvNamespace<L> {
  readonly config: KvNamespaceConfig;
  readonly fingerprint: string;
  readonly index: PageIndex<L>;
}

export interface KvNamespacesOptions<L> {
  readonly clock: Clock;
  /** Told of every page that leaves any namespace's index, with the namespace's name. */
  readonly onPageDropped?: (namespace: string, page: DroppedPage<L>) => void;
}

export class KvNamespaces<L> {
  private readonly byName = new Map<string, KvNamespace<L>>();

  constructor(private readonly options: KvNamespacesOptions<L>) {}

  /** Creates the namespace (idempotent for the same config); returns its fingerprint. */
  create(config: KvNamespaceConfig): string {
    validateNamespaceConfig(config);
    const fingerprint = namespaceFingerprint(config);
    const existing = this.byName.get(config.name);
    if (existing !== undefined) {
      const { replicas, capacityBytes } = existing.config;
      if (
        existing.fingerprint === fingerprint &&
        replicas === config.replicas &&
        capacityBytes === config.capacityBytes
      ) {
        return fingerprint;
      }
      if (existing.fingerprint === fingerprint) {
        // Shrinking would have to evict and a new replica count to re-place pages: not built yet.
        throw new SpindleError(
          ErrorCode.FAILED_PRECONDITION,
          `KV-cache namespace '${config.name}' exists with replicas=${replicas} capacityBytes=${capacityBytes}; ` +
            'changing them is not supported',
        );
      }
      throw new SpindleError(
        ErrorCode.EXISTS,
        `KV-cache namespace '${config.name}' exists with ${describeNamespaceMeaning(existing.config)}; ` +
          `cannot create it with ${describeNamespaceMeaning(config)}`,
      );
    }
    const { clock, onPageDropped } = this.options;
    const index = new PageIndex<L>({
      clock,
      capacityBytes: config.capacityBytes,
      onPageDropped: onPageDropped && ((page) => onPageDropped(config.name, page)),
    });
    this.byName.set(config.name, { config, fingerprint, index });
    return fingerprint;
  }

  /** The namespace's page index, for a writer whose config has `fingerprint`. */
  open(name: string, fingerprint: string): PageIndex<L> {
    const namespace = this.byName.get(name);
    if (namespace === undefined) {
      throw new SpindleError(ErrorCode.NOT_FOUND, `namespace: unknown KV-cache namespace ${JSON.stringify(name)}`);
    }
    if (namespace.fingerprint !== fingerprint) {
      throw new SpindleError(
        ErrorCode.FAILED_PRECONDITION,
        `fingerprint: KV-cache namespace '${name}' holds pages of ${describeNamespaceMeaning(namespace.config)} ` +
          `(fingerprint ${namespace.fingerprint}); the writer's config has fingerprint ${fingerprint}`,
      );
    }
    return namespace.index;
  }

  /** The namespace's config and fingerprint, or undefined when this target does not know it. */
  describe(name: string): { readonly config: KvNamespaceConfig; readonly fingerprint: string } | undefined {
    const namespace = this.byName.get(name);
    return namespace && { config: namespace.config, fingerprint: namespace.fingerprint };
  }

  /** Forgets the namespace and its index (an operator removed its pages); a later request creates it afresh. */
  delete(name: string): void {
    this.byName.delete(name);
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }
}
