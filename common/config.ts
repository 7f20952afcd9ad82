// Typed, validated configuration of every process. Each config has two presets — `production`
// and `test` (tiny limits and short timers so tests reach edge cases fast) — and accepts
// overrides from code or a JSON file with human units ('1s', '200ms', '4MiB'). Validation lists
// EVERY bad key (unknown keys too) in one SpindleError(CONFIG_INVALID), so a user fixes a file in
// one pass.
import { readFileSync } from 'node:fs';
import {
  CHUNK_SIZE_DEFAULT_BYTES,
  CHUNK_SIZE_MAX_BYTES,
  CHUNK_SIZE_MIN_BYTES,
  RPC_MESSAGE_MAX_BYTES,
  STRIPE_WIDTH_MAX,
} from './constants.js';
import { assert, ErrorCode, SpindleError } from './errors.js';
import {
  BULK_HELLO_TIMEOUT_DEFAULT_MS,
  BULK_IDLE_TIMEOUT_DEFAULT_MS,
  BULK_NODE_HELD_MAX_DEFAULT_BYTES,
  BULK_PROGRESS_TIMEOUT_DEFAULT_MS,
  BULK_SESSIONS_MAX_DEFAULT,
  BULK_SESSIONS_PER_PEER_MAX_DEFAULT,
  BULK_UNCLAIMED_MAX_DEFAULT_BYTES,
} from './bulk/constants.js';
import type { DataTransport } from './bulk/transport.js';
import type { IntegerRange } from './flags.js';

const DATA_TRANSPORTS: readonly DataTransport[] = ['bulk', 'grpc'];

// ---------------------------------------------------------------------------------------------
// Units

const DURATION_UNITS_MS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

const QUANTITY = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/;

/**
 * Milliseconds of a duration: a non-negative number is milliseconds; a string is a number with an
 * optional unit us|ms|s|m|h|d ('1s' = 1000, '200ms' = 200, '2m' = 120000, '1.5h', '250' = 250).
 */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isFinite(text) || text < 0) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `a duration must be a non-negative number of milliseconds, got ${text}`,
      );
    }
    return text;
  }
  const match = typeof text === 'string' ? QUANTITY.exec(text) : null;
  const unit = match?.[2] === '' ? 'ms' : match?.[2];
  const factor = unit === undefined ? undefined : DURATION_UNITS_MS[unit];
  if (match === null || factor === undefined) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `cannot read duration ${JSON.stringify(text)}: ` +
        "write a number and a unit (us, ms, s, m, h, d), e.g. '200ms' or '1s'",
    );
  }
  return Number(match[1]) * factor;
}

/**
 * Bytes of a size: a non-negative integer is bytes; a string is a number with an optional unit
 * B, KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024), case-insensitive.
 * The result must be a whole number of bytes ('1.5KiB' = 1536; '0.3B' is an error).
 */
export function parseBytes(text: string | number): number {
  let bytes: number;
  if (typeof text === 'number') {
    bytes = text;
  } else {
    const match = typeof text === 'string' ? QUANTITY.exec(text) : null;
    const unit = match?.[2] === '' ? 'b' : match?.[2]?.toLowerCase();
    const factor = unit === undefined ? undefined : BYTE_UNITS[unit];
    if (match === null || factor === undefined) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `cannot read size ${JSON.stringify(text)}: ` +
          "write a number and a unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), e.g. '4MiB'",
      );
    }
    bytes = Number(match[1]) * factor;
  }
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `a size must be a whole non-negative number of bytes, got ${JSON.stringify(text)}`,
    );
  }
  return bytes;
}

/**
 * A size as a config value is written: the largest binary unit, at most one decimal, no trailing
 * zeros ('4 MiB', '1.5 KiB', '512 B'), which parseBytes reads back (exactly, unless the decimal
 * was rounded). The CLI's human sizes, with three significant digits, are cli/format.ts's formatBytes.
 */
export function formatConfigBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

// ---------------------------------------------------------------------------------------------
// Schemas

