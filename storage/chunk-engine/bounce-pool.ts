// A pool of page-aligned bounce buffers for O_DIRECT writes (and the uring backend's aligned
// reads), shared by both block I/O backends (fs-block-io.ts, uring-block-io.ts): reusing buffers
// keeps a steady write load from allocating aligned memory per block.

/**
 * Page-aligned buffers for O_DIRECT writes, kept by size (multiples of `stepBytes`) up to
 * `limitBytes` in all. `allocate(size)` must return memory aligned to the O_DIRECT alignment.
 */
export class BouncePool {
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;

  constructor(
    private readonly allocate: (size: number) => Buffer,
    private readonly limitBytes: number,
    private readonly stepBytes: number,
  ) {}

  take(length: number): Buffer {
    const size = Math.max(1, Math.ceil(length / this.stepBytes)) * this.stepBytes;
    const pooled = this.free.get(size)?.pop();
    if (pooled !== undefined) {
      this.freeBytes -= size;
      return pooled;
    }
    return this.allocate(size);
  }

  give(buffer: Buffer): void {
    if (this.freeBytes + buffer.length > this.limitBytes) return;
    this.freeBytes += buffer.length;
    let list = this.free.get(buffer.length);
    if (list === undefined) {
      list = [];
      this.free.set(buffer.length, list);
    }
    list.push(buffer);
  }
}
