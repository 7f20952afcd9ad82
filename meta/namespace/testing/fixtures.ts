// Fakes for namespace and service tests: a ClusterView with a settable chain table, a StoragePort
// that records calls (and can be made to fail), and a Namespace over the in-memory KvEngine with a
// manual clock and a seeded rng. Test-only; not exported from index.ts.
import { ManualClock, createRng } from '../../../common/clock.js';
import { metaConfig, type MetaConfig } from '../../../common/config.js';
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { silentLogger } from '../../../common/logger.js';
import {
  HardLinkRequest,
  MkdirsRequest,
  OpenRequest,
  RemoveRequest,
  RenameRequest,
  SetAttrRequest,
  SetLayoutRequest,
  SymlinkRequest,
  SyncRequest,
  TruncateRequest,
  type DeepPartial,
  type Inode,
  type Layout,
  type PathAt,
} from '../../../proto/index.js';
import type { ChainTableSnapshot, ClusterCapacity, ClusterView } from '../../cluster-view.js';
import { createMemoryEngine, type KvEngine } from '../../kv/index.js';
import type { StoragePort } from '../../storage-port.js';
import { Namespace } from '../namespace.js';
import { unpackDirEntries } from '../../../common/packed-dir-entries.js';

class FakeCluster implements ClusterView {
  readonly tables = new Map<number, ChainTableSnapshot[]>();
  capacityValue: ClusterCapacity = { capacityBytes: 1 << 30, freeBytes: 1 << 29 };

  /** Adds a new version of a table with `chains` chains (ids 1..chains). */
  addTable(tableId: number, chains: number): ChainTableSnapshot {
    const versions = this.tables.get(tableId) ?? [];
    const table = { tableId, version: versions.length + 1, chainIds: Array.from({ length: chains }, (_, i) => i + 1) };
    versions.push(table);
    this.tables.set(tableId, versions);
    return table;
  }

  latestChainTable(tableId: number): ChainTableSnapshot | undefined {
    return this.tables.get(tableId)?.at(-1);
  }

  chainTable(tableId: number, version: number): ChainTableSnapshot | undefined {
    return this.tables.get(tableId)?.find((t) => t.version === version);
  }

  capacity(): ClusterCapacity {
    return this.capacityValue;
  }
}

interface StorageCall {
  op: 'removeChunks' | 'truncateFile' | 'queryLength';
  ino: number;
  layout: Layout;
  arg?: number;
}

class FakeStorage implements StoragePort {
  readonly calls: StorageCall[] = [];
  /** Lengths queryLength answers, per inode. */
  readonly lengths = new Map<number, number>();
  /** Number of upcoming calls that fail with RPC_UNAVAILABLE. */
  failNext = 0;

  private maybeFail(): void {
    if (this.failNext > 0) {
      this.failNext--;
      throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'fake storage is down');
    }
  }

  async removeChunks(ino: number, layout: Layout, fromChunkIndex: number): Promise<void> {
    this.maybeFail();
    this.calls.push({ op: 'removeChunks', ino, layout, arg: fromChunkIndex });
  }

  async truncateFile(ino: number, layout: Layout, length: number): Promise<void> {
    this.maybeFail();
    this.calls.push({ op: 'truncateFile', ino, layout, arg: length });
  }

  async queryLength(ino: number, layout: Layout): Promise<number> {
    this.maybeFail();
    this.calls.push({ op: 'queryLength', ino, layout });
    return this.lengths.get(ino) ?? 0;
  }
}

export interface NamespaceFixture {
  ns: Namespace;
  kv: KvEngine;
  clock: ManualClock;
  cluster: FakeCluster;
  storage: FakeStorage;
  config: MetaConfig;
}

/** A namespace with an initialized root and chain table 1 of `chains` chains (0 = no table yet). */
export async function createNamespaceFixture(
  options: { chains?: number; config?: Partial<MetaConfig>; seed?: number } = {},
): Promise<NamespaceFixture> {
  const kv = createMemoryEngine({ txnRetriesMax: 64 });
  const clock = new ManualClock(1_700_000_000_000);
  const cluster = new FakeCluster();
  const chains = options.chains ?? 8;
  if (chains > 0) cluster.addTable(1, chains);
  const storage = new FakeStorage();
  const config = { ...metaConfig('test'), ...options.config };
  const ns = new Namespace({
    kv,
    clock,
    rng: createRng(options.seed ?? 7),
    cluster,
    storage,
    config,
    logger: silentLogger(),
  });
  await ns.init();
  return { ns, kv, clock, cluster, storage, config };
}