/**
 * The config presets: the one definition every entry's `--preset` flag, the launcher and the
 * config builders use (read with parsePreset).
 */
export const PRESETS = ['production', 'test'] as const;
export type Preset = (typeof PRESETS)[number];
/** The preset of a process started without --preset. */
export const DEFAULT_PRESET: Preset = 'production';

type FieldKind = 'int' | 'duration' | 'bytes' | 'bytesList' | 'boolean' | 'choice';

interface FieldSpec {
  readonly kind: FieldKind;
  readonly min?: number;
  readonly max?: number;
  /** Must be a power of two (chunk sizes). */
  readonly powerOfTwo?: boolean;
  readonly optional?: boolean;
  /** The allowed values of a 'choice'. */
  readonly values?: readonly string[];
  readonly doc: string;
}

type Schema<T> = { readonly [K in keyof T]-?: FieldSpec };
/** The keys of a config whose values are integers. */
type IntegerKeys<T> = { [K in keyof T]-?: T[K] extends number ? K : never }[keyof T];

/** Configuration of the metadata service and cluster manager. */
export interface MetaConfig {
  /** Chain length (replicas per chain) of chain tables built automatically. */
  replicas: number;
  /** Build chain table 1 once this many storage nodes registered (0 = never automatically). */
  storageNodesExpected: number;
  /** Storage nodes heartbeat at this interval (told to them in the register response). */
  heartbeatIntervalMs: number;
  /** The lease storage nodes hold (keep equal to StorageConfig.nodeLeaseMs): a node is shown alive within it. */
  nodeLeaseMs: number;
  /**
   * A storage node that has not heartbeated for this long is declared failed: its targets go
   * offline and their chains are reconfigured. At least nodeLeaseMs, so a cut-off node has
   * stopped serving (after half its lease) before its chains move on. Production 10 s, test 2.5 s.
   */
  nodeFailureTimeoutMs: number;
  /** Interval of the garbage collector that removes chunks of deleted files. */
  gcIntervalMs: number;
  /** Inodes the collector handles per pass. */
  gcBatchSize: number;
  /** How long a stored result of a mutating request answers its retries. */
  idempotencyTtlMs: number;
  /** Most entries in one readdir page. */
  readDirPageMax: number;
  /** Most paths in one batch stat. */
  batchStatMax: number;
  /** Retries of a transaction that hit a serialization conflict. */
  txnRetriesMax: number;
  /** Chunk size of the root directory's layout. */
  chunkSizeDefaultBytes: number;
  /** Stripe width of the root directory's layout (capped at the chains in the table). */
  stripeWidthDefault: number;
  /** Timeout of meta's own calls to storage (GC removes, length recovery). */
  storageRpcTimeoutMs: number;
  /**
   * Time meta may spend on storage inside one client request: truncate's cut of the chunks past
   * the new length, Sync's length recovery. Past it the request fails with a retryable TIMEOUT
   * naming the inode, and the client's retry runs it again. Keep it below the clients'
   * rpcTimeoutMs (30 s in production, 5 s in the test preset), so meta has answered and stopped
   * its storage calls before a client gives up on the attempt and retries it alongside; at least
   * storageRpcTimeoutMs, so one storage call that answers in time fits. Production 20 s, test 3 s.
   */
  requestStorageBudgetMs: number;
}

