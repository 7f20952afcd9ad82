// A simulated chunk engine and disk: the methods of storage/chunk-engine's ChunkEngine that the
// chain replicator and the read operator call, over an in-memory "disk" that loses unflushed
// writes on crash.
//
// Guarantees (mirroring ChunkEngine's contract, which is what the real replicator relies on):
// - applyUpdate builds the chunk's next content from the committed one and holds it as a pending
//   version in memory (a crash drops it); reads never see it (unless the sim's deliberately broken
//   `readPending` variant is on).
// - commit makes a pending version the committed one in two steps, each taking simulated disk
//   time: the metadata put (visible to reads from then on) and the flush (durable from then on);
//   commit resolves only after the flush. A crash between the two loses the commit.
// - Every operation of a crashed engine never completes (its process is gone); the disk keeps
//   what was flushed, and the next incarnation opens a fresh engine on it.
import { crc32c } from '../../common/crc32c.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { UpdateType } from '../../proto/index.js';
import type {
  ChunkEngine,
  ChunkUpdate,
  PendingResult,
  ReadResultData,
} from '../../storage/chunk-engine/chunk-engine.js';
import { updateFingerprint } from '../../storage/chunk-engine/chunk-engine.js';
import type { ChunkAddress } from '../../storage/chunk-engine/chunk-key.js';
import type { CommittedChunkMeta } from '../../storage/chunk-engine/chunk-meta.js';
import type { SimScheduler } from './scheduler.js';

/** The part of ChunkEngine the replication and read paths use; the sim engine implements it. */
type EngineSurface = Pick<
  ChunkEngine,
  'committed' | 'pendingOf' | 'applyUpdate' | 'commit' | 'abort' | 'readLatest' | 'read' | 'listChunks' | 'removeNow'
>;

/** One committed chunk as stored: metadata plus its bytes (immutable once created). */
export interface StoredChunk {
  version: number;
  chainVersion: number;
  content: Buffer;
}

interface Pending extends PendingResult {
  fingerprint: string;
  content: Buffer | undefined;
}

/** What survives a crash: the flushed state of one target. */
export class SimDisk {
  readonly durable = new Map<string, StoredChunk>();
}

export interface SimEngineHooks {
  /** Called when a commit (or removal) becomes visible on this target. */
  onCommit(targetId: number, key: string, chunk: StoredChunk | undefined): void;
  /** Called when the engine is used through a method the simulation does not model. */
  onHarnessError(message: string): void;
}

export interface SimEngineOptions {
  /** Broken variant: reads serve a pending update's bytes (must be caught by the checker). */
  readPending?: boolean;
}

export function keyOf(ino: number, index: number): string {
  return `${ino}:${index}`;
}

export function parseKey(key: string): ChunkAddress {
  const [ino, index] = key.split(':').map(Number) as [number, number];
  return { ino, index };
}

/** The chunk content after `update` on top of `old` (undefined: removed). Same rules as ChunkEngine. */
export function applyToContent(old: Buffer | undefined, update: ChunkUpdate): Buffer | undefined {
  const oldLength = old?.length ?? 0;
  switch (update.type) {
    case UpdateType.REMOVE:
      return undefined;
    case UpdateType.REPLACE:
      return Buffer.from(update.data);
    case UpdateType.WRITE: {
      const out = Buffer.alloc(Math.max(oldLength, update.offset + update.data.length));
      old?.copy(out, 0);
      out.set(update.data, update.offset);
      return out;
    }
    case UpdateType.TRUNCATE: {
      const out = Buffer.alloc(update.offset);
      old?.copy(out, 0, 0, Math.min(oldLength, update.offset));
      return out;
    }
    default:
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `unknown update type ${update.type}`);
  }
}

export class SimChunkEngine implements EngineSurface {
  private readonly visible = new Map<string, StoredChunk>();
  private readonly pending = new Map<string, Pending>();
  /** Metadata changes visible but not yet flushed, in commit order. */
  private unflushed: Array<{ id: number; key: string; chunk: StoredChunk | undefined }> = [];
  private nextTxn = 1;
  private aliveFlag = true;

