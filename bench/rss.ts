// Resident memory (RSS) of the processes a benchmark runs, from /proc/<pid>/status (Linux), and a
// sampler that polls them while a measurement runs, each sample tagged with the bytes moved so far
// — so "does memory grow with bytes moved?" compares the first part of a long read with its last.
import { readFileSync } from 'node:fs';

/** How often the sampler reads every process's RSS (a few /proc reads: no load worth measuring). */
const SAMPLE_INTERVAL_MS = 100;

/** Resident bytes of a process: all of it, and the anonymous part (heap, not mapped file pages). */
export interface Resident {
  rss: number;
  anon: number;
}

/** The resident memory of `pid`, or undefined when it is gone (or not on Linux). */
export function residentOf(pid: number): Resident | undefined {
  try {
    return parseResident(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * VmRSS and RssAnon of a /proc/<pid>/status text, in bytes (the kernel writes kB). RSS counts the
 * pages of a mapped file that were read (lmdb maps its whole database), RssAnon only the heap.
 */
export function parseResident(status: string): Resident | undefined {
  const rss = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  const anon = /^RssAnon:\s+(\d+)\s+kB$/m.exec(status);
  return rss === null || anon === null ? undefined : { rss: Number(rss[1]) * 1024, anon: Number(anon[1]) * 1024 };
}

export interface RssSample {
  /** Bytes moved when the sample was taken. */
  movedBytes: number;
  /** Resident bytes by process name (a process that had exited is missing). */
  rss: Map<string, number>;
  anon: Map<string, number>;
}

/** Polls the RSS of named processes until stopped. */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: ReadonlyMap<string, number>,
    private readonly movedBytes: () => number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  sample(): void {
    const rss = new Map<string, number>();
    const anon = new Map<string, number>();
    for (const [name, pid] of this.pids) {
      const resident = residentOf(pid);
      if (resident === undefined) continue;
      rss.set(name, resident.rss);
      anon.set(name, resident.anon);
    }
    this.samples.push({ movedBytes: this.movedBytes(), rss, anon });
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * The largest RSS (or RssAnon) of `name` among the samples with movedBytes in [from, to]; when none
 * fall in the window, the sample nearest to it (a short read may be over between two samples).
 */
export function peakRss(
  samples: readonly RssSample[],
  name: string,
  window: { from: number; to: number },
  kind: 'rss' | 'anon' = 'rss',
): number | undefined {
  const own = samples.filter((s) => s[kind].has(name));
  if (own.length === 0) return undefined;
  const { from, to } = window;
  const inside = own.filter((s) => s.movedBytes >= from && s.movedBytes <= to);
  if (inside.length > 0) return Math.max(...inside.map((s) => s[kind].get(name)!));
  const distance = (s: RssSample) => (s.movedBytes < from ? from - s.movedBytes : s.movedBytes - to);
  const nearest = own.reduce((a, b) => (distance(b) < distance(a) ? b : a));
  return nearest[kind].get(name);
}
