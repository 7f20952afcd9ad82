// One attempt of a transaction on etcd: snapshot reads at one etcd revision, writes buffered here,
// and the compares that make the commit serializable.
//
// The snapshot revision R is the header revision of the attempt's first read; every later read
// asks for revision R, so the attempt sees one consistent state. At commit, etcd applies the
// writes only if every read still holds:
// - a key read as present: `mod_revision == the revision it was read at` (catches a change, a
//   delete, a delete-and-recreate);
// - a key read as absent: `mod_revision == 0` (catches a create);
// - a range read: `mod_revision < R + 1` over the part of the range the result depended on (catches
//   a key inserted or changed in it; deletes are caught by the per-key compares of its keys).
// This is etcd's "compare on mod revision" serializability, not the etcd3 package's STM, whose
// default isolation wrongly conflicts on any written key newer than the oldest key read.
import type { Etcd3 } from 'etcd3';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import {
  checkBound,
  checkKey,
  checkLimit,
  checkValue,
  compareBytes,
  copyBytes,
  keyToString,
  stringToKey,
} from './bytes.js';
import type { KvKey, KvPair, KvRangeOptions, KvTxn, KvValue } from './engine.js';

/** Keys asked of etcd per range page: bounded replies even for ranges of large values. */
const ETCD_RANGE_PAGE_KEYS = 64;

type EtcdCompare = NonNullable<Parameters<Etcd3['kv']['txn']>[0]['compare']>[number];
type EtcdRequestOp = NonNullable<Parameters<Etcd3['kv']['txn']>[0]['success']>[number];

export interface EtcdTxnContext {
  kv: Etcd3['kv'];
  /** Key prefix of this engine's namespace in etcd. */
  prefix: Buffer;
  /** Most distinct keys one transaction may write (etcd's --max-txn-ops). */
  writesMax: number;
  /** Wraps every etcd call (timeouts, error mapping). */
  call<T>(fn: () => Promise<T>): Promise<T>;
}

interface RangeRead {
  start: Buffer;
  end: Buffer;
}

export class EtcdTxn implements KvTxn {
  /** Snapshot revision (decimal string, as etcd returns it); undefined until the first read. */
  revision: string | undefined;
  /** Key string → mod revision read ('0': absent). */
  private readonly reads = new Map<string, string>();
  /** Values read, so a repeated read costs no round trip (the snapshot does not change). */
  private readonly cache = new Map<string, Buffer | undefined>();
  private readonly rangeReads: RangeRead[] = [];
  /** Key string → value (undefined: delete). */
  readonly writes = new Map<string, Buffer | undefined>();

  constructor(
    private readonly context: EtcdTxnContext,
    private readonly readOnly: boolean,
  ) {}

  private full(key: Uint8Array): Buffer {
    return Buffer.concat([this.context.prefix, key]);
  }

  async get(key: KvKey): Promise<KvValue | undefined> {
    checkKey(key);
    const keyString = keyToString(key);
    if (this.writes.has(keyString)) {
      const value = this.writes.get(keyString);
      return value === undefined ? undefined : copyBytes(value);
    }
    if (!this.cache.has(keyString)) {
      const response = await this.context.call(() =>
        this.context.kv.range({ key: this.full(key), ...(this.revision ? { revision: this.revision } : {}) }),
      );
      this.revision ??= response.header.revision;
      const found = response.kvs[0];
      this.reads.set(keyString, found === undefined ? '0' : found.mod_revision);
      this.cache.set(keyString, found === undefined ? undefined : Buffer.from(found.value));
    }
    const value = this.cache.get(keyString);
    return value === undefined ? undefined : copyBytes(value);
  }

  async getRange(start: KvKey, end: KvKey, options: KvRangeOptions = {}): Promise<KvPair[]> {
    checkBound(start, 'start');
    checkBound(end, 'end');
    checkLimit(options.limit);
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    const reverse = options.reverse === true;
    if (limit === 0 || compareBytes(start, end) >= 0) return [];
    // Own writes inside the range, in scan order.
    const local = [...this.writes.keys()]
      .map(stringToKey)
      .filter((key) => compareBytes(key, start) >= 0 && compareBytes(key, end) < 0)
      .sort((a, b) => (reverse ? compareBytes(b, a) : compareBytes(a, b)));
    const server = this.serverScan(Buffer.from(start), Buffer.from(end), reverse);
    const out: KvPair[] = [];
    let localIndex = 0;
    let serverPair = await server.next();
    const before = (a: Uint8Array, b: Uint8Array) => (reverse ? compareBytes(a, b) > 0 : compareBytes(a, b) < 0);
    while (out.length < limit) {
      const localKey = local[localIndex];
      if (serverPair === undefined && localKey === undefined) break;
      if (localKey !== undefined && (serverPair === undefined || !before(serverPair.key, localKey))) {
        // Own write first (or the same key: the own write shadows the snapshot's).
        if (serverPair !== undefined && compareBytes(serverPair.key, localKey) === 0) serverPair = await server.next();
        localIndex++;
        const value = this.writes.get(keyToString(localKey));
        if (value !== undefined) out.push({ key: copyBytes(localKey), value: copyBytes(value) });
        continue;
      }
      out.push({ key: copyBytes(serverPair!.key), value: copyBytes(serverPair!.value) });
      serverPair = await server.next();
    }
    // The result depends on the range up to its last key when the limit cut it short.
    const last = out.length >= limit ? out[out.length - 1]!.key : undefined;
    if (last === undefined) this.rangeReads.push({ start: this.full(start), end: this.full(end) });
    else if (reverse) this.rangeReads.push({ start: this.full(last), end: this.full(end) });
    else this.rangeReads.push({ start: this.full(start), end: this.full(Buffer.concat([last, Buffer.of(0)])) });
    return out;
  }

