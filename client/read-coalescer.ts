// Coalesces concurrent small reads per storage node into few BatchReads (issue 4): every read
// submitted for a node waits at most until the end of the current event-loop turn, and while that
// node already has `batchesPerNodeMax` batches in flight the reads queue and leave together in the
// next batch. Reads of unrelated callers share one call; each keeps its own result, because the
// sender fills per-entry state and the coalescer only says when the batch that carried it ended.
//
// Why: one unary gRPC call costs the client (and the node) far more CPU than one 4 KiB range in a
// call; with 32 reads in flight over 3 nodes, one call per read made the client CPU bound at a few
// hundred IOPS (docs/performance.md, "What bounds each figure").
//
// Guarantees:
// - A batch holds at most `itemsMax` entries and at most the node's byte budget (one entry larger
//   than the budget goes alone: the caller splits by budget before submitting).
// - Entries of at least `aloneMinBytes` skip the queue: coalescing saves nothing there, and
//   queueing them behind a node's small batches would only add latency.
// - Each dispatched batch holds one permit of `slots` (the client's I/O concurrency) while it runs.
// - An entry whose caller aborts leaves the queue at once (CANCELLED); one already in flight is
//   marked `abandoned` (the sender must then not touch the caller's memory) and the batch is
//   cancelled when every entry in it was abandoned.
// - Nothing is kept for a node with no queued and no in-flight batch (bounded memory).
import { ErrorCode, SpindleError } from '../common/errors.js';
import type { Semaphore } from './semaphore.js';

/** What the coalescer needs of an entry. */
export interface CoalescedEntry {
  /** Bytes the entry asks for (counts against the batch's byte budget). */
  readonly bytes: number;
  /** Set when its caller gave up while the entry was in flight: the sender must not use its target. */
  abandoned: boolean;
  /** Called (if set by the sender) when the entry is abandoned in flight. */
  onAbandoned?: () => void;
}

export interface ReadCoalescerOptions<E extends CoalescedEntry> {
  /**
   * Sends one batch to `address`. Sets each entry's outcome in the entry itself (per-item status)
   * and resolves; a rejection fails every entry of the batch with that error.
   */
  send: (address: string, entries: E[], signal: AbortSignal) => Promise<void>;
  /** Bytes one batch to `address` may ask for. */
  budgetBytes: (address: string) => number;
  /** Most entries in one batch. */
  itemsMax: number;
  /** Batches of small entries in flight per node before new ones queue. */
  batchesPerNodeMax: number;
  /** Entries this large or larger are sent at once, alone. */
  aloneMinBytes: number;
  /** One permit per batch in flight (shared with the client's other chunk I/O). */
  slots: Semaphore;
  /** Aborts every batch (client close). */
  signal: AbortSignal;
  /** Runs the end-of-turn flush (default setImmediate); tests may pass their own. */
  schedule?: (flush: () => void) => void;
}

interface Waiting<E> {
  readonly entry: E;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  batch: Batch<E> | undefined;
  settled: boolean;
}

interface Batch<E> {
  readonly waiting: Array<Waiting<E>>;
  readonly controller: AbortController;
}

interface NodeQueue<E> {
  queue: Array<Waiting<E>>;
  /** Batches of small entries in flight. */
  inflight: number;
  /** Large entries in flight (not limited here; the slots bound them). */
  alone: number;
  scheduled: boolean;
}

export class ReadCoalescer<E extends CoalescedEntry> {
  private readonly nodes = new Map<string, NodeQueue<E>>();
  private readonly schedule: (flush: () => void) => void;
  /** Batches sent so far and entries they carried (for tests and metrics). */
  batchesSent = 0;
  entriesSent = 0;

