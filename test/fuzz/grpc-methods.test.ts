// Every gRPC method of Meta, Mgmt, Storage and KvStore fuzzed on real processes (bench/fuzz-grpc.ts):
// seeded random and mutated messages, sent with the cluster's admin token (so they reach the
// handlers) and without any (each must be UNAUTHENTICATED when the cluster checks credentials).
// The servers must survive, answer bad input with typed errors (no INTERNAL or UNKNOWN), keep their
// memory bounded and still serve a file written before. SPINDLE_FUZZ_SEED and SPINDLE_FUZZ_INPUTS
// replay or lengthen a run (`spindle bench fuzz` runs longer ones).
import { expect, it } from 'vitest';
import { fuzzGrpcMethods, type GrpcFuzzCounts, type ServiceDefinitions } from '../../bench/fuzz-grpc.js';
import { KvStoreService, MetaService, MgmtService, StorageService } from '../../proto/index.js';
import { pidAlive, useCluster } from '../harness/cluster.js';
import { MIB, processMemory } from '../security/testing/bulk-attacker.js';

const SEED = Number(process.env.SPINDLE_FUZZ_SEED ?? 16);
const INPUTS_PER_METHOD = Number(process.env.SPINDLE_FUZZ_INPUTS ?? 24);
/** Generous: the servers hold no per-call state beyond a call; the fuzz sends a few MiB in all. */
const MEMORY_GROWTH_MAX_BYTES = 300 * MIB;

const cluster = useCluster({ storageNodes: 1, replicas: 1, targetsPerNode: 1 });

function summary(counts: GrpcFuzzCounts): string {
  return `${counts.calls} calls to ${counts.methods} methods: ${JSON.stringify(counts.byStatus)}`;
}

it('random and mutated messages at every method: typed errors, servers alive, memory bounded', async () => {
  const client = await cluster().client();
  const canary = Buffer.alloc(200 * 1024, 'canary');
  await client.writeFile('/fuzz-canary', canary);
  const metaPid = cluster().local.meta.pid;
  const storagePid = cluster().local.storage.get(1)!.pid;
  const before = { meta: processMemory(metaPid), storage: processMemory(storagePid) };
  const admin = cluster().adminToken;

  const targets: Array<{ address: string; services: ServiceDefinitions }> = [
    { address: cluster().metaAddress, services: { MetaService, MgmtService } },
    { address: cluster().nodes[0]!.addr, services: { StorageService, KvStoreService } },
  ];
  for (const [i, target] of targets.entries()) {
    const counts = await fuzzGrpcMethods({
      ...target,
      seed: SEED + i,
      inputsPerMethod: INPUTS_PER_METHOD,
      token: admin,
    });
    process.stderr.write(`fuzz grpc ${target.address} (admin token): ${summary(counts)}\n`);
    expect(counts.internal, 'answers to bad input that are not typed errors').toEqual([]);
    if (admin !== undefined) {
      const anonymous = await fuzzGrpcMethods({ ...target, seed: SEED + 10 + i, inputsPerMethod: 2 });
      process.stderr.write(`fuzz grpc ${target.address} (no token): ${summary(anonymous)}\n`);
      expect(anonymous.byStatus).toEqual({ UNAUTHENTICATED: anonymous.calls });
    }
  }

  expect(pidAlive(metaPid)).toBe(true);
  expect(pidAlive(storagePid)).toBe(true);
  const reader = await cluster().client();
  expect((await reader.readFile('/fuzz-canary')).equals(canary)).toBe(true);
  const grown = {
    meta: processMemory(metaPid).residentBytes - before.meta.residentBytes,
    storage: processMemory(storagePid).residentBytes - before.storage.residentBytes,
  };
  process.stderr.write(`fuzz grpc: RSS growth meta ${grown.meta / MIB} MiB, storage ${grown.storage / MIB} MiB\n`);
  expect(grown.meta).toBeLessThan(MEMORY_GROWTH_MAX_BYTES);
  expect(grown.storage).toBeLessThan(MEMORY_GROWTH_MAX_BYTES);
}, 300_000);
