// Metadata for raw gRPC calls in the data-port and fuzz tests: the cluster's token (the harness
// hands it out, test/harness/cluster.ts) as `authorization: Bearer …`, or nothing.
import { Metadata } from '@grpc/grpc-js';
import { tokenMetadata } from '../../../common/auth/client-auth.js';

/** Metadata of a raw gRPC call carrying `token` (none: empty metadata). */
export function callMetadata(token: string | undefined): Metadata {
  return token === undefined ? new Metadata() : tokenMetadata(token);
}