/** An absolute PathAt. */
export function p(path: string, parentIno = 0): PathAt {
  return { parentIno, path };
}

/** Every key and value in the store, hex-encoded (to assert that a failed call changed nothing). */
export async function dumpStore(kv: KvEngine): Promise<string[]> {
  return kv.transaction(
    async (txn) => {
      const pairs = await txn.getRange(new Uint8Array([0]), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]));
      return pairs.map((pair) => `${Buffer.from(pair.key).toString('hex')}=${Buffer.from(pair.value).toString('hex')}`);
    },
    { readOnly: true },
  );
}

/** The Spindle error code name a promise rejects with, or 'OK'. Non-Spindle errors propagate. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SpindleError) return err.codeName;
    throw err;
  }
  return 'OK';
}

/** Short calls for tests: paths are absolute strings; `extra` fills any other request field. */
export function fsApi(ns: Namespace) {
  return {
    create: (path: string, extra: DeepPartial<OpenRequest> = {}) =>
      ns.open(OpenRequest.fromPartial({ at: p(path), create: true, ...extra })),
    open: (path: string, extra: DeepPartial<OpenRequest> = {}) =>
      ns.open(OpenRequest.fromPartial({ at: p(path), ...extra })),
    mkdir: (path: string, extra: DeepPartial<MkdirsRequest> = {}) =>
      ns.mkdirs(MkdirsRequest.fromPartial({ at: p(path), ...extra })).then((r) => r.inode!),
    mkdirp: (path: string) =>
      ns.mkdirs(MkdirsRequest.fromPartial({ at: p(path), recursive: true })).then((r) => r.inode!),
    stat: (path: string): Promise<Inode> => ns.stat({ at: p(path), followSymlink: true }).then((r) => r.inode!),
    lstat: (path: string): Promise<Inode> => ns.stat({ at: p(path), followSymlink: false }).then((r) => r.inode!),
    /** Every name in a directory, following pages. */
    ls: async (path: string): Promise<string[]> => {
      const names: string[] = [];
      let after = '';
      for (;;) {
        const page = await ns.readDir({ at: p(path), afterName: after, limit: 0, withAttributes: false });
        names.push(...unpackDirEntries(page).map((e) => e.name));
        if (!page.hasMore) return names;
        after = names.at(-1)!;
      }
    },
    rename: (from: string, to: string, extra: DeepPartial<RenameRequest> = {}) =>
      ns.rename(RenameRequest.fromPartial({ from: p(from), to: p(to), ...extra })),
    unlink: (path: string, extra: DeepPartial<RemoveRequest> = {}) =>
      ns.remove(RemoveRequest.fromPartial({ at: p(path), ...extra })),
    rmdir: (path: string) => ns.remove(RemoveRequest.fromPartial({ at: p(path), directory: true })),
    rmr: (path: string) => ns.remove(RemoveRequest.fromPartial({ at: p(path), directory: true, recursive: true })),
    symlink: (path: string, target: string, extra: DeepPartial<SymlinkRequest> = {}) =>
      ns.symlink(SymlinkRequest.fromPartial({ at: p(path), target, ...extra })).then((r) => r.inode!),
    readlink: (path: string) => ns.readLink({ at: p(path), followSymlink: false }).then((r) => r.target),
    link: (existing: string, link: string, extra: DeepPartial<HardLinkRequest> = {}) =>
      ns
        .hardLink(HardLinkRequest.fromPartial({ existing: p(existing), link: p(link), ...extra }))
        .then((r) => r.inode!),
    truncate: (path: string, length: number, extra: DeepPartial<TruncateRequest> = {}) =>
      ns.truncate(TruncateRequest.fromPartial({ at: p(path), length, ...extra })).then((r) => r.inode!),
    setattr: (path: string, extra: DeepPartial<SetAttrRequest>) =>
      ns.setAttr(SetAttrRequest.fromPartial({ at: p(path), ...extra })).then((r) => r.inode!),
    setlayout: (path: string, extra: DeepPartial<SetLayoutRequest>) =>
      ns.setLayout(SetLayoutRequest.fromPartial({ at: p(path), ...extra })).then((r) => r.inode!),
    sync: (ino: number, extra: DeepPartial<SyncRequest> = {}) =>
      ns.sync(SyncRequest.fromPartial({ ino, ...extra })).then((r) => r.inode!),
  };
}
