// A minimal in-memory KvEngine for the cluster manager's unit tests: transactions run one at a
// time on an overlay of the committed map and commit all their writes or none. (The shared
// memory engine, meta/kv/memory-engine.ts, passes the full conformance suite; this one only needs
// to be correct for serial use.)
import type { KvEngine, KvPair, KvRangeOptions, KvTxn } from '../../kv/engine.js';

const hex = (key: Uint8Array) => Buffer.from(key).toString('hex');

export class TestKv implements KvEngine {
  readonly name = 'test-memory';
  readonly data = new Map<string, Uint8Array>();
  transactions = 0;
  private tail: Promise<unknown> = Promise.resolve();
  /** When set, the next commit throws this instead (then the hook clears). */
  failNextCommit: Error | undefined;

  transaction<T>(fn: (txn: KvTxn) => Promise<T>): Promise<T> {
    const run = async () => {
      const writes = new Map<string, Uint8Array | undefined>();
      const read = (k: string) => (writes.has(k) ? writes.get(k) : this.data.get(k));
      const txn: KvTxn = {
        get: async (key) => read(hex(key)),
        getRange: async (start, end, options: KvRangeOptions = {}) => {
          const keys = new Set([...this.data.keys(), ...writes.keys()]);
          const lo = hex(start);
          const hi = hex(end);
          let pairs: KvPair[] = [...keys]
            .filter((k) => k >= lo && k < hi && read(k) !== undefined)
            .sort()
            .map((k) => ({ key: Buffer.from(k, 'hex'), value: read(k)! }));
          if (options.reverse) pairs.reverse();
          if (options.limit !== undefined) pairs = pairs.slice(0, options.limit);
          return pairs;
        },
        put: (key, value) => void writes.set(hex(key), Uint8Array.from(value)),
        delete: (key) => void writes.set(hex(key), undefined),
      };
      const result = await fn(txn);
      if (this.failNextCommit) {
        const err = this.failNextCommit;
        this.failNextCommit = undefined;
        throw err;
      }
      for (const [k, v] of writes) {
        if (v === undefined) this.data.delete(k);
        else this.data.set(k, v);
      }
      this.transactions++;
      return result;
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** A copy of the committed data (to check that a refused request changed nothing). */
  dump(): Map<string, string> {
    return new Map([...this.data].map(([k, v]) => [k, Buffer.from(v).toString('hex')]));
  }

  async close(): Promise<void> {}
}