/** Configuration of a storage node. */
export interface StorageConfig {
  /** Interval of heartbeats to the cluster manager. */
  heartbeatIntervalMs: number;
  /** The node stops serving when it cannot renew with the manager for half of this. */
  nodeLeaseMs: number;
  /** Interval of routing refresh when no heartbeat reported a new version. */
  routingRefreshIntervalMs: number;
  /** Targets (directories) created on first start. */
  targetsPerNode: number;
  /** Block sizes of the chunk engine's size-class files; undefined = derived from the chunk sizes. */
  sizeClassesBytes?: number[];
  /** Largest total of bytes answered by one BatchRead. */
  readBatchMaxBytes: number;
  /** Timeout of forwarding an update to the successor in the chain. */
  forwardTimeoutMs: number;
  /** Writes queued per target before new ones are refused as busy. */
  writeQueueMax: number;
  /** Chunks copied concurrently while resyncing a returning target. */
  resyncConcurrency: number;
  /** Fsync data and metadata before acknowledging a write (off only in throwaway test clusters). */
  fsync: boolean;
  /**
   * 'bulk': listen for bulk sessions (common/bulk) on `bulkPort` and forward chunk bytes down the
   * chain as bulk frames; 'grpc': chunk bytes only inside gRPC messages (no bulk listener).
   */
  dataTransport: DataTransport;
  /** Port of the bulk listener (0 = any free port); announced to the manager. */
  bulkPort: number;
  /** Memory for the values of recently read KV-cache pages (0 = none; docs/kvcache.md "Hot pages"). */
  kvHotPagesBytes: number;
  /** Writes needing new space are refused (NO_SPACE) past this percentage of a target's disk used. */
  fullPercent: number;
  /** Free bytes each target's disk always keeps (for metadata, deletes); docs/failures.md "Full disks". */
  reservedBytes: number;
  /** Rate at which the scrubber re-reads and checks every local chunk (0 = no scrubbing). */
  scrubBytesPerSec: number;
  /** Least time from the start of one scrub pass to the start of the next (as Ceph's deep-scrub interval). */
  scrubPassIntervalMs: number;
  // The bulk listener's limits (common/bulk/options.ts BulkLimits; docs/bulk-limits.md).
  /** Bulk connections the listener holds at once. */
  bulkSessionsMax: number;
  /** Bulk connections one remote address may hold at once. */
  bulkSessionsPerPeerMax: number;
  /** A bulk connection must send its hello within this. */
  bulkHelloTimeoutMs: number;
  /** A bulk session with no frame, request or receive this long is closed. */
  bulkIdleTimeoutMs: number;
  /** A bulk session inside a frame that gets no byte this long is closed. */
  bulkProgressTimeoutMs: number;
  /** Bytes of frames and requests one bulk session may hold for nobody. */
  bulkUnclaimedMaxBytes: number;
  /** The same summed over every bulk session of the node. */
  bulkNodeHeldMaxBytes: number;
}

/** Configuration of the client library. */
export interface ClientConfig {
  /** Timeout of one RPC attempt. */
  rpcTimeoutMs: number;
  /** Total time an operation keeps retrying retryable errors before giving up. */
  retryDeadlineMs: number;
  /** First backoff between retries (full jitter, doubling). */
  retryBackoffInitialMs: number;
  /** Largest backoff between retries. */
  retryBackoffMaxMs: number;
  /** Interval of routing refresh in the background. */
  routingRefreshIntervalMs: number;
  /** Chunk I/Os in flight per client. */
  ioConcurrencyMax: number;
  /** Largest total of bytes asked of one storage node in one BatchRead. */
  readBatchMaxBytes: number;
  /** Write channels (exactly-once sequences) per client. */
  writeChannelsMax: number;
  /** Readahead of sequential read streams. */
  readaheadBytes: number;
  /**
   * 'bulk': chunk bytes travel as bulk frames (common/bulk) to storage nodes that announce a bulk
   * address (gRPC for the others); 'grpc': always inside gRPC messages.
   */
  dataTransport: DataTransport;
}

