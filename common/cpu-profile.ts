// CPU profiles of server processes without node flags: when SPINDLE_CPU_PROF_DIR names a directory,
// a process that calls startCpuProfileFromEnv() runs under the V8 sampling profiler (through
// node:inspector) and writes DIR/<name>-<pid>.cpuprofile when it exits. `spindle bench --cpu-prof
// DIR` sets it for every server it starts (Node refuses --cpu-prof in NODE_OPTIONS, and the variable
// reaches processes whatever starts them). Open the files in Chrome DevTools or speedscope.
//
// Guarantees: a relative DIR is taken from the cwd at start (the launcher makes it absolute before
// its children, which run in the package root, see it: cluster/server-env.ts); DIR is created at
// start if missing, and one that cannot be is a clear error then, not a throw inside 'exit'; a
// profile that cannot be written at exit is reported on stderr without changing the exit code.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join, resolve } from 'node:path';
import { ErrorCode, SpindleError } from './errors.js';

export const CPU_PROFILE_DIR_ENV = 'SPINDLE_CPU_PROF_DIR';
/** Sampling interval: 1 ms keeps the profiler's own cost small on a 2-core machine. */
const SAMPLING_INTERVAL_US = 1000;

/** Starts the profiler when the environment asks for it; returns whether it did. */
export function startCpuProfileFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env[CPU_PROFILE_DIR_ENV];
  if (value === undefined || value === '') return false;
  const dir = resolve(value);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new SpindleError(
      ErrorCode.IO_ERROR,
      `${CPU_PROFILE_DIR_ENV}=${value}: cannot create ${dir} for CPU profiles: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const file = join(dir, `${name}-${process.pid}.cpuprofile`);
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  session.post('Profiler.start');
  // The main-thread session answers synchronously, so this works inside 'exit'.
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      try {
        if (err) throw err;
        writeFileSync(file, JSON.stringify(result.profile));
      } catch (failure) {
        process.stderr.write(`${name}: CPU profile not written to ${file}: ${(failure as Error).message}\n`);
      }
    });
  });
  return true;
}
