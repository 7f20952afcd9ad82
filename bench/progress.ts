// The progress line on stderr while a benchmark runs: rewritten in place on a terminal, one
// line every few seconds otherwise (logs stay readable). Never written to stdout.
export class ProgressLine {
  private last = 0;
  private shown = false;
  private readonly tty: boolean;

  constructor(
    private readonly enabled: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  /** Shows `text` (throttled; `force` shows it now). */
  update(text: string, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < (this.tty ? 200 : 3000)) return;
    this.last = now;
    if (this.tty) {
      this.stream.write(`\r\x1b[K${text.slice(0, (this.stream.columns ?? 120) - 1)}`);
      this.shown = true;
    } else this.stream.write(`${text}\n`);
  }

  /** Prints a permanent line (a finished measurement) below the progress line. */
  log(text: string): void {
    if (!this.enabled) return;
    if (this.tty && this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
    this.stream.write(`${text}\n`);
    this.last = 0;
  }

  clear(): void {
    if (this.enabled && this.tty && this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