const META_SCHEMA: Schema<MetaConfig> = {
  replicas: { kind: 'int', min: 1, max: 16, doc: 'replicas per chain' },
  storageNodesExpected: { kind: 'int', min: 0, max: 100_000, doc: 'storage nodes before the first chain table' },
  heartbeatIntervalMs: { kind: 'duration', min: 1, doc: 'heartbeat interval' },
  nodeLeaseMs: { kind: 'duration', min: 1, doc: 'node lease' },
  nodeFailureTimeoutMs: { kind: 'duration', min: 1, doc: 'node failure timeout' },
  gcIntervalMs: { kind: 'duration', min: 1, doc: 'gc interval' },
  gcBatchSize: { kind: 'int', min: 1, max: 100_000, doc: 'inodes per gc pass' },
  idempotencyTtlMs: { kind: 'duration', min: 1, doc: 'idempotency record lifetime' },
  readDirPageMax: { kind: 'int', min: 1, max: 100_000, doc: 'entries per readdir page' },
  batchStatMax: { kind: 'int', min: 1, max: 100_000, doc: 'paths per batch stat' },
  txnRetriesMax: { kind: 'int', min: 0, max: 1_000, doc: 'transaction retries' },
  chunkSizeDefaultBytes: {
    kind: 'bytes',
    min: CHUNK_SIZE_MIN_BYTES,
    max: CHUNK_SIZE_MAX_BYTES,
    powerOfTwo: true,
    doc: 'default chunk size',
  },
  stripeWidthDefault: { kind: 'int', min: 1, max: STRIPE_WIDTH_MAX, doc: 'default stripe width' },
  storageRpcTimeoutMs: { kind: 'duration', min: 1, doc: 'storage rpc timeout' },
  requestStorageBudgetMs: { kind: 'duration', min: 1, doc: 'storage time within a client request' },
};

const STORAGE_SCHEMA: Schema<StorageConfig> = {
  heartbeatIntervalMs: { kind: 'duration', min: 1, doc: 'heartbeat interval' },
  nodeLeaseMs: { kind: 'duration', min: 1, doc: 'node lease' },
  routingRefreshIntervalMs: { kind: 'duration', min: 1, doc: 'routing refresh interval' },
  targetsPerNode: { kind: 'int', min: 1, max: 999, doc: 'targets per node' },
  sizeClassesBytes: { kind: 'bytesList', min: 512, max: CHUNK_SIZE_MAX_BYTES, optional: true, doc: 'size classes' },
  readBatchMaxBytes: { kind: 'bytes', min: 4096, max: RPC_MESSAGE_MAX_BYTES, doc: 'bytes per batch read' },
  forwardTimeoutMs: { kind: 'duration', min: 1, doc: 'forward timeout' },
  writeQueueMax: { kind: 'int', min: 1, max: 1_000_000, doc: 'queued writes per target' },
  resyncConcurrency: { kind: 'int', min: 1, max: 1_024, doc: 'resync concurrency' },
  fsync: { kind: 'boolean', doc: 'fsync before ack' },
  dataTransport: { kind: 'choice', values: DATA_TRANSPORTS, doc: 'data transport' },
  bulkPort: { kind: 'int', min: 0, max: 65_535, doc: 'bulk listener port' },
  kvHotPagesBytes: { kind: 'bytes', min: 0, max: 2 ** 40, doc: 'KV-cache hot page memory' },
  fullPercent: { kind: 'int', min: 1, max: 100, doc: 'used percentage of a disk past which writes are refused' },
  reservedBytes: { kind: 'bytes', min: 0, max: 2 ** 50, doc: 'free bytes each target disk keeps' },
  scrubBytesPerSec: { kind: 'bytes', min: 0, max: 2 ** 40, doc: 'scrubber rate in bytes per second' },
  scrubPassIntervalMs: { kind: 'duration', min: 0, doc: 'least time between the starts of two scrub passes' },
  bulkSessionsMax: { kind: 'int', min: 1, max: 1_000_000, doc: 'bulk connections per node' },
  bulkSessionsPerPeerMax: { kind: 'int', min: 1, max: 1_000_000, doc: 'bulk connections per remote address' },
  bulkHelloTimeoutMs: { kind: 'duration', min: 1, doc: 'bulk hello timeout' },
  bulkIdleTimeoutMs: { kind: 'duration', min: 1, doc: 'bulk idle session timeout' },
  bulkProgressTimeoutMs: { kind: 'duration', min: 1, doc: 'bulk frame progress timeout' },
  bulkUnclaimedMaxBytes: { kind: 'bytes', min: 0, max: 2 ** 40, doc: 'bytes one bulk session may hold' },
  bulkNodeHeldMaxBytes: { kind: 'bytes', min: 1, max: 2 ** 40, doc: 'bytes all bulk sessions may hold' },
};

