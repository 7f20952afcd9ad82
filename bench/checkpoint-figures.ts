// The figures of suite `checkpoint` (bench/checkpoint.ts) computed from the wall-clock marks its
// rank processes report (bench/checkpoint-tasks.ts): pure functions, tested in checkpoint.test.ts.
import type { LoadMarks, SaveMarks } from './checkpoint-tasks.js';
import { formatFigure } from './stats.js';

/** One save of one step by every rank, in seconds (NaN where the API used does not show the instant). */
export interface SaveFigures {
  /** From the first rank's start (begin() or save()) to the step committed (the committer's finish resolved). */
  saveSeconds: number;
  /** writeShard: from the last rank's last byte synced (its shard closed) to the step committed. */
  commitSeconds: number;
  /** writeShard: the slowest rank's begin(). */
  beginSeconds: number;
  /** writeShard: from the first rank's begin() to the last rank's shard synced. */
  writeSeconds: number;
  /** save(): each rank's stall, from calling save() to its `captured`. */
  stallSeconds: number[];
}

/** The latest of an instant every rank reported, or NaN when any rank did not report it. */
function latest(marks: readonly SaveMarks[], instant: (m: SaveMarks) => number | undefined): number {
  const values = marks.map(instant);
  return values.every((v) => v !== undefined) ? Math.max(...(values as number[])) : Number.NaN;
}

export function saveFigures(marks: readonly SaveMarks[]): SaveFigures {
  if (marks.length === 0) throw new Error('no rank reported its save');
  const committers = marks.filter((m) => m.committer);
  if (committers.length !== 1) {
    throw new Error(`expected one rank to commit the step, ${committers.length} did`);
  }
  const start = Math.min(...marks.map((m) => m.startedAtMs));
  const lastWritten = latest(marks, (m) => m.writtenAtMs);
  const committedAt = committers[0]!.finishedAtMs;
  const stallSeconds = marks
    .filter((m) => m.capturedAtMs !== undefined)
    .map((m) => (m.capturedAtMs! - m.startedAtMs) / 1000);
  return {
    saveSeconds: (committedAt - start) / 1000,
    commitSeconds: (committedAt - lastWritten) / 1000,
    beginSeconds: latest(marks, (m) => (m.begunAtMs === undefined ? undefined : m.begunAtMs - m.startedAtMs)) / 1000,
    writeSeconds: (lastWritten - start) / 1000,
    stallSeconds,
  };
}

/** From the first rank's start to the last rank's shard read and checked, in seconds. */
export function loadSeconds(marks: readonly LoadMarks[]): number {
  if (marks.length === 0) throw new Error('no rank reported its load');
  return (Math.max(...marks.map((m) => m.endedAtMs)) - Math.min(...marks.map((m) => m.startedAtMs))) / 1000;
}

/** What a measured value says about a target of at most `target` (a note for the row). Pure. */
export function atMostNote(what: string, value: number, target: number): string {
  if (!Number.isFinite(value)) return `${what}: no figure (target ≤ ${target}×)`;
  const verdict = value <= target ? 'met' : `missed, ${formatFigure(value / target)}× over`;
  return `${what}: ${formatFigure(value)}× (target ≤ ${target}×: ${verdict})`;
}

/** `a, b, c ms` of a list of seconds. Pure. */
export function msList(seconds: readonly number[]): string {
  return `${seconds.map((s) => formatFigure(s * 1000)).join(', ')} ms`;
}

/** `512MiB`, `2GiB`, or the bytes when not a whole MiB (`3145729B`). Pure. */
export function sizeText(bytes: number): string {
  if (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30}GiB`;
  return bytes % 2 ** 20 === 0 ? `${bytes / 2 ** 20}MiB` : `${bytes}B`;
}
