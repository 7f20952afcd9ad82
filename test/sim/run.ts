// Runs one seed of the simulation: draws the scenario from the seed (swarm testing: each seed
// turns fault kinds on or off and picks cluster size, clients and fault rates), runs it, checks
// the history, and says how to replay it.
import { createHash } from 'node:crypto';
import type { Counter } from 'prom-client';
import { checkHistory } from './checker.js';
import { Simulation, type SimBug, type SimConfig } from './cluster.js';
import { SimScheduler } from './scheduler.js';

export interface SeedOptions {
  bug?: SimBug;
  /** Corrupt blocks and full disks among the faults of some seeds (default true). */
  diskFaults?: boolean;
  /**
   * Partitions on, and half the faults a node cut off from the manager only (the split-brain case;
   * implied by the no-lease variant).
   */
  splitBrain?: boolean;
  /** Trace every Write and Update a node answers. */
  verbose?: boolean;
  /** Known issues count as violations too (the default; false only reports them). */
  strict?: boolean;
  /** Receives every trace line as it happens (replay prints them). */
  trace?: (line: string) => void;
}

export interface SeedResult {
  seed: number;
  config: SimConfig;
  /** The diskFaults option the seed ran with (a replay needs it). */
  diskFaultsAllowed: boolean;
  violations: string[];
  /**
   * Violations explained by a known issue (checker.ts KNOWN_ISSUE_K1), when not strict; strict (the default) fails
   * them.
   */
  known: string[];
  /** Identifies the execution: equal for equal seeds (determinism). */
  digest: string;
  stats: {
    simMs: number;
    events: number;
    messages: number;
    writes: number;
    acked: number;
    reads: number;
    commits: number;
    healedAtMs: number | undefined;
    /** From the real replicator's metrics: chunk repairs, exactly-once replays, forward retries. */
    repairs: number;
    replays: number;
    forwardRetries: number;
    /** Disk faults: reads answered CHUNK_CORRUPT, writes refused NO_SPACE, chunks repaired. */
    corruptReads: number;
    noSpaceWrites: number;
    repaired: number;
    /** Double faults injected: a corrupt chunk whose chain's other replicas all went down. */
    doubleFaults: number;
    /** Chunks lost to a double fault (every replica fails its checksum; reads of them fail). */
    lostChunks: number;
  };
  /** The last trace lines (context for a failure). */
  tail: string[];
}

function scenarioFor(
  sched: SimScheduler,
  bug: SimBug | undefined,
  diskFaults: boolean,
  splitBrain: boolean,
): SimConfig {
  const lossy = sched.chance(0.6);
  const nodes = 3 + sched.rng.nextInt(2);
  return {
    nodes,
    chains: 2,
    replicas: 3,
    chunksPerChain: 1 + sched.rng.nextInt(2),
    clients: 2 + sched.rng.nextInt(2),
    opsPerClient: 8 + sched.rng.nextInt(9),
    crashes: sched.chance(0.7),
    partitions: sched.chance(0.5) || splitBrain,
    removeFile: sched.chance(0.3),
    // Drawn in every run so a seed's other choices do not depend on the option.
    diskFaults: sched.chance(0.6) && diskFaults,
    net: {
      dropP: lossy ? sched.uniform(0, 0.05) : 0,
      duplicateP: sched.chance(0.5) ? sched.uniform(0, 0.05) : 0,
      spikeP: sched.chance(0.5) ? sched.uniform(0, 0.05) : 0,
      delayMinMs: 0.05,
      delayMaxMs: sched.uniform(0.2, 3),
      spikeMaxMs: 60,
    },
    bug,
    splitBrain,
    // Drawn last, so the choices above stay what they were for each seed.
    doubleFault: sched.chance(0.3) && diskFaults,
  };
}

export function replayCommand(seed: number, bug?: SimBug, strict = true, diskFaults = true): string {
  return (
    `node --import tsx test/sim/replay.ts ${seed}` +
    `${bug === undefined ? '' : ` --bug ${bug}`}${strict ? '' : ' --lenient'}${diskFaults ? '' : ' --no-disk-faults'}`
  );
}

export async function runSeed(seed: number, options: SeedOptions = {}): Promise<SeedResult> {
  const sched = new SimScheduler(seed);
  const config = scenarioFor(
    sched,
    options.bug,
    options.diskFaults !== false,
    options.splitBrain === true || options.bug === 'no-lease',
  );
  const tail: string[] = [];
  const hash = createHash('sha256');
  const trace = (line: string) => {
    hash.update(line);
    tail.push(line);
    if (tail.length > 40) tail.shift();
    options.trace?.(line);
  };
  const sim = new Simulation(sched, config, trace, options.verbose === true);
  const { history, harnessErrors, healedAtMs } = await sim.run();
  const violations = [...harnessErrors];
  if (healedAtMs === undefined)
    violations.push(
      'the cluster did not heal (every target serving, routing settled, disks flushed) within the heal deadline',
    );
  const checked = checkHistory(history);
  violations.push(...checked.violations);
  const strict = options.strict !== false;
  if (strict) violations.push(...checked.known);
  let commits = 0;
  for (const list of history.commits.values()) commits += list.length;
  const stats = {
    simMs: Math.round(sched.nowMs()),
    events: sched.eventsRun,
    messages: sim.net.messages,
    writes: history.writes.length,
    acked: history.writes.filter((w) => w.ack !== undefined).length,
    reads: history.reads.length,
    commits,
    healedAtMs,
    repairs: await counterValue(sim.metrics.chunkRepairs),
    replays: await counterValue(sim.metrics.dedupeReplays),
    forwardRetries: await counterValue(sim.metrics.forwardRetries),
    corruptReads: sim.diskStats.corruptReads,
    noSpaceWrites: history.writes.filter((w) => w.failure === 'NO_SPACE').length,
    repaired: sim.diskStats.repaired,
    doubleFaults: sim.diskStats.doubleFaults,
    lostChunks: checked.lost.length,
  };
  hash.update(JSON.stringify(stats));
  return {
    seed,
    config,
    diskFaultsAllowed: options.diskFaults !== false,
    violations,
    known: strict ? [] : checked.known,
    digest: hash.digest('hex').slice(0, 16),
    stats,
    tail,
  };
}

async function counterValue(counter: Counter): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** A failure report: the seed, the one command that replays it, the violations, the trace's end. */
export function describeFailure(result: SeedResult, bug?: SimBug, strict = true): string {
  const disk = result.diskFaultsAllowed;
  const env =
    `SPINDLE_SIM_SEED=${result.seed}${bug === undefined ? '' : ` SPINDLE_SIM_BUG=${bug}`}` +
    `${strict ? '' : ' SPINDLE_SIM_STRICT=0'}${disk ? '' : ' SPINDLE_SIM_DISK_FAULTS=0'}`;
  return [
    `simulation seed ${result.seed} FAILED${bug === undefined ? '' : ` (broken variant ${bug})`}`,
    `replay: ${replayCommand(result.seed, bug, strict, disk)}   (or: ${env} npx vitest run test/sim)`,
    ...result.violations.slice(0, 10).map((v) => `  violation: ${v}`),
    result.violations.length > 10 ? `  … ${result.violations.length - 10} more` : '',
    '  last trace lines:',
    ...result.tail.map((l) => `    ${l}`),
  ]
    .filter((l) => l !== '')
    .join('\n');
}