const CLIENT_SCHEMA: Schema<ClientConfig> = {
  rpcTimeoutMs: { kind: 'duration', min: 1, doc: 'rpc timeout' },
  retryDeadlineMs: { kind: 'duration', min: 0, doc: 'retry deadline' },
  retryBackoffInitialMs: { kind: 'duration', min: 0, doc: 'initial backoff' },
  retryBackoffMaxMs: { kind: 'duration', min: 0, doc: 'largest backoff' },
  routingRefreshIntervalMs: { kind: 'duration', min: 1, doc: 'routing refresh interval' },
  ioConcurrencyMax: { kind: 'int', min: 1, max: 4_096, doc: 'chunk I/Os in flight' },
  readBatchMaxBytes: { kind: 'bytes', min: 4096, max: RPC_MESSAGE_MAX_BYTES, doc: 'bytes per batch read' },
  writeChannelsMax: { kind: 'int', min: 1, max: 4_096, doc: 'write channels' },
  readaheadBytes: { kind: 'bytes', min: 0, max: 1024 * 2 ** 20, doc: 'readahead' },
  dataTransport: { kind: 'choice', values: DATA_TRANSPORTS, doc: 'data transport' },
};

const META_PRESETS: Record<Preset, MetaConfig> = {
  production: {
    replicas: 3,
    storageNodesExpected: 0,
    heartbeatIntervalMs: 1_000,
    nodeLeaseMs: 10_000,
    nodeFailureTimeoutMs: 10_000,
    gcIntervalMs: 5_000,
    gcBatchSize: 256,
    idempotencyTtlMs: 10 * 60_000,
    readDirPageMax: 8_192,
    batchStatMax: 1_024,
    txnRetriesMax: 16,
    chunkSizeDefaultBytes: CHUNK_SIZE_DEFAULT_BYTES,
    stripeWidthDefault: 16,
    storageRpcTimeoutMs: 10_000,
    requestStorageBudgetMs: 20_000,
  },
  test: {
    replicas: 3,
    storageNodesExpected: 0,
    heartbeatIntervalMs: 100,
    // Loaded 2-core CI: event-loop stalls up to ~1.2 s were measured (docs/failures.md, "Lease
    // under load"); a node stops serving 1.25 s after its last renewal, the manager moves its
    // chains 2.5 s after the last heartbeat it received.
    nodeLeaseMs: 2_500,
    nodeFailureTimeoutMs: 2_500,
    gcIntervalMs: 200,
    gcBatchSize: 4,
    idempotencyTtlMs: 30_000,
    readDirPageMax: 8,
    batchStatMax: 16,
    txnRetriesMax: 8,
    chunkSizeDefaultBytes: CHUNK_SIZE_MIN_BYTES,
    stripeWidthDefault: 4,
    storageRpcTimeoutMs: 2_000,
    requestStorageBudgetMs: 3_000,
  },
};

