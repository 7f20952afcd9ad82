// gRPC handlers of the Mgmt service: decode, call the cluster manager, map errors (through
// serviceImplementation from common/rpc.ts). No logic lives here.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { isSpindleError } from '../../common/errors.js';
import { type CallContext, serviceImplementation } from '../../common/rpc.js';
import type {
  CreateChainTableRequest,
  GetRoutingInfoRequest,
  HeartbeatRequest,
  OfflineTargetRequest,
  RegisterNodeRequest,
  UpdateChainRequest,
} from '../../proto/index.js';
import type { ClusterManager } from './cluster-manager.js';

export function createMgmtServiceImplementation(manager: ClusterManager, logger: Logger): UntypedServiceImplementation {
  const log = logger.child({ component: 'meta.mgmt.service' });
  return serviceImplementation(
    {
      registerNode: (request: RegisterNodeRequest, context: CallContext) =>
        manager.registerNode(request, context.principal, context.peer),
      heartbeat: (request: HeartbeatRequest, context: CallContext) =>
        manager.heartbeat(request, context.principal, context.peer),
      getRoutingInfo: (request: GetRoutingInfoRequest) => manager.getRoutingInfo(request),
      createChainTable: (request: CreateChainTableRequest) => manager.createChainTable(request),
      updateChain: (request: UpdateChainRequest) => manager.updateChain(request),
      offlineTarget: (request: OfflineTargetRequest) => manager.offlineTarget(request),
    },
    (method, err) => {
      // Expected failures are answered to the caller; only bugs are worth an error line.
      if (isSpindleError(err)) log.debug({ method, err }, 'mgmt request refused');
      else log.error({ method, err }, 'mgmt request failed');
    },
  );
}
