// storage/main.ts under the CPU profiler (see bench/profiled.ts).
import { runProfiled } from './profiled.js';

await runProfiled('storage', () => import('../storage/main.js'));
