// CPU time of the processes behind a loader figure, read from /proc: the meta and storage servers of
// the clusters a suite started (their --data-dir lies under the suite's scratch directory) and any
// process given by pid (the mount). A row can then say whose CPU each sample cost, which is what
// bounds a figure on a 2-core machine where client and servers share the cores.
//
// Guarantees: pure reads of /proc; a process that is gone or unreadable counts 0 (never throws);
// with --meta (a cluster not ours) no server is found and the note says nothing about servers.
import { readFileSync, readdirSync } from 'node:fs';

export interface CpuSpent {
  meta: number;
  /** Every storage node, summed. */
  storage: number;
  /** Processes passed by pid (e.g. the mount), summed. */
  other: number;
}

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat (100 on every Linux architecture). */
const CLOCK_TICKS_PER_SECOND = 100;

type Role = keyof CpuSpent;

/** utime + stime of a /proc/<pid>/stat line, in seconds. Pure; NaN when the line is not one. */
export function statCpuSeconds(stat: string): number {
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS_PER_SECOND;
}

function cpuSecondsOf(pid: number): number {
  try {
    const seconds = statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return Number.isFinite(seconds) ? seconds : 0;
  } catch {
    return 0;
  }
}

/** Server processes whose command line names a directory under `scratch`, by role. */
function serversUnder(scratch: string): Map<number, Role> {
  const found = new Map<number, Role>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (!args.some((a) => a.startsWith(scratch))) continue;
    const entry = args.find((a) => a.endsWith('/main.js')) ?? '';
    if (entry.endsWith('meta/main.js')) found.set(Number(name), 'meta');
    else if (entry.endsWith('storage/main.js')) found.set(Number(name), 'storage');
  }
  return found;
}

/** Starts counting now; the returned function gives the CPU seconds spent since, by role. */
export function startCpuMeter(scratch: string, otherPids: readonly number[] = []): () => CpuSpent {
  const roles = serversUnder(scratch);
  for (const pid of otherPids) roles.set(pid, 'other');
  const before = new Map([...roles.keys()].map((pid) => [pid, cpuSecondsOf(pid)]));
  return () => {
    const spent: CpuSpent = { meta: 0, storage: 0, other: 0 };
    for (const [pid, role] of roles) spent[role] += Math.max(0, cpuSecondsOf(pid) - before.get(pid)!);
    return spent;
  };
}
