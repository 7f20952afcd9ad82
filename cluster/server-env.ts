// What every Spindle process the launcher starts gets besides its flags: the glibc malloc settings
// of docs/performance.md in its environment and the V8 heap flags of NODE_FLAGS.
//
// Guarantees: the malloc mode is one setting for a whole run — SPINDLE_MALLOC in the environment,
// inherited by every child — and `withMallocEnv` either adds all three tuned variables or removes
// every MALLOC_* variable, never a mix. A server's environment names directories as the launcher's
// caller meant them: a relative SPINDLE_CPU_PROF_DIR is made absolute against the launcher's cwd,
// since servers run with the package root as theirs.
import { resolve } from 'node:path';
import { CPU_PROFILE_DIR_ENV } from '../common/cpu-profile.js';

/** glibc malloc settings for every server process: all three together (docs/performance.md). */
export const TUNED_MALLOC_ENV: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: '33554432',
  MALLOC_TRIM_THRESHOLD_: '1073741824',
  MALLOC_TOP_PAD_: '268435456',
};

/**
 * V8 flags of every process started from an entry here (servers, bench workers). Chunk I/O
 * allocates many short-lived multi-MiB Buffers; V8 counts their bytes against the old-space
 * allocation limit, which for a server's small JS heap (~15 MiB) is reached after ~12 MiB of
 * Buffers: a full mark-compact every few chunks, though the Buffers die young and scavenges free
 * them. Starting the limit at 256 MiB leaves them to scavenges: 100 × 4 MiB gRPC writes went from
 * 32 to 7 mark-compacts and the sender's CPU halved, with the same peak RSS (~166 MB).
 */
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=256'];

/**
 * How child processes allocate: 'tuned' (TUNED_MALLOC_ENV, the default) or 'default' (glibc's
 * own settings, every MALLOC_* variable removed). Chosen by SPINDLE_MALLOC in the environment,
 * which children inherit, so one setting covers every Spindle process of a run (`spindle up
 * --malloc default`, `spindle bench --malloc default`).
 */
export type MallocMode = 'tuned' | 'default';
export const MALLOC_MODES: readonly MallocMode[] = ['tuned', 'default'];

export function mallocMode(env: Record<string, string | undefined> = process.env): MallocMode {
  return env['SPINDLE_MALLOC'] === 'default' ? 'default' : 'tuned';
}

/** `base` with the malloc settings of `mode`: the tuned variables added, or every MALLOC_* removed. */
export function withMallocEnv(
  base: Record<string, string | undefined>,
  mode: MallocMode = mallocMode(base),
): NodeJS.ProcessEnv {
  if (mode === 'tuned') return { ...base, ...TUNED_MALLOC_ENV };
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) if (!key.startsWith('MALLOC_')) env[key] = value;
  return env;
}

/** The malloc variables processes get in `mode` (what bench rows record). */
export function mallocSettings(mode: MallocMode = mallocMode()): Record<string, string> {
  return mode === 'tuned' ? { ...TUNED_MALLOC_ENV } : { SPINDLE_MALLOC: 'default' };
}

/**
 * Environment of every server process: ours plus the malloc settings of SPINDLE_MALLOC (tuned by
 * default), SPINDLE_CPU_PROF_DIR made absolute.
 */
export function serverEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = withMallocEnv({ ...process.env, ...extra });
  const profiles = env[CPU_PROFILE_DIR_ENV];
  if (profiles !== undefined && profiles !== '') env[CPU_PROFILE_DIR_ENV] = resolve(profiles);
  return env;
}