  /** Pages through the snapshot's keys in [start, end), recording each key read. */
  private serverScan(start: Buffer, end: Buffer, reverse: boolean): { next(): Promise<KvPair | undefined> } {
    let page: KvPair[] = [];
    let index = 0;
    let more = true;
    let low = start;
    let high = end;
    const fetchPage = async () => {
      const response = await this.context.call(() =>
        this.context.kv.range({
          key: this.full(low),
          range_end: this.full(high),
          limit: ETCD_RANGE_PAGE_KEYS,
          sort_order: reverse ? 'Descend' : 'Ascend',
          sort_target: 'Key',
          ...(this.revision ? { revision: this.revision } : {}),
        }),
      );
      this.revision ??= response.header.revision;
      page = response.kvs.map((kv) => {
        const key = kv.key.subarray(this.context.prefix.length);
        const keyString = keyToString(key);
        this.reads.set(keyString, kv.mod_revision);
        if (!this.cache.has(keyString)) this.cache.set(keyString, Buffer.from(kv.value));
        return { key, value: kv.value };
      });
      index = 0;
      more = response.more;
      const lastKey = page[page.length - 1]?.key;
      if (lastKey !== undefined) {
        if (reverse) high = Buffer.from(lastKey);
        else low = Buffer.concat([lastKey, Buffer.of(0)]);
      }
    };
    return {
      next: async () => {
        if (index >= page.length) {
          if (!more) return undefined;
          await fetchPage();
          if (index >= page.length) return undefined;
        }
        return page[index++];
      },
    };
  }

  put(key: KvKey, value: KvValue): void {
    checkKey(key);
    checkValue(value);
    this.checkWritable(keyToString(key));
    this.writes.set(keyToString(key), copyBytes(value));
  }

  delete(key: KvKey): void {
    checkKey(key);
    this.checkWritable(keyToString(key));
    this.writes.set(keyToString(key), undefined);
  }

  private checkWritable(keyString: string): void {
    if (this.readOnly) throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'write in a read-only kv transaction');
    if (this.writes.size >= this.context.writesMax && !this.writes.has(keyString)) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `kv transaction writes more than ${this.context.writesMax} keys, etcd's --max-txn-ops; ` +
          'split the work into batches (or raise the limit on the etcd server and in the engine)',
      );
    }
  }

  /** The compares that hold only if nothing this attempt read has changed since its snapshot. */
  compares(): EtcdCompare[] {
    const compares: EtcdCompare[] = [];
    for (const [keyString, modRevision] of this.reads) {
      compares.push({
        key: this.full(stringToKey(keyString)),
        target: 'Mod',
        result: 'Equal',
        mod_revision: modRevision,
      });
    }
    if (this.revision !== undefined) {
      const next = (BigInt(this.revision) + 1n).toString();
      for (const range of this.rangeReads) {
        compares.push({ key: range.start, range_end: range.end, target: 'Mod', result: 'Less', mod_revision: next });
      }
    }
    return compares;
  }

  /** The writes as etcd request operations. */
  operations(): EtcdRequestOp[] {
    const ops: EtcdRequestOp[] = [];
    for (const [keyString, value] of this.writes) {
      const key = this.full(stringToKey(keyString));
      ops.push(value === undefined ? { request_delete_range: { key } } : { request_put: { key, value } });
    }
    return ops;
  }

  /** Bytes of the commit request, roughly (keys, values, compares; a little framing each). */
  requestBytes(): number {
    let bytes = 0;
    for (const [keyString, value] of this.writes) bytes += keyString.length + (value?.byteLength ?? 0) + 16;
    for (const keyString of this.reads.keys()) bytes += keyString.length + this.context.prefix.length + 24;
    for (const range of this.rangeReads) bytes += range.start.length + range.end.length + 24;
    return bytes;
  }
}
