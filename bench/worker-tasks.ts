// The tasks a bench worker process (bench/worker.ts) can run, and what it reports back.
// Sizes are bytes; `meta` is the host:port of the cluster's meta service.

import type { DataTransport } from '../common/bulk/transport.js';
import type { CheckpointTask } from './checkpoint-tasks.js';
import type { KvcacheTask } from './kvcache-tasks.js';
import type { LoaderTask } from './loader-tasks.js';
import type { ScaleTask } from './scale-tasks.js';

export type WorkerTask =
  | { kind: 'tcp-sink' }
  | { kind: 'tcp-source'; port: number; bytes: number; writeBytes: number }
  | { kind: 'h2-server'; writeBytes: number }
  | { kind: 'h2-client'; port: number; bytes: number }
  | {
      kind: 'fs-read';
      dir: string;
      fileBytes: number;
      blockBytes: number;
      passes: number;
      randomSizes?: number[];
      randomSeconds: number;
    }
  | { kind: 'fsync'; dir: string; count: number; writeBytes: number }
  | { kind: 'fs-meta'; dir: string; count: number; readdirs: number }
  | { kind: 'seq-write'; meta: string; path: string; offset: number; bytes: number; blockBytes: number; depth: number }
  | {
      kind: 'seq-read';
      meta: string;
      path: string;
      offset: number;
      bytes: number;
      blockBytes: number;
      depth: number;
      /**
       * The file was written by seq-write workers in blocks of this size (each the same pattern): every
       * read is checked against it (bench/read-check.ts). Unset: the bytes are not known (not checked).
       */
      patternBytes?: number;
      /** Reads the range this many times over (default 1): bytes moved grow, the file does not. */
      passes?: number;
    }
  | {
      kind: 'rand-read';
      meta: string;
      path: string;
      fileBytes: number;
      blockBytes: number;
      depth: number;
      seconds: number;
      /** As in seq-read. */
      patternBytes?: number;
    }
  | { kind: 'meta-ops'; meta: string; dir: string; count: number; readdirs: number; depth: number }
  | { kind: 'grpc-echo-server' }
  | { kind: 'grpc-echo-client'; port: number; count: number }
  | LoaderTask
  | ScaleTask
  | CheckpointTask
  | KvcacheTask;

/** Client config overrides a worker's SpindleClient connects with (e.g. the data transport). */
type WorkerClientConfig = { dataTransport?: DataTransport };

/** A task as sent to a worker: the task plus the run's client settings. */
export type WorkerJob = WorkerTask & { client?: WorkerClientConfig };

/** One timed operation kind inside a worker. */
export interface OpResult {
  name: string;
  ops: number;
  bytes: number;
  seconds: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** CPU time (user + system) the worker process spent on the measured part, when measured. */
  cpuSeconds?: number;
}

export interface WorkerResult {
  ops: OpResult[];
}
