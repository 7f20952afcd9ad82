// The cluster manager module: ClusterManager (state, routing, ClusterView), the pure chain table
// builder, and the gRPC handlers of the Mgmt service.
export { ClusterManager, type ClusterManagerOptions } from './cluster-manager.js';
export {
  buildChainTable,
  type BuilderNode,
  type BuiltChain,
  type BuildChainTableOptions,
} from './chain-table-builder.js';
export { createMgmtServiceImplementation } from './mgmt-service.js';
export { targetIdOf, NODE_ID_MAX } from './node-registry.js';
export { REPLICAS_MAX } from './routing.js';
export { DEFAULT_CHAIN_TABLE_ID, ROUTING_VERSION_INITIAL } from './constants.js';