  constructor(
    private readonly sched: SimScheduler,
    readonly disk: SimDisk,
    private readonly targetId: () => number,
    private readonly hooks: SimEngineHooks,
    private readonly options: SimEngineOptions = {},
  ) {
    for (const [key, chunk] of disk.durable) this.visible.set(key, chunk);
  }

  get alive(): boolean {
    return this.aliveFlag;
  }

  /** The process died: pending and unflushed state is gone, nothing in flight completes. */
  kill(): void {
    this.aliveFlag = false;
    this.pending.clear();
    this.unflushed = [];
  }

  /** Visible committed chunks (for resync and the checker). */
  snapshot(): Map<string, StoredChunk> {
    return new Map(this.visible);
  }

  /** Whether every visible commit is flushed (quiescence). */
  get allFlushed(): boolean {
    return this.unflushed.length === 0;
  }

  private diskOp(): Promise<void> {
    // Mostly fast, sometimes slow: slow operations reorder work between chunks and replicas.
    const ms = this.sched.chance(0.05) ? this.sched.uniform(5, 30) : this.sched.uniform(0.05, 1.5);
    return this.sched.delay(ms, () => this.aliveFlag);
  }

  committed(ino: number, index: number): CommittedChunkMeta | undefined {
    this.checkAlive();
    const chunk = this.visible.get(keyOf(ino, index));
    return chunk === undefined ? undefined : metaOf(chunk);
  }

  pendingOf(ino: number, index: number): (PendingResult & { fingerprint: string }) | undefined {
    const pending = this.pending.get(keyOf(ino, index));
    return pending === undefined ? undefined : { ...publicOf(pending), fingerprint: pending.fingerprint };
  }

  async read(ino: number, index: number, offset: number, length: number): Promise<ReadResultData> {
    this.checkAlive();
    const key = keyOf(ino, index);
    let source: { content: Buffer; version: number } | undefined = this.visible.get(key);
    const pending = this.pending.get(key);
    if (this.options.readPending && pending !== undefined && pending.content !== undefined) {
      source = { content: pending.content, version: pending.version };
    }
    if (source === undefined) throw new SpindleError(ErrorCode.CHUNK_NOT_FOUND, `chunk ${key} does not exist`);
    await this.diskOp();
    const end = Math.min(source.content.length, offset + length);
    const data = offset >= end ? Buffer.alloc(0) : Buffer.from(source.content.subarray(offset, end));
    return { data, dataCrc32c: crc32c(data), chunkLength: source.content.length, commitVersion: source.version };
  }

  async readLatest(ino: number, index: number): Promise<Buffer | undefined> {
    const key = keyOf(ino, index);
    const pending = this.pending.get(key);
    const content = pending !== undefined ? pending.content : this.visible.get(key)?.content;
    await this.diskOp();
    return content === undefined ? undefined : Buffer.from(content);
  }

  async applyUpdate(ino: number, index: number, version: number, update: ChunkUpdate): Promise<PendingResult> {
    this.checkAlive();
    const key = keyOf(ino, index);
    this.abort(ino, index);
    const content = applyToContent(this.visible.get(key)?.content, update);
    const fingerprint = updateFingerprint(update);
    await this.diskOp(); // the new bytes written and synced
    const pending: Pending = {
      version,
      length: content?.length ?? 0,
      crc32c: content === undefined ? 0 : crc32c(content),
      removed: content === undefined,
      fingerprint,
      content,
    };
    this.pending.set(key, pending);
    return publicOf(pending);
  }

