// Counters of the KV-cache store on one storage node, per chain and namespace: what operators see
// in `spindle kv stat` (since the node started) and what the node exports to Prometheus
// (storage/metrics.ts, `spindle_kv_*`).
//
// Bounded: namespace names are chosen by clients, so the first KV_COUNTED_NAMESPACES_MAX distinct
// names a node sees are counted under their own name and later ones together under
// OTHER_NAMESPACES (both here and as the Prometheus `namespace` label).
import { DropReason, type PutStatus } from './statuses.js';

/** Distinct namespace names a node counts (and labels metrics with) separately. */
export const KV_COUNTED_NAMESPACES_MAX = 64;
/** The name the namespaces past the bound are counted under. */
export const OTHER_NAMESPACES = '_other';

/** How a page-drop reason is named in counters and metric labels. */
const DROP_REASON_LABEL: Record<DropReason, string> = {
  [DropReason.CAPACITY]: 'capacity',
  [DropReason.EXPIRED]: 'ttl',
  [DropReason.REMOVED]: 'removed',
  [DropReason.OPERATOR]: 'operator',
};

export interface KvNamespaceCounts {
  getHits: number;
  getMisses: number;
  matchCalls: number;
  matchHitKeys: number;
  matchMissKeys: number;
  readonly putsByStatus: Record<string, number>;
  readonly dropsByReason: Record<string, number>;
}

/** Where the counts also go (the node's Prometheus metrics); `namespace` is already bounded. */
export interface KvCountsSink {
  gets(namespace: string, hits: number, misses: number): void;
  puts(namespace: string, status: PutStatus, count: number): void;
  drops(namespace: string, reason: string, count: number): void;
  match(namespace: string, hitKeys: number, missKeys: number, seconds: number, leased: boolean): void;
}

export class KvCounters {
  private readonly labels = new Set<string>();
  private readonly counts = new Map<string, KvNamespaceCounts>();

  constructor(private readonly sink?: KvCountsSink) {}

  /** The name a namespace is counted under (its own, or OTHER_NAMESPACES past the bound). */
  label(name: string): string {
    if (this.labels.has(name)) return name;
    if (this.labels.size >= KV_COUNTED_NAMESPACES_MAX) return OTHER_NAMESPACES;
    this.labels.add(name);
    return name;
  }

  /** The counts of a namespace on a chain (zeroes when nothing was counted). */
  of(chainId: number, name: string): KvNamespaceCounts {
    return this.counts.get(`${chainId}/${this.label(name)}`) ?? emptyCounts();
  }

  countGets(chainId: number, name: string, hits: number, misses: number): void {
    const label = this.label(name);
    const counts = this.entry(chainId, label);
    counts.getHits += hits;
    counts.getMisses += misses;
    this.sink?.gets(label, hits, misses);
  }

  countPuts(chainId: number, name: string, statuses: readonly PutStatus[]): void {
    const label = this.label(name);
    const counts = this.entry(chainId, label);
    const byStatus = new Map<PutStatus, number>();
    for (const status of statuses) byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    for (const [status, count] of byStatus) {
      counts.putsByStatus[status] = (counts.putsByStatus[status] ?? 0) + count;
      this.sink?.puts(label, status, count);
    }
  }

  countDrops(chainId: number, name: string, reason: DropReason, count: number): void {
    if (count === 0) return;
    const label = this.label(name);
    const counts = this.entry(chainId, label);
    const reasonLabel = DROP_REASON_LABEL[reason];
    counts.dropsByReason[reasonLabel] = (counts.dropsByReason[reasonLabel] ?? 0) + count;
    this.sink?.drops(label, reasonLabel, count);
  }

  countMatch(chainId: number, name: string, hitKeys: number, missKeys: number, seconds: number, leased: boolean) {
    const label = this.label(name);
    const counts = this.entry(chainId, label);
    counts.matchCalls++;
    counts.matchHitKeys += hitKeys;
    counts.matchMissKeys += missKeys;
    this.sink?.match(label, hitKeys, missKeys, seconds, leased);
  }

  private entry(chainId: number, label: string): KvNamespaceCounts {
    const key = `${chainId}/${label}`;
    let counts = this.counts.get(key);
    if (counts === undefined) {
      counts = emptyCounts();
      this.counts.set(key, counts);
    }
    return counts;
  }
}

function emptyCounts(): KvNamespaceCounts {
  return {
    getHits: 0,
    getMisses: 0,
    matchCalls: 0,
    matchHitKeys: 0,
    matchMissKeys: 0,
    putsByStatus: {},
    dropsByReason: {},
  };
}