  constructor(private readonly options: ReadCoalescerOptions<E>) {
    if (!(options.itemsMax >= 1 && options.batchesPerNodeMax >= 1)) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        'a read coalescer needs itemsMax and batchesPerNodeMax of at least 1',
      );
    }
    this.schedule = options.schedule ?? ((flush) => setImmediate(flush));
  }

  /** Entries waiting to be sent, over all nodes. */
  get queued(): number {
    let count = 0;
    for (const node of this.nodes.values()) count += node.queue.length;
    return count;
  }

  /**
   * Sends `entry` to `address` in some batch; resolves when that batch ended (the entry then
   * holds its outcome), rejects with CANCELLED when `signal` aborts first or the coalescer's
   * signal aborted before the batch was sent.
   */
  submit(address: string, entry: E, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || this.options.signal.aborted) {
      return Promise.reject(new SpindleError(ErrorCode.CANCELLED, 'read cancelled before it was sent'));
    }
    return new Promise<void>((resolve, reject) => {
      const waiting: Waiting<E> = {
        entry,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        batch: undefined,
        settled: false,
      };
      let node = this.nodes.get(address);
      if (node === undefined) {
        node = { queue: [], inflight: 0, alone: 0, scheduled: false };
        this.nodes.set(address, node);
      }
      if (signal !== undefined) {
        const current = node;
        waiting.onAbort = () => this.abandon(address, current, waiting);
        signal.addEventListener('abort', waiting.onAbort, { once: true });
      }
      if (entry.bytes >= this.options.aloneMinBytes) {
        node.alone++;
        void this.run(address, node, [waiting], true);
        return;
      }
      node.queue.push(waiting);
      if (!node.scheduled) {
        node.scheduled = true;
        const current = node;
        this.schedule(() => {
          current.scheduled = false;
          this.flush(address, current);
        });
      }
    });
  }

  /** Starts batches from the node's queue while it has room. */
  private flush(address: string, node: NodeQueue<E>): void {
    while (node.queue.length > 0 && node.inflight < this.options.batchesPerNodeMax) {
      const budget = this.options.budgetBytes(address);
      const batch: Array<Waiting<E>> = [node.queue.shift()!];
      let bytes = batch[0]!.entry.bytes;
      while (
        node.queue.length > 0 &&
        batch.length < this.options.itemsMax &&
        bytes + node.queue[0]!.entry.bytes <= budget
      ) {
        const next = node.queue.shift()!;
        bytes += next.entry.bytes;
        batch.push(next);
      }
      node.inflight++;
      void this.run(address, node, batch, false);
    }
    this.forgetIfIdle(address, node);
  }

  private async run(address: string, node: NodeQueue<E>, waiting: Array<Waiting<E>>, alone: boolean): Promise<void> {
    const batch: Batch<E> = { waiting, controller: new AbortController() };
    for (const w of waiting) w.batch = batch;
    const onClose = () => batch.controller.abort();
    this.options.signal.addEventListener('abort', onClose, { once: true });
    let failure: Error | undefined;
    try {
      const release = await this.options.slots.acquire(batch.controller.signal);
      try {
        const live = waiting.filter((w) => !w.settled);
        if (live.length > 0) {
          this.batchesSent++;
          this.entriesSent += live.length;
          await this.options.send(
            address,
            live.map((w) => w.entry),
            batch.controller.signal,
          );
        }
      } finally {
        release();
      }
    } catch (err) {
      failure = err instanceof Error ? err : new SpindleError(ErrorCode.INTERNAL, String(err));
    } finally {
      this.options.signal.removeEventListener('abort', onClose);
      if (alone) node.alone--;
      else node.inflight--;
    }
    for (const w of waiting) {
      if (w.settled) continue;
      this.settle(w);
      if (failure !== undefined) w.reject(failure);
      else w.resolve();
    }
    if (node.queue.length > 0 && !node.scheduled) this.flush(address, node);
    else this.forgetIfIdle(address, node);
  }

  /** The caller of `w` aborted: drop it from the queue, or abandon it in its batch. */
  private abandon(address: string, node: NodeQueue<E>, w: Waiting<E>): void {
    if (w.settled) return;
    this.settle(w);
    if (w.batch === undefined) {
      const at = node.queue.indexOf(w);
      if (at >= 0) node.queue.splice(at, 1);
      this.forgetIfIdle(address, node);
    } else {
      w.entry.abandoned = true;
      w.entry.onAbandoned?.();
      if (w.batch.waiting.every((other) => other.settled)) w.batch.controller.abort();
    }
    w.reject(new SpindleError(ErrorCode.CANCELLED, 'read cancelled', { cause: w.signal?.reason }));
  }

  private settle(w: Waiting<E>): void {
    w.settled = true;
    if (w.onAbort !== undefined) w.signal?.removeEventListener('abort', w.onAbort);
  }

  private forgetIfIdle(address: string, node: NodeQueue<E>): void {
    if (
      node.queue.length === 0 &&
      node.inflight === 0 &&
      node.alone === 0 &&
      !node.scheduled &&
      this.nodes.get(address) === node
    ) {
      this.nodes.delete(address);
    }
  }
}
