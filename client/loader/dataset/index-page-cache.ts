// A least-recently-used cache of index pages bounded in bytes.
//
// Guarantees: `bytes` never exceeds `capacityBytes` (a page larger than the whole capacity is not
// kept at all); get() marks a page most recently used; put() evicts least recently used pages first.
export class IndexPageCache {
  private readonly pages = new Map<number, Buffer>();
  private cachedBytes = 0;

  constructor(private readonly capacityBytes: number) {}

  /** Bytes of the pages held. */
  get bytes(): number {
    return this.cachedBytes;
  }

  get(page: number): Buffer | undefined {
    const bytes = this.pages.get(page);
    if (bytes !== undefined) {
      this.pages.delete(page);
      this.pages.set(page, bytes);
    }
    return bytes;
  }

  put(page: number, bytes: Buffer): void {
    if (bytes.length > this.capacityBytes) return;
    const old = this.pages.get(page);
    if (old !== undefined) {
      this.pages.delete(page);
      this.cachedBytes -= old.length;
    }
    while (this.cachedBytes + bytes.length > this.capacityBytes) {
      const [oldest, evicted] = this.pages.entries().next().value as [number, Buffer];
      this.pages.delete(oldest);
      this.cachedBytes -= evicted.length;
    }
    this.pages.set(page, bytes);
    this.cachedBytes += bytes.length;
  }

  clear(): void {
    this.pages.clear();
    this.cachedBytes = 0;
  }
}
