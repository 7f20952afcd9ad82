// The Checkpoints service of a real `spindle agent` process against a real cluster, over gRPC as
// another language would use it: two ranks stream their shards (one rank also adopts a file it
// wrote itself), the last to finish commits; List, Load and ReadShard (whole and a range) return
// what was written; a shard written through a real `spindle mount` into the staging path Begin
// handed out is adopted and read back; a damaged shard is DATA_LOSS naming it; bad input is
// INVALID_ARGUMENT naming the field (or NOT_FOUND / ALREADY_EXISTS) and leaves the save usable.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, fsyncSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { GrpcStatus } from '../../common/grpc-status.js';
import { useCluster } from '../harness/cluster.js';
import { type AgentProcess, startAgentProcess } from './agent-process.js';
import { CheckpointsCaller, type MountProcess, startMountProcess } from './checkpoints-testing.js';

const HAS_FUSE = existsSync('/dev/fuse');
if (!HAS_FUSE) console.warn('test/agent/checkpoints: the mount test is skipped: /dev/fuse does not exist here');

const MiB = 1024 * 1024;
const getCluster = useCluster({ storageNodes: 3, replicas: 2, targetsPerNode: 2 });
let agent: AgentProcess;
let caller: CheckpointsCaller;
let client: SpindleClient;

beforeAll(async () => {
  client = await getCluster().client();
  agent = await startAgentProcess(['--meta', getCluster().metaAddress, '--preset', 'test']);
  caller = new CheckpointsCaller(agent.ready.agent);
}, 120_000);

afterAll(async () => {
  caller?.close();
  if (agent !== undefined) expect(await agent.stop()).toBe(0);
});

async function failure(call: Promise<unknown>): Promise<ServiceError> {
  const error = await call.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error, 'the call should have failed').toBeDefined();
  return error as ServiceError;
}

