// The gRPC contract: generated message types, service definitions and clients (proto/gen is
// ts-proto output of proto/*.proto; regenerate with `npm run proto:gen`).
export * from './gen/common.js';
export * from './gen/meta.js';
export * from './gen/mgmt.js';
export * from './gen/storage.js';
// Each generated file repeats these helpers; name one copy so the re-exports above are unambiguous.
export { type DeepPartial, type Exact, type MessageFns, protobufPackage, protobufFileName } from './gen/common.js';
