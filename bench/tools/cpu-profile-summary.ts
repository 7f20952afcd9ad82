// Summarizes a V8 CPU profile (from `--cpu-prof`, `spindle bench --cpu-prof` or SPINDLE_CPU_PROF_DIR):
//   node --import tsx bench/tools/cpu-profile-summary.ts FILE.cpuprofile [top=25] [--match TEXT]
// Prints the busy share of the profile (samples not in `(idle)`), then the functions with the most
// self time and the most inclusive time (a function counted once per sample however deep it recurs),
// each as ms and % of the busy samples, with its file:line. `--match TEXT` adds the inclusive time of
// every frame whose function or file contains TEXT (e.g. `--match lmdb` or `--match pino`).
// `--last SECONDS` counts only the profile's final SECONDS (a server's profile ends when it stops, so
// this picks the suite's last phases out of a whole run).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const matchAt = args.indexOf('--match');
const match = matchAt >= 0 ? args.splice(matchAt, 2)[1] : undefined;
const lastAt = args.indexOf('--last');
const lastUs = lastAt >= 0 ? Number(args.splice(lastAt, 2)[1]) * 1e6 : Number.POSITIVE_INFINITY;
const [file, topText] = args;
if (file === undefined) throw new Error('usage: cpu-profile-summary.ts FILE.cpuprofile [top] [--match TEXT]');
const top = Number(topText ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n: ProfileNode) =>
  `${n.callFrame.functionName || '(anonymous)'} ${basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const selfUs = new Map<string, number>();
const totalUs = new Map<string, number>();
let allUs = 0;
let idleUs = 0;
let matchedUs = 0;
const profiledUs = profile.timeDeltas.reduce((sum, dt) => sum + dt, 0);
let atUs = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  atUs += dt;
  if (atUs < profiledUs - lastUs) continue;
  const leaf = byId.get(profile.samples[i]!)!;
  allUs += dt;
  if (leaf.callFrame.functionName === '(idle)') {
    idleUs += dt;
    continue;
  }
  selfUs.set(label(leaf), (selfUs.get(label(leaf)) ?? 0) + dt);
  const seen = new Set<string>();
  let matched = false;
  for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
    const node = byId.get(id)!;
    const key = label(node);
    if (match !== undefined && (node.callFrame.functionName + node.callFrame.url).includes(match)) matched = true;
    if (seen.has(key)) continue;
    seen.add(key);
    totalUs.set(key, (totalUs.get(key) ?? 0) + dt);
  }
  if (matched) matchedUs += dt;
}
const busyUs = allUs - idleUs;
const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1)}%`;
const show = (title: string, map: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${(us / 1000).toFixed(0).padStart(8)} ms ${pct(us).padStart(6)}  ${key}`);
};
console.log(`${basename(file)}: ${(allUs / 1000).toFixed(0)} ms profiled, busy ${(busyUs / 1000).toFixed(0)} ms`);
show('self time', selfUs);
show('inclusive time', totalUs);
if (match !== undefined)
  console.log(`\nframes matching ${JSON.stringify(match)}: ${(matchedUs / 1000).toFixed(0)} ms ${pct(matchedUs)}`);
