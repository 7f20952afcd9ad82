// The simulated network: every message between simulated endpoints (storage nodes, the manager,
// clients) goes through here instead of gRPC.
//
// Faults: per-message delay (with rare long spikes, so messages overtake each other), drop,
// duplicate delivery (a second copy of a request runs on the server; its answer is ignored), and
// partitions (a cut link loses every message on it, checked when the message arrives). A request
// to an endpoint whose process is down fails with RPC_UNAVAILABLE (connection refused); a lost
// request or answer makes the caller fail with TIMEOUT after `rpcTimeoutMs`. Errors cross the
// wire the way they do over gRPC (common/errors.ts toGrpcError → fromGrpcError).
import { ErrorCode, SpindleError, asSpindleError } from '../../common/errors.js';
import { fromGrpcError, toGrpcError } from '../../common/grpc-errors.js';
import type { SimScheduler } from './scheduler.js';

export interface NetFaults {
  dropP: number;
  duplicateP: number;
  /** Chance of a long delay (reordering). */
  spikeP: number;
  delayMinMs: number;
  delayMaxMs: number;
  spikeMaxMs: number;
}

export const NO_NET_FAULTS: NetFaults = {
  dropP: 0,
  duplicateP: 0,
  spikeP: 0,
  delayMinMs: 0.05,
  delayMaxMs: 1,
  spikeMaxMs: 1,
};

/** The sending side of a call: its name (for partitions) and whether its process still runs. */
export interface Endpoint {
  name: string;
  alive(): boolean;
}

/** The receiving side: `handle` settles only while the process that took the request lives. */
export interface SimServer {
  alive(): boolean;
  handle(method: string, request: unknown): Promise<unknown>;
}

export class SimNetwork {
  private readonly servers = new Map<string, SimServer>();
  private readonly cut = new Set<string>();
  faults: NetFaults = NO_NET_FAULTS;
  messages = 0;

  constructor(private readonly sched: SimScheduler) {}

  register(name: string, server: SimServer): void {
    this.servers.set(name, server);
  }

  partition(a: string, b: string): void {
    this.cut.add(pairKey(a, b));
  }

  heal(a: string, b: string): void {
    this.cut.delete(pairKey(a, b));
  }

  healAll(): void {
    this.cut.clear();
  }

  connected(a: string, b: string): boolean {
    return !this.cut.has(pairKey(a, b));
  }

  get partitions(): number {
    return this.cut.size;
  }

  /** One request/response exchange from `from` to the endpoint named `to`. */
  call<Res>(from: Endpoint, to: string, method: string, request: unknown, timeoutMs: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      if (!from.alive()) return; // a dead process sends nothing and hears nothing
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled || !from.alive()) return;
        settled = true;
        cancelTimer();
        fn();
      };
      const cancelTimer = this.sched.after(timeoutMs, () =>
        settle(() => reject(new SpindleError(ErrorCode.TIMEOUT, `sim ${method} to ${to}: deadline exceeded`))),
      );
      // The answer travels back over the same faulty link (never duplicated: one reply per call).
      const answer = (fn: () => void) =>
        this.transmit(false, () => {
          if (!this.connected(to, from.name)) return;
          settle(fn);
        });
      this.transmit(true, () => {
        if (!this.connected(from.name, to)) return;
        const server = this.servers.get(to);
        if (server === undefined || !server.alive()) {
          answer(() =>
            reject(new SpindleError(ErrorCode.RPC_UNAVAILABLE, `sim ${method} to ${to}: connection refused`)),
          );
          return;
        }
        let running: Promise<unknown>;
        try {
          running = server.handle(method, cloneMessage(request));
        } catch (err) {
          running = Promise.reject(err);
        }
        running.then(
          (response) => answer(() => resolve(cloneMessage(response) as Res)),
          (err: unknown) => {
            const wire = fromGrpcError(toGrpcError(asSpindleError(err)), `sim ${method} to ${to}`);
            answer(() => reject(wire));
          },
        );
      });
    });
  }

  /** Schedules delivery of one message (maybe dropped, maybe twice). */
  private transmit(mayDuplicate: boolean, deliver: () => void): void {
    this.messages++;
    if (this.sched.chance(this.faults.dropP)) return;
    this.sched.after(this.delayMs(), deliver);
    if (mayDuplicate && this.sched.chance(this.faults.duplicateP)) this.sched.after(this.delayMs(), deliver);
  }

  private delayMs(): number {
    const f = this.faults;
    if (this.sched.chance(f.spikeP)) return this.sched.uniform(f.delayMaxMs, f.spikeMaxMs);
    return this.sched.uniform(f.delayMinMs, f.delayMaxMs);
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

/** A deep copy of a message, as serialization would make (Buffers copied, no shared objects). */
function cloneMessage<T>(value: T): T {
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T;
  if (value instanceof Uint8Array) return Buffer.from(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => cloneMessage(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = cloneMessage(v);
    return out as T;
  }
  return value;
}