describe('Checkpoints service (agent process)', () => {
  it('is served beside the Loader', () => {
    expect(agent.ready.services).toContain('spindle.Checkpoints');
  });

  it('saves two ranks (streamed and adopted shards), commits on the last finish, lists, loads and reads', async () => {
    const dir = '/ckpt-agent/two-ranks';
    const model0 = randomBytes(3 * MiB + 17);
    const model1 = randomBytes(200_000);
    const extra1 = randomBytes(70_000);
    const r0 = await caller.begin({ dir, step: 100, worldSize: 2, rank: 0, saveId: 'job1' });
    const r1 = await caller.begin({ dir, step: 100, worldSize: 2, rank: 1, saveId: 'job1' });
    expect(r0.stagingPath).toBe(`${dir}/.step-000000000100.saving-job1/rank-0`);
    expect(r1.stagingPath).toBe(`${dir}/.step-000000000100.saving-job1/rank-1`);
    const pieces = [model0.subarray(0, MiB), model0.subarray(MiB, 3 * MiB), model0.subarray(3 * MiB)];
    const info0 = await caller.writeShard(r0.save, 'model.bin', pieces);
    expect(info0).toMatchObject({ rank: 0, name: 'model.bin', bytes: model0.length });
    expect(await caller.writeShard(r1.save, 'model.bin', [model1])).toMatchObject({ rank: 1, bytes: model1.length });
    // Rank 1 also writes a file itself into its staging path (here with the client) and adopts it.
    await client.writeFile(`${r1.stagingPath}/extra.bin`, extra1);
    expect(await caller.adoptShard(r1.save, 'extra.bin')).toMatchObject({ rank: 1, name: 'extra.bin', bytes: 70_000 });
    expect(await caller.list(dir)).toEqual([]);

    const first = await caller.finish(r0.save, JSON.stringify({ loss: 0.5 }));
    expect(first).toMatchObject({ committed: false, missingRanks: [1] });
    const last = await caller.finish(r1.save, JSON.stringify({ loss: 0.7 }));
    expect(last).toMatchObject({ committed: true, committer: true });
    expect(last.manifest).toMatchObject({ step: 100, worldSize: 2, saveId: 'job1', userMetadataJson: '{"loss":0.5}' });
    expect(await caller.list(dir)).toEqual([100]);

    const manifest = await caller.load(dir);
    expect(manifest.shards).toEqual([
      { rank: 0, name: 'model.bin', bytes: model0.length, crc32c: info0.crc32c },
      { rank: 1, name: 'model.bin', bytes: model1.length, crc32c: expect.any(Number) },
      { rank: 1, name: 'extra.bin', bytes: 70_000, crc32c: expect.any(Number) },
    ]);
    expect(await caller.load(dir, 100)).toEqual(manifest);
    const whole = await caller.readShard({ dir, step: 100, rank: 0, name: 'model.bin' });
    expect(whole.equals(model0)).toBe(true);
    const range = await caller.readShard({ dir, step: 100, rank: 0, name: 'model.bin', offset: MiB - 5, length: MiB });
    expect(range.equals(model0.subarray(MiB - 5, 2 * MiB - 5))).toBe(true);
    expect((await caller.readShard({ dir, step: 100, rank: 1, name: 'extra.bin' })).equals(extra1)).toBe(true);
    // The handles are spent.
    expect((await failure(caller.finish(r0.save))).code).toBe(GrpcStatus.NOT_FOUND);

    await caller.delete(dir, 100);
    expect(await caller.list(dir)).toEqual([]);
  });

  it.skipIf(!HAS_FUSE)(
    'adopts a shard written through a real spindle mount into the staging path',
    async () => {
      const work = mkdtempSync(join(tmpdir(), 'spindle-ckpt-mount-'));
      const mnt = join(work, 'mnt');
      mkdirSync(mnt);
      let mount: MountProcess | undefined;
      try {
        mount = await startMountProcess(mnt, getCluster().metaAddress);
        const dir = '/ckpt-agent/mounted';
        const begun = await caller.begin({ dir, step: 5 });
        const bytes = randomBytes(5 * MiB + 3);
        const fd = openSync(join(mnt, begun.stagingPath, 'optim.bin'), 'wx');
        try {
          writeSync(fd, bytes);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        expect(await caller.adoptShard(begun.save, 'optim.bin')).toMatchObject({
          name: 'optim.bin',
          bytes: bytes.length,
        });
        expect(await caller.finish(begun.save)).toMatchObject({ committed: true });
        const read = await caller.readShard({ dir, step: 5, rank: 0, name: 'optim.bin' });
        expect(read.equals(bytes)).toBe(true);
      } finally {
        await mount?.stop();
        rmSync(work, { recursive: true, force: true });
      }
    },
    120_000,
  );

  it('reads a damaged shard whole as DATA_LOSS naming it (a range still reads)', async () => {
    const dir = '/ckpt-agent/damaged';
    const bytes = randomBytes(100_000);
    const begun = await caller.begin({ dir, step: 3 });
    await caller.writeShard(begun.save, 'model.bin', [bytes]);
    await caller.finish(begun.save);
    const handle = await client.open(`${dir}/step-000000000003/rank-0/model.bin`, 'r+');
    await handle.write(Buffer.from([bytes[50_000]! ^ 0xff]), 0, 1, 50_000);
    await handle.close();
    const damaged = await failure(caller.readShard({ dir, step: 3, rank: 0, name: 'model.bin' }));
    expect(damaged.code).toBe(GrpcStatus.DATA_LOSS);
    expect(damaged.details).toMatch(/shard rank-0\/model\.bin of step 3 is damaged/);
    const range = await caller.readShard({ dir, step: 3, rank: 0, name: 'model.bin', offset: 0, length: 1000 });
    expect(range.equals(bytes.subarray(0, 1000))).toBe(true);
  });

  it('refuses bad input naming the field, changing nothing; the save stays usable', async () => {
    const dir = '/ckpt-agent/bad-input';
    const invalid = async (call: Promise<unknown>, pattern: RegExp) => {
      const error = await failure(call);
      expect(error.code, error.details).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(error.details).toMatch(pattern);
    };
    await invalid(caller.begin({ dir: 'relative', step: 1 }), /dir must be an absolute/);
    await invalid(caller.begin({ dir, step: 1, worldSize: 2, rank: 2 }), /rank must be 0 \.\. 1/);
    await invalid(caller.begin({ dir, step: 1, worldSize: 0 }), /world_size must be at least 1/);
    await invalid(caller.begin({ dir, step: 10 ** 12 }), /step must be/);
    await invalid(caller.begin({ dir, step: 1, saveId: 'a b' }), /save_id must be/);
    await invalid(caller.begin({ dir, step: 1, keepEvery: 2 }), /keep_every needs keep_last/);
    expect(await client.exists(dir)).toBe(false);

    const begun = await caller.begin({ dir, step: 1 });
    await invalid(caller.writeShard(begun.save, '../escape', [Buffer.from('x')]), /name/);
    await invalid(caller.writeShard(begun.save, '', [Buffer.from('x')]), /name is required/);
    await invalid(caller.finish(begun.save, '{not json'), /user_metadata_json must be JSON/);
    const missing = await failure(caller.adoptShard(begun.save, 'never-written.bin'));
    expect(missing.code).toBe(GrpcStatus.NOT_FOUND);
    expect(missing.details).toMatch(/has no file never-written\.bin/);
    const unknown = await failure(caller.writeShard('no-such-handle', 'model.bin', [Buffer.from('x')]));
    expect(unknown.code).toBe(GrpcStatus.NOT_FOUND);
    expect(unknown.details).toMatch(/save: this agent has no open save/);
    // After all of that the save still works.
    await caller.writeShard(begun.save, 'model.bin', [Buffer.from('fine')]);
    expect(await caller.finish(begun.save)).toMatchObject({ committed: true });

    const again = await failure(caller.begin({ dir, step: 1 }));
    expect(again.code).toBe(GrpcStatus.ALREADY_EXISTS);
    const notCommitted = await failure(caller.load(dir, 2));
    expect(notCommitted.code).toBe(GrpcStatus.NOT_FOUND);
    expect(notCommitted.details).toMatch(/step 2 is not committed/);
    const noShard = await failure(caller.readShard({ dir, step: 1, rank: 0, name: 'other.bin' }));
    expect(noShard.code).toBe(GrpcStatus.NOT_FOUND);
    await invalid(caller.readShard({ dir, step: 1, rank: 0, name: 'model.bin', offset: 5 }), /offset must be/);
  });

  it('a WriteShard cancelled midway fails the save (never a truncated shard); it can then be aborted', async () => {
    const dir = '/ckpt-agent/cancelled';
    const begun = await caller.begin({ dir, step: 4 });
    const call = caller.raw.writeShard(() => undefined);
    call.write({ save: begun.save, name: 'model.bin', data: randomBytes(1000), last: false });
    // Cancelled only once the agent has begun writing the shard's file.
    while (!(await client.exists(`${begun.stagingPath}/model.bin`))) await new Promise((r) => setTimeout(r, 20));
    call.cancel();
    const finished = await failure(caller.finish(begun.save));
    expect(finished.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(finished.details).toMatch(/failed earlier .*the shard is not recorded.*abort\(\) it and save again/);
    await caller.abort(begun.save);
    expect(await caller.list(dir)).toEqual([]);
  });

  it('a stopping agent aborts nothing; the next commit in the directory collects its abandoned save', async () => {
    const dir = '/ckpt-agent/agent-gone';
    const other = await startAgentProcess(['--meta', getCluster().metaAddress, '--preset', 'test']);
    const otherCaller = new CheckpointsCaller(other.ready.agent);
    let staging: string;
    try {
      const begun = await otherCaller.begin({ dir, step: 1 });
      await otherCaller.writeShard(begun.save, 'model.bin', [randomBytes(1000)]);
      staging = begun.stagingPath.replace(/\/rank-0$/, '');
    } finally {
      otherCaller.close();
      expect(await other.stop()).toBe(0);
    }
    expect(await client.exists(staging)).toBe(true);
    const next = await caller.begin({ dir, step: 2 });
    await caller.writeShard(next.save, 'model.bin', [randomBytes(10)]);
    expect(await caller.finish(next.save)).toMatchObject({ committed: true, committer: true });
    expect(await client.exists(staging)).toBe(false);
    expect(await caller.list(dir)).toEqual([2]);
  });

  it('aborts a save: its staging directory goes and its handle is spent', async () => {
    const dir = '/ckpt-agent/aborted';
    const begun = await caller.begin({ dir, step: 9 });
    await caller.writeShard(begun.save, 'model.bin', [randomBytes(1000)]);
    expect(await client.exists(begun.stagingPath)).toBe(true);
    await caller.abort(begun.save);
    expect(await client.exists(begun.stagingPath.replace(/\/rank-0$/, ''))).toBe(false);
    expect((await failure(caller.finish(begun.save))).code).toBe(GrpcStatus.NOT_FOUND);
    expect(await caller.list(dir)).toEqual([]);
  });
});