const STORAGE_PRESETS: Record<Preset, StorageConfig> = {
  production: {
    heartbeatIntervalMs: 1_000,
    nodeLeaseMs: 10_000,
    routingRefreshIntervalMs: 5_000,
    targetsPerNode: 3,
    readBatchMaxBytes: 64 * 2 ** 20,
    forwardTimeoutMs: 10_000,
    writeQueueMax: 1_024,
    resyncConcurrency: 8,
    fsync: true,
    dataTransport: 'bulk',
    bulkPort: 0,
    kvHotPagesBytes: 2 ** 30,
    fullPercent: 95,
    reservedBytes: 256 * 2 ** 20,
    scrubBytesPerSec: 32 * 2 ** 20,
    // A day: every chunk is checked daily while the disk time it takes stays small.
    scrubPassIntervalMs: 24 * 3_600_000,
    bulkSessionsMax: BULK_SESSIONS_MAX_DEFAULT,
    bulkSessionsPerPeerMax: BULK_SESSIONS_PER_PEER_MAX_DEFAULT,
    bulkHelloTimeoutMs: BULK_HELLO_TIMEOUT_DEFAULT_MS,
    bulkIdleTimeoutMs: BULK_IDLE_TIMEOUT_DEFAULT_MS,
    bulkProgressTimeoutMs: BULK_PROGRESS_TIMEOUT_DEFAULT_MS,
    bulkUnclaimedMaxBytes: BULK_UNCLAIMED_MAX_DEFAULT_BYTES,
    bulkNodeHeldMaxBytes: BULK_NODE_HELD_MAX_DEFAULT_BYTES,
  },
  test: {
    heartbeatIntervalMs: 100,
    // Equal to the meta test preset's (see there).
    nodeLeaseMs: 2_500,
    routingRefreshIntervalMs: 200,
    targetsPerNode: 3,
    readBatchMaxBytes: 256 * 1024,
    forwardTimeoutMs: 2_000,
    writeQueueMax: 64,
    resyncConcurrency: 2,
    fsync: true,
    dataTransport: 'bulk',
    bulkPort: 0,
    kvHotPagesBytes: 64 * 2 ** 20,
    fullPercent: 95,
    reservedBytes: 2 * 2 ** 20,
    scrubBytesPerSec: 2 ** 20,
    scrubPassIntervalMs: 1_000,
    bulkSessionsMax: BULK_SESSIONS_MAX_DEFAULT,
    bulkSessionsPerPeerMax: BULK_SESSIONS_PER_PEER_MAX_DEFAULT,
    bulkHelloTimeoutMs: BULK_HELLO_TIMEOUT_DEFAULT_MS,
    bulkIdleTimeoutMs: BULK_IDLE_TIMEOUT_DEFAULT_MS,
    bulkProgressTimeoutMs: BULK_PROGRESS_TIMEOUT_DEFAULT_MS,
    bulkUnclaimedMaxBytes: BULK_UNCLAIMED_MAX_DEFAULT_BYTES,
    bulkNodeHeldMaxBytes: BULK_NODE_HELD_MAX_DEFAULT_BYTES,
  },
};

const CLIENT_PRESETS: Record<Preset, ClientConfig> = {
  production: {
    rpcTimeoutMs: 30_000,
    retryDeadlineMs: 60_000,
    retryBackoffInitialMs: 50,
    retryBackoffMaxMs: 2_000,
    routingRefreshIntervalMs: 5_000,
    ioConcurrencyMax: 64,
    readBatchMaxBytes: 16 * 2 ** 20,
    writeChannelsMax: 64,
    readaheadBytes: 16 * 2 ** 20,
    dataTransport: 'bulk',
  },
  test: {
    rpcTimeoutMs: 5_000,
    retryDeadlineMs: 10_000,
    retryBackoffInitialMs: 10,
    retryBackoffMaxMs: 200,
    routingRefreshIntervalMs: 200,
    ioConcurrencyMax: 8,
    readBatchMaxBytes: 256 * 1024,
    writeChannelsMax: 4,
    readaheadBytes: 256 * 1024,
    dataTransport: 'bulk',
  },
};

