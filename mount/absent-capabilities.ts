// Which inodes this mount recently found without a `security.capability` attribute.
//
// Why: the kernel asks for that attribute before every write(2) through a FUSE mount (to drop file
// capabilities when a file is modified), and each ask was a meta round trip: a 4 KiB write loop ran
// at ~0.7 MB/s with one GETXATTR per write. An absent answer is kept for as long as the kernel keeps
// attributes (ATTR_TIMEOUT_S), so another client's setcap shows up as late as its chmod would.
//
// Guarantees: a set or removal of any attribute through this mount forgets the inode at once; an
// answer is never older than `ttlUs`; at most `entriesMax` inodes are kept (the oldest half goes).
export const CAPABILITY_XATTR = 'security.capability';

export class AbsentCapabilities {
  /** ino → when the absence was seen, µs. Map order is insertion order: oldest first. */
  private readonly seenAtUs = new Map<number, number>();

  constructor(
    private readonly ttlUs: number,
    private readonly entriesMax: number,
    private readonly nowUs: () => number,
  ) {}

  has(ino: number): boolean {
    const at = this.seenAtUs.get(ino);
    if (at === undefined) return false;
    if (this.nowUs() - at < this.ttlUs) return true;
    this.seenAtUs.delete(ino);
    return false;
  }

  remember(ino: number): void {
    this.seenAtUs.delete(ino);
    if (this.seenAtUs.size >= this.entriesMax) {
      let drop = Math.ceil(this.entriesMax / 2);
      for (const key of this.seenAtUs.keys()) {
        if (drop-- <= 0) break;
        this.seenAtUs.delete(key);
      }
    }
    this.seenAtUs.set(ino, this.nowUs());
  }

  forget(ino: number): void {
    this.seenAtUs.delete(ino);
  }
}
