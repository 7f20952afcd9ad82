// The simulator's only source of time, order and randomness: a seeded event queue.
//
// Guarantees: events run one at a time in (time, insertion) order; after each event every
// promise continuation it caused runs to completion (a macrotask turn) before the next event, so
// the real async code under test interleaves only where it awaits something the simulator
// scheduled (a network hop, a disk operation, a sleep). All randomness comes from createRng(seed)
// (common/clock.ts), so one seed is one execution, on every machine. No real timers or sockets.
import { createRng, type Clock, type Rng } from '../../common/clock.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';

interface SimEvent {
  atUs: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

export class SimScheduler {
  readonly rng: Rng;
  private nowUsValue = 0;
  private order = 0;
  private readonly heap: SimEvent[] = [];
  /** Strictly increasing stamp for "happened before" between observations inside one event. */
  private stampValue = 0;
  /** Events run so far (for the determinism digest and runaway detection). */
  eventsRun = 0;

  constructor(readonly seed: number) {
    this.rng = createRng(seed);
  }

  nowMs(): number {
    return this.nowUsValue / 1000;
  }

  nowUs(): number {
    return this.nowUsValue;
  }

  /** A fresh strictly increasing stamp: orders observations across the whole run. */
  stamp(): number {
    return ++this.stampValue;
  }

  /** Runs `fn` after `delayMs` of simulated time; returns a cancel function. */
  after(delayMs: number, fn: () => void): () => void {
    const event: SimEvent = {
      atUs: this.nowUsValue + Math.max(0, Math.round(delayMs * 1000)),
      order: this.order++,
      fn,
      cancelled: false,
    };
    this.push(event);
    return () => {
      event.cancelled = true;
    };
  }

  /** A uniform float in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.rng.nextFloat();
  }

  chance(p: number): boolean {
    return p > 0 && this.rng.nextFloat() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.rng.nextInt(items.length)]!;
  }

  /**
   * A Clock on simulated time. `alive` gates wake-ups: a sleeper whose owner died (a crashed
   * node's incarnation) never wakes, as its process is gone.
   */
  clock(alive: () => boolean = () => true): Clock {
    return {
      nowMs: () => Math.floor(this.nowUsValue / 1000),
      nowUs: () => this.nowUsValue,
      sleep: (ms: number, signal?: AbortSignal) =>
        new Promise<void>((resolve, reject) => {
          if (signal?.aborted) {
            reject(new SpindleError(ErrorCode.CANCELLED, 'sleep cancelled'));
            return;
          }
          const onAbort = () => {
            cancel();
            reject(new SpindleError(ErrorCode.CANCELLED, 'sleep cancelled'));
          };
          const cancel = this.after(ms, () => {
            signal?.removeEventListener('abort', onAbort);
            if (alive()) resolve();
          });
          signal?.addEventListener('abort', onAbort, { once: true });
        }),
    };
  }

  /** A promise resolved after `ms` of simulated time (never, if `alive` is false by then). */
  delay(ms: number, alive: () => boolean = () => true): Promise<void> {
    return new Promise((resolve) => {
      this.after(ms, () => {
        if (alive()) resolve();
      });
    });
  }

  /**
   * Runs events until `done()` holds after an event, the queue is empty, or simulated time passes
   * `untilMs`. Returns whether `done()` held.
   */
  async run(untilMs: number, done: () => boolean = () => false): Promise<boolean> {
    for (;;) {
      if (done()) return true;
      const event = this.pop();
      if (event === undefined) return done();
      if (event.atUs > untilMs * 1000) {
        this.push(event);
        this.nowUsValue = Math.max(this.nowUsValue, untilMs * 1000);
        return done();
      }
      if (event.cancelled) continue;
      this.nowUsValue = Math.max(this.nowUsValue, event.atUs);
      this.eventsRun++;
      event.fn();
      await drain();
    }
  }

  private push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): SimEvent | undefined {
    const heap = this.heap;
    if (heap.length === 0) return undefined;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.atUs < b.atUs || (a.atUs === b.atUs && a.order < b.order);
}

/** Lets every pending promise continuation run (they all finish before a macrotask). */
function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
