// The Meta gRPC service: maps each RPC to the Namespace, passing the call's abort signal, and lets
// serviceImplementation() turn errors into gRPC status and typed trailers. No namespace logic
// lives here (CONTRIBUTING.md: service → operator → store).
//
// Malformed requests — a missing required sub-message, an inode id or length out of range, a bad
// mode or name — are refused by the operations' first step (meta/namespace/validate.ts and
// common/names.ts) with INVALID_ARGUMENT (or INVALID_NAME / NAME_TOO_LONG) naming the field,
// before any transaction starts, so they change nothing. Bytes that do not decode never reach a
// handler (grpc-js answers them; the client sees RPC_MALFORMED).
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { isSpindleError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { META_METHODS, type MetaHandlers } from '../../common/meta-methods.js';
import { serviceImplementation, type CallContext } from '../../common/rpc.js';

/**
 * The implementation object for `server.addService(MetaService, …)`: every Meta RPC of the proto
 * (META_METHODS) served by the namespace's operation of the same name.
 */
export function createMetaServiceImplementation(
  namespace: MetaHandlers<CallContext>,
  logger: Logger,
): UntypedServiceImplementation {
  const log = logger.child({ component: 'meta.service' });
  const handlers = Object.fromEntries(
    META_METHODS.map((method) => {
      // MetaHandlers types each operation with its own request and response; one loop over all
      // of them sees their union, so the call is typed as the gRPC layer sees it (decoded bytes).
      const operation = namespace[method] as (request: unknown, context: CallContext) => Promise<unknown>;
      return [method, (request: unknown, context: CallContext) => operation.call(namespace, request, context)];
    }),
  );
  return serviceImplementation(handlers, (method, err) => {
    if (isSpindleError(err) && err.codeName !== 'INTERNAL') {
      log.debug({ method, code: err.codeName, msg: err.message }, 'request refused');
    } else {
      log.error({ method, err }, 'request failed unexpectedly');
    }
  });
}
