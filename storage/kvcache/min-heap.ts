// A binary min-heap of (priority, value) pairs; ties pop in insertion order so runs are reproducible.
// The page index uses it with lazy deletion: stale entries stay until popped or compacted.

interface HeapEntry<T> {
  readonly priority: number;
  readonly order: number;
  readonly value: T;
}

export class MinHeap<T> {
  private entries: HeapEntry<T>[] = [];
  private nextOrder = 0;

  get size(): number {
    return this.entries.length;
  }

  push(priority: number, value: T): void {
    this.entries.push({ priority, order: this.nextOrder++, value });
    this.siftUp(this.entries.length - 1);
  }

  peekPriority(): number | undefined {
    return this.entries[0]?.priority;
  }

  pop(): T | undefined {
    const top = this.entries[0];
    if (top === undefined) return undefined;
    const last = this.entries.pop()!;
    if (this.entries.length > 0) {
      this.entries[0] = last;
      this.siftDown(0);
    }
    return top.value;
  }

  /** Keeps only the entries whose value passes `keep` (drops stale entries in O(n)). */
  retain(keep: (value: T) => boolean): void {
    const kept = this.entries.filter((e) => keep(e.value));
    this.entries = [];
    for (const e of kept.sort((a, b) => this.compare(a, b))) this.entries.push(e);
  }

  private compare(a: HeapEntry<T>, b: HeapEntry<T>): number {
    return a.priority - b.priority || a.order - b.order;
  }

  private siftUp(index: number): void {
    let i = index;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(this.entries[i]!, this.entries[parent]!) >= 0) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(index: number): void {
    let i = index;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < this.entries.length && this.compare(this.entries[left]!, this.entries[smallest]!) < 0) smallest = left;
      if (right < this.entries.length && this.compare(this.entries[right]!, this.entries[smallest]!) < 0) {
        smallest = right;
      }
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }

  private swap(a: number, b: number): void {
    const t = this.entries[a]!;
    this.entries[a] = this.entries[b]!;
    this.entries[b] = t;
  }
}