/** Overrides: the config's own fields, with durations and sizes also as human strings. */
export type ConfigOverrides<T> = { readonly [K in keyof T]?: T[K] | string | ReadonlyArray<number | string> | null };

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function parseField(spec: FieldSpec, value: unknown): unknown {
  const range = (n: number, what: string): number => {
    if (spec.min !== undefined && n < spec.min) throw new Error(`${what} ${n} is below the minimum ${spec.min}`);
    if (spec.max !== undefined && n > spec.max) throw new Error(`${what} ${n} is above the maximum ${spec.max}`);
    if (spec.powerOfTwo && (n <= 0 || (n & (n - 1)) !== 0 || n > 2 ** 30))
      throw new Error(`${what} ${n} is not a power of two`);
    return n;
  };
  const bytes = (v: unknown): number => {
    if (typeof v !== 'number' && typeof v !== 'string')
      throw new Error(`expected a size like '4MiB', got ${describe(v)}`);
    return range(parseBytes(v), 'size');
  };
  switch (spec.kind) {
    case 'int': {
      const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isSafeInteger(n))
        throw new Error(`expected an integer, got ${describe(value)}`);
      return range(n, 'value');
    }
    case 'duration':
      if (typeof value !== 'number' && typeof value !== 'string')
        throw new Error(`expected a duration like '1s', got ${describe(value)}`);
      return range(parseDuration(value), 'duration (ms)');
    case 'bytes':
      return bytes(value);
    case 'bytesList': {
      if (!Array.isArray(value) || value.length === 0)
        throw new Error(`expected a non-empty list of sizes, got ${describe(value)}`);
      const list = value.map(bytes);
      for (let i = 1; i < list.length; i++) {
        if (list[i]! <= list[i - 1]!) throw new Error('sizes must be strictly increasing');
      }
      return list;
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw new Error(`expected true or false, got ${describe(value)}`);
      return value;
    case 'choice': {
      const values = spec.values ?? [];
      if (typeof value !== 'string' || !values.includes(value))
        throw new Error(`expected one of ${values.join(', ')}, got ${describe(value)}`);
      return value;
    }
  }
}

function buildConfig<T extends object>(
  what: string,
  schema: Schema<T>,
  presets: Record<Preset, T>,
  preset: Preset,
  overrides: object | undefined,
): T {
  const problems: string[] = [];
  const base = presets[parsePreset(preset, `${what} config`)];
  const result: Record<string, unknown> = structuredClone(base) as Record<string, unknown>;
  if (overrides !== undefined && (overrides === null || typeof overrides !== 'object' || Array.isArray(overrides))) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `${what} config: overrides must be an object, got ${describe(overrides)}`,
    );
  }
  const specs = schema as Record<string, FieldSpec>;
  for (const [key, value] of Object.entries(overrides ?? {})) {
    const spec = Object.hasOwn(specs, key) ? specs[key] : undefined;
    if (spec === undefined) {
      problems.push(`${key}: unknown key (known keys: ${Object.keys(specs).join(', ')})`);
      continue;
    }
    if (value === undefined || (value === null && spec.optional)) {
      if (spec.optional) delete result[key];
      continue;
    }
    try {
      result[key] = parseField(spec, value);
    } catch (err) {
      problems.push(`${key}: ${(err as Error).message}`);
    }
  }
  crossCheck(what, result, problems);
  if (problems.length > 0) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `${what} config has ${problems.length} invalid key${problems.length === 1 ? '' : 's'}:\n  ` +
        problems.join('\n  '),
    );
  }
  return Object.freeze(result) as T;
}

/** Relations between fields, reported like single-key problems. */
function crossCheck(what: string, config: Record<string, unknown>, problems: string[]): void {
  const n = (key: string) => config[key] as number;
  if ('nodeLeaseMs' in config && 'heartbeatIntervalMs' in config && n('nodeLeaseMs') < 2 * n('heartbeatIntervalMs')) {
    problems.push(
      `nodeLeaseMs: ${n('nodeLeaseMs')} must be at least twice heartbeatIntervalMs (${n('heartbeatIntervalMs')})`,
    );
  }
  if ('nodeFailureTimeoutMs' in config && n('nodeFailureTimeoutMs') < n('nodeLeaseMs')) {
    problems.push(
      `nodeFailureTimeoutMs: ${n('nodeFailureTimeoutMs')} must be at least nodeLeaseMs (${n('nodeLeaseMs')}): ` +
        'a node must stop serving before its chains move on',
    );
  }
  if ('requestStorageBudgetMs' in config && n('requestStorageBudgetMs') < n('storageRpcTimeoutMs')) {
    problems.push(
      `requestStorageBudgetMs: ${n('requestStorageBudgetMs')} must be at least storageRpcTimeoutMs ` +
        `(${n('storageRpcTimeoutMs')}): a storage call that answers in time must fit in it`,
    );
  }
  if (what === 'client' && n('retryBackoffMaxMs') < n('retryBackoffInitialMs')) {
    problems.push(
      `retryBackoffMaxMs: ${n('retryBackoffMaxMs')} is below retryBackoffInitialMs (${n('retryBackoffInitialMs')})`,
    );
  }
}

