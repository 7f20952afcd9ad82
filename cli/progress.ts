// Progress bars for long transfers (put, get, cp) on stderr, so stdout stays clean for data and
// scripts. Shown when stderr is a terminal and the transfer is large, or when forced with
// --progress (then also on a non-terminal, one line per update); never with --no-progress.
import { Transform, type TransformCallback } from 'node:stream';
import cliProgress from 'cli-progress';
import { formatBytes } from './format.js';

/** Transfers smaller than this finish too fast for a bar to help. */
const PROGRESS_MIN_BYTES = 16 * 1024 * 1024;
/** Redraws per second at most (a redraw costs CPU the transfer needs on 2 cores). */
const PROGRESS_FPS = 5;

export interface ProgressOptions {
  /** true: always; false: never; undefined: when stderr is a TTY and the transfer is large. */
  progress?: boolean;
  label: string;
  /** Total bytes, when known. */
  totalBytes?: number;
  /** A count worth showing beside the bytes, read at each redraw (e.g. `1,234 samples`). */
  detail?: () => string;
}

export interface Progress {
  /** A pass-through stream counting bytes into the bar. */
  counter(): Transform;
  add(bytes: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = {
  counter: () =>
    new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
        callback(null, chunk);
      },
    }),
  add() {},
  stop() {},
};

export function createProgress(options: ProgressOptions): Progress {
  const tty = process.stderr.isTTY === true;
  const wanted =
    options.progress === true ||
    (options.progress === undefined &&
      tty &&
      (options.totalBytes === undefined || options.totalBytes >= PROGRESS_MIN_BYTES));
  if (!wanted) return NO_PROGRESS;
  const total = options.totalBytes ?? 0;
  const started = Date.now();
  let done = 0;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      fps: PROGRESS_FPS,
      noTTYOutput: !tty,
      notTTYSchedule: 1000,
      hideCursor: tty,
      clearOnComplete: false,
      etaBuffer: 50,
      format: (opts, params, payload: { label: string; doneText: string; rate: string; detail: string }) => {
        const bar =
          total > 0
            ? `[${cliProgress.Format.BarFormat(params.progress, opts)}] ${Math.floor(params.progress * 100)}% `
            : '';
        const eta = total > 0 && params.eta > 0 && Number.isFinite(params.eta) ? ` | ETA ${params.eta}s` : '';
        return `${payload.label} ${bar}| ${payload.doneText}${payload.detail} | ${payload.rate}${eta}`;
      },
    },
    cliProgress.Presets.shades_classic,
  );
  const payload = () => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    return {
      label: options.label,
      doneText: total > 0 ? `${formatBytes(done)} / ${formatBytes(total)}` : formatBytes(done),
      rate: `${formatBytes(done / seconds)}/s`,
      detail: options.detail === undefined ? '' : ` | ${options.detail()}`,
    };
  };
  bar.start(total > 0 ? total : 1, 0, payload());
  let stopped = false;
  const progress: Progress = {
    counter() {
      return new Transform({
        transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
          progress.add(chunk.length);
          callback(null, chunk);
        },
      });
    },
    add(bytes: number) {
      done += bytes;
      bar.update(total > 0 ? Math.min(done, total) : 0, payload());
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.update(total > 0 ? Math.min(done, total) : 0, payload());
      bar.stop();
    },
  };
  return progress;
}
