// The Meta RPCs, listed once. The list is the generated MetaService definition (proto/gen/meta.ts,
// from the `service Meta` of proto/meta.proto); everything else derives from it: the namespace's
// operations (meta/namespace/namespace.ts implements MetaHandlers), the gRPC handlers
// (meta/service/meta-service.ts serves every method from the namespace), and the client's
// wrappers (client/meta-rpc.ts: call name, idempotency tag, generated client method). Adding an
// RPC means adding it to meta.proto: the compiler then asks for the namespace operation and the
// client wrapper, and meta/service/meta-methods.test.ts checks that all of them agree.
import { MetaService } from '../proto/index.js';

/** A Meta RPC by its method name ('open', 'batchStat', …). */
export type MetaMethod = keyof typeof MetaService;

/** Every Meta RPC, in the order of meta.proto. */
export const META_METHODS: readonly MetaMethod[] = Object.keys(MetaService) as MetaMethod[];

export type MetaRequest<M extends MetaMethod> = Parameters<(typeof MetaService)[M]['requestSerialize']>[0];
export type MetaResponse<M extends MetaMethod> = ReturnType<(typeof MetaService)[M]['responseDeserialize']>;

/** One handler per Meta RPC, e.g. the namespace's operations (Options: the per-call options). */
export type MetaHandlers<Options> = {
  [M in MetaMethod]: (request: MetaRequest<M>, options?: Options) => Promise<MetaResponse<M>>;
};

/** The name of an RPC in errors and logs: 'meta.Open' for 'open' (from its path /spindle.Meta/Open). */
export function metaCallName(method: MetaMethod): string {
  const path: string = MetaService[method].path;
  return `meta.${path.slice(path.lastIndexOf('/') + 1)}`;
}

// A decoded empty message has every field of its type (ts-proto's base object), so a request type
// with an idempotency tag shows it here.
const TAGGED_METHODS = new Set(
  META_METHODS.filter((method) => 'tag' in MetaService[method].requestDeserialize(Buffer.alloc(0))),
);

/**
 * Whether an RPC mutates the namespace: its request carries a RequestTag, set once per logical
 * request and reused by its retries (meta answers a replay with the first result).
 */
export function isTaggedMetaMethod(method: MetaMethod): boolean {
  return TAGGED_METHODS.has(method);
}
