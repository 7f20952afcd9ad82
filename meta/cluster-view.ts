// What the namespace needs to know about the cluster, provided by the cluster manager
// (meta/mgmt) and by fakes in unit tests: the chain tables layouts are built from, and capacity.
export interface ChainTableSnapshot {
  tableId: number;
  version: number;
  /** Chain ids in table order. */
  chainIds: number[];
}

export interface ClusterCapacity {
  /** Sum of target capacities divided by the replica count. */
  capacityBytes: number;
  /** Free bytes for new data, likewise divided by the replica count. */
  freeBytes: number;
}

export interface ClusterView {
  /** Latest version of a chain table, or undefined when it does not exist yet. */
  latestChainTable(tableId: number): ChainTableSnapshot | undefined;
  /** A specific version of a chain table (files keep the version they were created with). */
  chainTable(tableId: number, version: number): ChainTableSnapshot | undefined;
  capacity(): ClusterCapacity;
}
