// CPU profiles of server processes without node flags: when SPINDLE_CPU_PROF_DIR names a directory,
// a process that calls startCpuProfileFromEnv() runs under the V8 sampling profiler (through
// node:inspector) and writes DIR/<name>-<pid>.cpuprofile when it exits. `spindle bench --cpu-prof
// DIR` sets it for every server it starts (Node refuses --cpu-prof in NODE_OPTIONS, and the variable
// reaches processes whatever starts them). Open the files in Chrome DevTools or speedscope.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

export const CPU_PROFILE_DIR_ENV = 'SPINDLE_CPU_PROF_DIR';
/** Sampling interval: 1 ms keeps the profiler's own cost small on a 2-core machine. */
const SAMPLING_INTERVAL_US = 1000;

/** Starts the profiler when the environment asks for it; returns whether it did. */
export function startCpuProfileFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const dir = env[CPU_PROFILE_DIR_ENV];
  if (dir === undefined || dir === '') return false;
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  session.post('Profiler.start');
  // The main-thread session answers synchronously, so this works inside 'exit'.
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
  return true;
}
