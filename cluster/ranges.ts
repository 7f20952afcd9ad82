// The sizes a local cluster may have, in a file of its own so that `spindle --help` and flag
// parsing can read them without loading the launcher (and with it gRPC).
import { configIntegerRange } from '../common/config.js';
import type { IntegerRange } from '../common/flags.js';

/** What LocalCluster.start accepts (and `spindle up` offers): processes on one machine. */
export const LOCAL_CLUSTER_RANGES = {
  storageNodes: { min: 1, max: 64 },
  replicas: configIntegerRange('meta', 'replicas'),
  targetsPerNode: { min: 1, max: 64 },
} as const satisfies Record<string, IntegerRange>;
