// Named limits of the cluster manager. Each has a unit and a one-line reason.

/** Routing version of a fresh store: 1, so a caller holding nothing (version 0) always gets a snapshot. */
export const ROUTING_VERSION_INITIAL = 1;
/** Id of the chain table built automatically and used by the root directory's layout. */
export const DEFAULT_CHAIN_TABLE_ID = 1;
/** Stored results of admin requests (CreateChainTable, UpdateChain) kept for retries; admin calls are rare. */
export const MGMT_IDEMPOTENCY_ENTRIES_MAX = 1_024;
/** Longest `host:port` a node may register (a DNS name is at most 253 bytes, plus `:65535`). */
export const NODE_ADDRESS_MAX_BYTES = 300;
/** Longest informational host name (POSIX HOST_NAME_MAX). */
export const HOSTNAME_MAX_BYTES = 255;
/** Longest target directory path reported by a node (PATH_MAX). */
export const TARGET_PATH_MAX_BYTES = 4_096;
/** Most chains one chain table may hold: the routing snapshot must stay far below a gRPC message. */
export const CHAINS_PER_TABLE_MAX = 100_000;
/** Times a mutation reloads the stored state and retries when the store changed underneath it. */
export const STATE_RELOAD_ATTEMPTS_MAX = 3;
/** How often a standby meta re-reads the cluster state (its namespace sees new chain tables this late). */
export const MGMT_STANDBY_REFRESH_INTERVAL_MS = 500;
/** Lease of the cluster-manager role on etcd: a dead or paused manager keeps the role this long. */
export const MANAGER_ROLE_TTL_SECONDS = 2;
/** How often a standby tries to take the role, and the manager checks it still holds it. */
export const MANAGER_ROLE_POLL_INTERVAL_MS = 250;
