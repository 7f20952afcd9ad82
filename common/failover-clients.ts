// Several meta processes behind one `--meta a:p,b:q` (or SPINDLE_META) list: one gRPC client per
// address, the calls of a caller going to one of them at a time, and a retryable failure moving
// the next call to the next address. Clients, mounts and storage nodes use it for Meta and for
// Mgmt separately, so namespace calls can stay on any meta while Mgmt calls find the one holding
// the cluster-manager role (a standby answers Mgmt with a retryable RPC_UNAVAILABLE).
//
// Guarantees: the list is parsed once (an empty entry is CONFIG_INVALID); a failure
// moves on only if it came from the current address, so concurrent failures of one address move
// one step, not several; close() closes every client and is idempotent.
import { ErrorCode, SpindleError } from './errors.js';

/** Most meta addresses one list may hold (a handful of meta processes serve a cluster). */
const META_ADDRESSES_MAX = 64;

/**
 * Splits a comma-separated list of addresses. Entries are not resolved here (a bad one fails its
 * calls like a single bad address always did); only an empty entry is refused.
 */
export function parseAddressList(text: string, what = '--meta'): string[] {
  const addresses = text.split(',').map((entry) => entry.trim());
  if (addresses.some((address) => address === '') || addresses.length > META_ADDRESSES_MAX) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `${what} takes HOST:PORT or a comma-separated list of up to ${META_ADDRESSES_MAX} of them ` +
        `(a:7400,b:7400), got ${JSON.stringify(text)}`,
    );
  }
  return [...new Set(addresses)];
}

/** One client per address, used one at a time (see the file comment). */
export class FailoverClients<C extends { close(): void }> {
  private readonly clients: C[];
  private index = 0;
  private closed = false;

  constructor(
    readonly addresses: readonly string[],
    make: (address: string) => C,
  ) {
    if (addresses.length === 0) throw new SpindleError(ErrorCode.CONFIG_INVALID, 'no meta address given');
    this.clients = addresses.map(make);
  }

  /** The client calls go to now. */
  get current(): C {
    return this.clients[this.index]!;
  }

  get currentAddress(): string {
    return this.addresses[this.index]!;
  }

  /** `client` failed with a retryable error: the next call goes to the next address. */
  failed(client: C): void {
    if (this.clients.length > 1 && this.clients[this.index] === client) {
      this.index = (this.index + 1) % this.clients.length;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const client of this.clients) client.close();
  }
}
