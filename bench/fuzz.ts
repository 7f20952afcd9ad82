// `spindle bench fuzz [--seed N] [--inputs N] [--streams N] [--meta ADDR]`: the long run of the
// fuzzers that `npm test` runs briefly (test/fuzz/): every gRPC method of Meta, Mgmt, Storage and
// KvStore with --inputs messages each (with the admin token, and a few without any), and --streams
// connections of random and mutated frames at every storage node's bulk port. On a cluster it
// starts (1 storage node, in a temp dir, removed after) or the one at --meta. Then it checks that
// every server is alive and a file written before still reads, and prints one JSON line: the
// counts by status and error code, the answers that were not typed errors, the servers' memory.
//
// Estimate: a call or stream costs ~1–3 ms on loopback, so the defaults (200 inputs × ~47 methods,
// 5,000 streams per node) take about a minute on 2 cores. Exit code 1 when a check failed.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SpindleClient } from '../client/index.js';
import { fetchRouting, LocalCluster, processAlive } from '../cluster/index.js';
import { resolveToken } from '../common/auth/token-source.js';
import { KvStoreService, MetaService, MgmtService, StorageService } from '../proto/index.js';
import { fuzzBulkPort, type BulkFuzzCounts } from './fuzz-bulk.js';
import { fuzzGrpcMethods, type GrpcFuzzCounts } from './fuzz-grpc.js';

export const FUZZ_USAGE = `usage: spindle bench fuzz [--seed N] [--inputs N] [--streams N] [--meta HOST:PORT]
  --seed 1        the run's seed (the same seed sends the same inputs)
  --inputs 200    messages sent to each gRPC method
  --streams 5000  connections of random frames at each storage node's bulk port
  --meta ADDR     fuzz this cluster (its servers must run on this machine) instead of a fresh one`;

interface FuzzArgs {
  seed: number;
  inputs: number;
  streams: number;
  meta: string | undefined;
}

