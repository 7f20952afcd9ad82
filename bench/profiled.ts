// Runs a server entry (meta/main.ts or storage/main.ts) under the V8 CPU profiler, for
// `spindle bench --cpu-prof DIR`: Node refuses --cpu-prof in NODE_OPTIONS and the launcher passes
// no node flags, so the bench points LocalCluster's entries at bench/profiled-{meta,storage}.ts,
// which start the profiler through node:inspector and write DIR/<name>-<pid>.cpuprofile at exit.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export async function runProfiled(name: string, load: () => Promise<unknown>): Promise<void> {
  const dir = process.env.SPINDLE_BENCH_CPU_PROF;
  if (dir !== undefined && dir !== '') {
    const session = new Session();
    session.connect();
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: 1000 });
    session.post('Profiler.start');
    // The main-thread session answers synchronously, so this works inside 'exit'.
    process.once('exit', () => {
      session.post('Profiler.stop', (err, result) => {
        if (!err) writeFileSync(join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
      });
    });
  }
  await load();
}