export function metaConfig(
  preset: Preset = 'production',
  overrides?: ConfigOverrides<MetaConfig> | Record<string, unknown>,
): MetaConfig {
  return buildConfig('meta', META_SCHEMA, META_PRESETS, preset, overrides);
}

export function storageConfig(
  preset: Preset = 'production',
  overrides?: ConfigOverrides<StorageConfig> | Record<string, unknown>,
): StorageConfig {
  return buildConfig('storage', STORAGE_SCHEMA, STORAGE_PRESETS, preset, overrides);
}

export function clientConfig(
  preset: Preset = 'production',
  overrides?: ConfigOverrides<ClientConfig> | Record<string, unknown>,
): ClientConfig {
  return buildConfig('client', CLIENT_SCHEMA, CLIENT_PRESETS, preset, overrides);
}

/** Whether `value` names a preset. */
function isPreset(value: unknown): value is Preset {
  return (PRESETS as readonly unknown[]).includes(value);
}

/**
 * Reads a preset name: the one parser behind every `--preset` flag (spindle CLI, meta/main.ts,
 * storage/main.ts) and the config builders. undefined means DEFAULT_PRESET; anything that is not
 * a preset is a CONFIG_INVALID error naming `source` (the flag, or the config being built).
 */
export function parsePreset(value: unknown, source = '--preset'): Preset {
  if (value === undefined) return DEFAULT_PRESET;
  if (isPreset(value)) return value;
  throw new SpindleError(
    ErrorCode.CONFIG_INVALID,
    `${source}: unknown preset ${describe(value)} (use ${PRESETS.join(' or ')})`,
  );
}

/** The integer range a config key accepts: what a flag that sets the key must accept too. */
export function configIntegerRange(section: 'meta', key: IntegerKeys<MetaConfig>): IntegerRange;
export function configIntegerRange(section: 'storage', key: IntegerKeys<StorageConfig>): IntegerRange;
export function configIntegerRange(section: 'meta' | 'storage', key: string): IntegerRange {
  const schema = (section === 'meta' ? META_SCHEMA : STORAGE_SCHEMA) as Record<string, FieldSpec>;
  const spec = schema[key];
  assert(spec?.kind === 'int', `${section} config key ${key} is not an integer`);
  return { min: spec.min ?? 0, max: spec.max };
}

/** The contents of a JSON config file: one optional section per process kind. */
export interface ConfigFile {
  meta?: Record<string, unknown>;
  storage?: Record<string, unknown>;
  client?: Record<string, unknown>;
}

const CONFIG_SECTIONS = ['meta', 'storage', 'client'] as const;

/**
 * Reads a JSON config file of the form { "meta": {…}, "storage": {…}, "client": {…} } (each
 * section optional). Checks its shape (unknown sections listed); the keys inside a section are
 * validated when the section is passed to metaConfig/storageConfig/clientConfig.
 */
export function loadConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `cannot read config file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `config file ${path} is not valid JSON: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return validateConfigFile(parsed, path);
}

/** Checks the shape of a parsed config file (see loadConfigFile). */
function validateConfigFile(parsed: unknown, source = 'config'): ConfigFile {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `${source}: expected a JSON object with sections ${CONFIG_SECTIONS.join(', ')}`,
    );
  }
  const problems: string[] = [];
  for (const [key, value] of Object.entries(parsed)) {
    if (!(CONFIG_SECTIONS as readonly string[]).includes(key)) {
      problems.push(`${key}: unknown section (sections: ${CONFIG_SECTIONS.join(', ')}; keys go inside a section)`);
    } else if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${key}: expected an object, got ${describe(value)}`);
    }
  }
  if (problems.length > 0) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `${source} has ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
    );
  }
  return parsed as ConfigFile;
}