function parseFuzzArgs(argv: readonly string[]): FuzzArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seed: { type: 'string', default: '1' },
      inputs: { type: 'string', default: '200' },
      streams: { type: 'string', default: '5000' },
      meta: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const count = (name: string, text: string): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name} ${text}: not a non-negative integer`);
    return value;
  };
  return {
    seed: count('seed', values.seed!),
    inputs: count('inputs', values.inputs!),
    streams: count('streams', values.streams!),
    meta: values.meta,
  };
}

/** VmRSS of a process on this machine, in MiB (undefined when it is not here). */
function residentMiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) / 1024;
  } catch {
    return undefined;
  }
}

interface Servers {
  meta: string;
  metaPid: number | undefined;
  storage: Array<{ addr: string; bulk: string | undefined; pid: number | undefined }>;
}

async function serversOf(meta: string, cluster: LocalCluster | undefined): Promise<Servers> {
  if (cluster !== undefined) {
    return {
      meta,
      metaPid: cluster.meta.pid,
      storage: [...cluster.storage.values()].map((service) => ({
        addr: service.ready.addr,
        bulk: (service.ready as unknown as { bulk?: string }).bulk,
        pid: service.pid,
      })),
    };
  }
  const routing = await fetchRouting(meta, undefined, resolveToken({ metaAddress: meta, role: 'admin' }));
  return {
    meta,
    metaPid: undefined,
    storage: routing.nodes.map((node) => ({ addr: node.address, bulk: node.bulkAddress || undefined, pid: undefined })),
  };
}

/** Runs `spindle bench fuzz` with the arguments after `fuzz`; resolves with the exit code. */
export async function runFuzzCommand(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${FUZZ_USAGE}\n`);
    return 0;
  }
  const args = parseFuzzArgs(argv);
  const scratch = args.meta === undefined ? mkdtempSync(join(tmpdir(), 'spindle-fuzz-')) : undefined;
  let cluster: LocalCluster | undefined;
  let client: SpindleClient | undefined;
  try {
    if (scratch !== undefined) {
      process.stderr.write('spindle bench fuzz: starting a cluster (1 storage node)…\n');
      cluster = await LocalCluster.start({ dataDir: scratch, storageNodes: 1, replicas: 1, targetsPerNode: 1 });
    }
    const meta = args.meta ?? cluster!.metaAddresses;
    client = await SpindleClient.connect({ meta, token: cluster?.clientToken });
    const canary = Buffer.alloc(256 * 1024, 'fuzz canary');
    await client.writeFile('/fuzz-bench-canary', canary);
    const servers = await serversOf(meta, cluster);
    const memoryBefore = [servers.metaPid, ...servers.storage.map((s) => s.pid)].map((pid) =>
      pid === undefined ? undefined : residentMiB(pid),
    );
    // The cluster's own tokens, or the ones this machine holds for --meta (credentials file, $SPINDLE_TOKEN).
    const admin = cluster?.adminToken ?? resolveToken({ metaAddress: meta, role: 'admin' });
    const clientToken = cluster?.clientToken ?? resolveToken({ metaAddress: meta, role: 'client' });
    const grpc: Record<string, GrpcFuzzCounts> = {};
    const bulk: Record<string, BulkFuzzCounts> = {};
    const targets = [
      { address: meta, services: { MetaService, MgmtService } },
      ...servers.storage.map((s) => ({ address: s.addr, services: { StorageService, KvStoreService } })),
    ];
    for (const [i, target] of targets.entries()) {
      process.stderr.write(`spindle bench fuzz: gRPC ${target.address}…\n`);
      grpc[`${target.address} admin`] = await fuzzGrpcMethods({
        ...target,
        seed: args.seed * 1000 + i,
        inputsPerMethod: args.inputs,
        token: admin,
      });
      if (admin !== undefined) {
        grpc[`${target.address} no token`] = await fuzzGrpcMethods({
          ...target,
          seed: args.seed * 1000 + 500 + i,
          inputsPerMethod: 4,
        });
      }
    }
    for (const [i, node] of servers.storage.entries()) {
      if (node.bulk === undefined) continue;
      process.stderr.write(`spindle bench fuzz: bulk ${node.bulk}…\n`);
      bulk[node.bulk] = await fuzzBulkPort({
        address: node.bulk,
        seed: args.seed * 1000 + 900 + i,
        streams: args.streams,
        credential: clientToken,
      });
    }
    const alive = [servers.metaPid, ...servers.storage.map((s) => s.pid)].every(
      (pid) => pid === undefined || processAlive(pid),
    );
    const reader = await SpindleClient.connect({ meta, token: cluster?.clientToken });
    const canaryReads = (await reader.readFile('/fuzz-bench-canary')).equals(canary);
    await reader.close();
    const memoryAfter = [servers.metaPid, ...servers.storage.map((s) => s.pid)].map((pid) =>
      pid === undefined ? undefined : residentMiB(pid),
    );
    const untyped = Object.values(grpc).flatMap((counts) => counts.internal);
    const bulkInternal = Object.values(bulk).reduce((sum, counts) => sum + (counts.errorAnswers.INTERNAL ?? 0), 0);
    const unauthenticatedOnly = Object.entries(grpc)
      .filter(([name]) => name.endsWith('no token'))
      .every(([, counts]) => counts.byStatus.UNAUTHENTICATED === counts.calls);
    const ok = alive && canaryReads && untyped.length === 0 && bulkInternal === 0 && unauthenticatedOnly;
    const summary = {
      seed: args.seed,
      ok,
      alive,
      canaryReads,
      unauthenticatedOnly,
      grpc,
      bulk,
      residentMiB: { before: memoryBefore, after: memoryAfter },
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return ok ? 0 : 1;
  } finally {
    await client?.close();
    await cluster?.stop();
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  }
}
