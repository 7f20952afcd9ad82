// Shared types of the benchmark suite (`spindle bench`): the options every suite takes and the
// JSON row every measurement produces. A row is self-describing: it carries the machine it ran
// on and the allocator settings of the processes that produced it, so rows from different runs
// can be compared without the command line that made them.

import type { MallocMode } from '../cluster/index.js';
import type { DataTransport } from '../common/bulk/transport.js';

export const SUITES = [
  'limits',
  'seq-read',
  'seq-write',
  'cli',
  'rand-read',
  'meta',
  'mount',
  'loader',
  'checkpoint',
  'kvcache',
  'auth',
  'scale',
  'scrub',
] as const;
export type SuiteName = (typeof SUITES)[number];

/** What `all` runs: every suite but `scale`, whose full run populates a namespace of 1 M files (≈ 30 min). */
export const ALL_SUITES: readonly SuiteName[] = SUITES.filter((name) => name !== 'scale');

export interface BenchOptions {
  /** Suites to run, in order (`all` expands to every suite). */
  suites: SuiteName[];
  /** Smaller sizes and fewer configurations: `all --quick` stays under 5 minutes on 2 cores. */
  quick: boolean;
  /** Use this cluster (host:port of meta) instead of starting one per suite. */
  meta?: string;
  /** Write the rows as a JSON array to this file. */
  json?: string;
  /** Write <name>.json, <name>.md and <name>.svg into this directory. */
  out?: string;
  /** Write V8 CPU profiles of load generators and servers into this directory. */
  cpuProf?: string;
  /** Replica counts for the write/read suites (default 1 and 3; with --meta: the cluster's). */
  replicas: number[];
  /** Client counts for the sequential suites (default 1 and 4). */
  clients: number[];
  /** rand-read: only these queue depths (default: the suite's own list). */
  depths?: number[];
  /** rand-read: only these read sizes in bytes (default 4 KiB, 64 KiB and 1 MiB). */
  blocks?: number[];
  /** No progress line on stderr. */
  silent: boolean;
  /** Where chunk bytes travel between clients and storage nodes (default 'bulk'). */
  transport: DataTransport;
  /** glibc malloc settings of every process of the run (default 'tuned'). */
  malloc: MallocMode;
  /** Metadata stores the meta suite measures, side by side (default lmdb only). */
  kv: Array<'lmdb' | 'etcd'>;
  /** Namespace sizes (files) the scale suite measures metadata at (default 5k, 100k, 1M; quick 5k, 20k). */
  files?: number[];
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  node: string;
  hostname: string;
}

/** MiB: resident memory of a process (suite scale), 2^20 bytes. */
export type Unit = 'GB/s' | 'ops/s' | 'IOPS' | 'samples/s' | 'MiB';

export interface BenchRow {
  suite: SuiteName;
  /** Short name of the measurement, unique within its suite (e.g. `read.4k.qd32`). */
  case: string;
  /** What was measured, as key/value pairs (sizes, clients, replicas, queue depth …). */
  config: Record<string, string | number | boolean>;
  /** The figure: GB/s = 10^9 bytes/s. */
  throughput: number;
  unit: Unit;
  /** Per-operation latency percentiles in milliseconds (null when not measured per op). */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Bytes moved (0 for metadata operations). */
  bytes: number;
  /** Operations measured. */
  ops: number;
  /** Wall time of the measured part. */
  seconds: number;
  /** throughput ÷ the raw limit named by limitName, measured in the same run (null for limits). */
  ratio: number | null;
  limitName: string | null;
  limitValue: number | null;
  /** glibc malloc environment of the processes that produced the row. */
  allocator: Record<string, string>;
  machine: MachineInfo;
  /** ISO time the row was measured. */
  at: string;
  /** 1-minute load average when the row was recorded: above the core count, others shared the CPUs. */
  load1: number;
  notes?: string;
}
