// The read benchmarks check what they read (issue 15: a regression returning zeros would have
// looked fast). The file a read suite measures was written by seq-write workers, every block the
// same pattern of `patternBytes`, so the byte at file offset o is pattern[o mod patternBytes]. Each
// read compares a few spread samples (8 words: a few ns against a read's µs, so the figures stay
// what they were) and the byte count; a run with any wrong read fails instead of reporting a figure.
// A read of a file whose bytes the suite does not know (no pattern given) checks the count only.
const SAMPLES_PER_READ = 8;
const SAMPLE_BYTES = 4;

export class ReadCheck {
  private reads = 0;
  private wrong = 0;
  private firstWrong: string | undefined;

  constructor(private readonly pattern: Buffer | undefined) {}

  /** A check against the pattern of `patternBytes` (made by `makePattern`), or one that checks only counts. */
  static of(patternBytes: number | undefined, makePattern: (bytes: number) => Buffer): ReadCheck {
    return new ReadCheck(patternBytes === undefined ? undefined : makePattern(patternBytes));
  }

  /** Checks one read of `length` bytes at file offset `fileOffset` that answered `bytesRead` into `buf`. */
  sample(buf: Buffer, length: number, bytesRead: number, fileOffset: number): void {
    this.reads++;
    const wrong =
      bytesRead !== length
        ? `read of ${length} bytes at ${fileOffset} answered ${bytesRead}`
        : this.wrongSample(buf, length, fileOffset);
    if (wrong === undefined) return;
    this.wrong++;
    this.firstWrong ??= wrong;
  }

  /** Throws when any read was wrong (after the timed region: the run fails, no figure is reported). */
  verify(what: string): void {
    if (this.wrong === 0) return;
    throw new Error(`${what}: ${this.wrong} of ${this.reads} reads returned wrong bytes; first: ${this.firstWrong}`);
  }

  private wrongSample(buf: Buffer, length: number, fileOffset: number): string | undefined {
    const pattern = this.pattern;
    if (pattern === undefined || length < SAMPLE_BYTES) return undefined;
    for (let k = 0; k < SAMPLES_PER_READ; k++) {
      const at = Math.floor((k * (length - SAMPLE_BYTES)) / (SAMPLES_PER_READ - 1));
      for (let b = at; b < at + SAMPLE_BYTES; b++) {
        const want = pattern[(fileOffset + b) % pattern.length];
        if (buf[b] !== want) return `byte ${fileOffset + b} of the file read as ${buf[b]}, written as ${want}`;
      }
    }
    return undefined;
  }
}
