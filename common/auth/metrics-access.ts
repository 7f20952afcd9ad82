// Who may read /metrics: anyone connecting from loopback (the local Prometheus, `curl` on the
// host), and from any other address only a caller with a valid bearer token of this cluster.
import type { TokenVerifier } from './token-verifier.js';

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const plain = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return plain === '::1' || plain.startsWith('127.');
}

/** The check for startMetricsServer; undefined (everyone may read) when authentication is off. */
export function metricsAccess(
  verifier: TokenVerifier | undefined,
): ((remoteAddress: string | undefined, authorization: string | undefined) => boolean) | undefined {
  if (verifier === undefined) return undefined;
  return (remoteAddress, authorization) => {
    if (isLoopback(remoteAddress)) return true;
    if (authorization === undefined || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return false;
    try {
      verifier.verify(authorization.slice(7).trim());
      return true;
    } catch {
      return false;
    }
  };
}