  async commit(
    ino: number,
    index: number,
    version: number,
    chainVersion: number,
  ): Promise<ReturnType<ChunkEngine['commit']> extends Promise<infer R> ? R : never> {
    this.checkAlive();
    const key = keyOf(ino, index);
    const pending = this.pending.get(key);
    if (pending === undefined || pending.version !== version) {
      throw new SpindleError(ErrorCode.INTERNAL, `chunk ${key} has no pending version ${version} to commit`);
    }
    const chunk = pending.content === undefined ? undefined : { version, chainVersion, content: pending.content };
    await this.putAndFlush(key, chunk);
    if (this.pending.get(key) !== pending) throw new Error(`sim: pending update of ${key} changed during its commit`);
    this.pending.delete(key);
    if (chunk === undefined) return undefined;
    return {
      ino,
      index,
      commitVersion: version,
      updateVersion: version,
      chainVersion,
      length: chunk.content.length,
      crc32c: crc32c(chunk.content),
    };
  }

  abort(ino: number, index: number): void {
    this.pending.delete(keyOf(ino, index));
  }

  listChunks(ino: number, fromIndex = 0): ChunkAddress[] {
    this.checkAlive();
    const keys = new Set([...this.visible.keys(), ...this.pending.keys()]);
    return [...keys]
      .map(parseKey)
      .filter((c) => c.ino === ino && c.index >= fromIndex)
      .sort((a, b) => a.index - b.index);
  }

  async removeNow(ino: number, index: number): Promise<boolean> {
    this.checkAlive();
    const key = keyOf(ino, index);
    this.abort(ino, index);
    if (!this.visible.has(key)) return false;
    await this.putAndFlush(key, undefined);
    return true;
  }

  /**
   * Installs a chunk exactly as given (the simulated resync's copy; caller holds the chunk lock):
   * same two-step put and flush as a commit.
   */
  async install(key: string, chunk: StoredChunk | undefined): Promise<void> {
    this.checkAlive();
    this.pending.delete(key);
    if (chunk === undefined && !this.visible.has(key)) return;
    await this.diskOp();
    await this.putAndFlush(key, chunk);
  }

  /** One metadata transaction: visible after the put, durable after the flush. */
  private async putAndFlush(key: string, chunk: StoredChunk | undefined): Promise<void> {
    await this.diskOp();
    if (chunk === undefined) this.visible.delete(key);
    else this.visible.set(key, chunk);
    const id = this.nextTxn++;
    this.unflushed.push({ id, key, chunk });
    this.hooks.onCommit(this.targetId(), key, chunk);
    await this.diskOp();
    // A flush makes this transaction and every earlier one durable (lmdb commits in order).
    while (this.unflushed.length > 0 && this.unflushed[0]!.id <= id) {
      const done = this.unflushed.shift()!;
      if (done.chunk === undefined) this.disk.durable.delete(done.key);
      else this.disk.durable.set(done.key, done.chunk);
    }
  }

  private checkAlive(): void {
    if (!this.aliveFlag) throw new SpindleError(ErrorCode.CANCELLED, 'sim: engine of a crashed node');
  }
}

function publicOf(pending: Pending): PendingResult {
  return { version: pending.version, length: pending.length, crc32c: pending.crc32c, removed: pending.removed };
}

function metaOf(chunk: StoredChunk): CommittedChunkMeta {
  return {
    commitVersion: chunk.version,
    chainVersion: chunk.chainVersion,
    length: chunk.content.length,
    crc32c: crc32c(chunk.content),
    block: { classLog2: 0, blockNo: 0 },
    segmentCrcs: new Uint32Array(0),
    updatedUs: 0,
  };
}

/**
 * Wraps an engine so that a call to a ChunkEngine method the simulation does not model (say, one
 * the replicator starts using later) is reported as a harness error instead of passing unnoticed.
 */
export function guardEngine(engine: SimChunkEngine, hooks: SimEngineHooks): SimChunkEngine {
  return new Proxy(engine, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (value === undefined && typeof property === 'string' && property !== 'then') {
        hooks.onHarnessError(
          `the replicator used engine.${property}, which the simulated engine does not model (test/sim/sim-engine.ts)`,
        );
      }
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
