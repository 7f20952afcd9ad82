// The gRPC contract: generated message types, service definitions and clients (proto/gen is
// ts-proto output of proto/*.proto; regenerate with `npm run proto:gen`).
export * from './gen/checkpoints.js';
export * from './gen/common.js';
export * from './gen/kvcache.js';
export * from './gen/kvstore.js';
export * from './gen/loader.js';
export * from './gen/meta.js';
export * from './gen/mgmt.js';
export * from './gen/storage.js';
// Each generated file repeats these helpers; name one copy so the re-exports above are unambiguous.
export type { DeepPartial, MessageFns } from './gen/common.js';
/**
 * Named only because TypeScript rejects an ambiguous `export *` (TS2308), not for any importer:
 * @public tells knip they are meant to be exported.
 */
export { type Exact, protobufPackage, protobufFileName } from './gen/common.js';
