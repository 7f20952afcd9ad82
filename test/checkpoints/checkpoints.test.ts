// Checkpoints against a real cluster: 4 ranks as 4 separate processes commit a step exactly once;
// a rank killed with SIGKILL mid-save leaves no step and its staging is collected by the next
// save; a corrupted shard byte fails readShard and verify naming the shard; retention keeps the
// last keepLast steps (and multiples of keepEvery); a committed step cannot be saved again; the
// loser of two concurrent saves of one step fails with EXISTS; bad input is refused.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Checkpoints, type SpindleClient, openCheckpoints } from '../../client/index.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { useCluster } from '../harness/cluster.js';
import { shardBytes } from './support.js';

const CHILD = fileURLToPath(new URL('./rank-child.ts', import.meta.url));
const cluster = useCluster();
let client: SpindleClient;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  client = await cluster().client();
});

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

interface RankRun {
  child: ChildProcess;
  /** Resolves with stdout once the process exits (rejects on a non-zero exit). */
  done: Promise<string>;
  /** Resolves when the process printed `line`. */
  printed(line: string): Promise<void>;
}

function runRank(dir: string, step: number, worldSize: number, rank: number, saveId: string, mode = 'normal'): RankRun {
  const args = [dir, String(step), String(worldSize), String(rank), saveId, '0', mode];
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, cluster().metaAddress, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const waiters: { line: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (data: Buffer) => {
    stdout += data.toString();
    for (const waiter of waiters) if (stdout.split('\n').includes(waiter.line)) waiter.resolve();
  });
  child.stderr!.on('data', (data: Buffer) => {
    stderr += data.toString();
  });
  const done = new Promise<string>((resolve, reject) => {
    child.on('exit', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`rank ${rank} exited with ${code ?? signal}: ${stderr}`));
    });
  });
  return {
    child,
    done,
    printed: (line) =>
      new Promise((resolve, reject) => {
        waiters.push({ line, resolve });
        done.then(() => reject(new Error(`rank ${rank} exited before printing ${line}`)), reject);
      }),
  };
}

async function expectCode(promise: Promise<unknown>, code: ErrorCode, text?: string): Promise<Error> {
  const err = await promise.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(isSpindleError(err, code), `expected ${ErrorCode[code]}, got ${String(err)}`).toBe(true);
  if (text !== undefined) expect((err as Error).message).toContain(text);
  return err as Error;
}

/** Saves `step` with every rank in this process (worldSize ranks, one shard each). */
async function saveInProcess(checkpoints: Checkpoints, step: number, worldSize = 2, saveId?: string) {
  const saves = [];
  for (let rank = 0; rank < worldSize; rank++) saves.push(await checkpoints.begin(step, { worldSize, rank, saveId }));
  for (const save of saves) await save.writeShard('w.bin', Buffer.from(`step ${step} rank ${save.rank}`));
  const results = [];
  for (const save of saves) results.push(await save.finish({ step }));
  return results;
}

describe('checkpoints', () => {
  it('4 rank processes commit a step exactly once; load and readShard return the bytes', async () => {
    const dir = '/ck/four';
    const runs = [0, 1, 2, 3].map((rank) => runRank(dir, 100, 4, rank, 'job7'));
    const outputs = await Promise.all(runs.map((run) => run.done));
    const results = outputs.map((out) => JSON.parse(out.trim().split('\n').at(-1)!));
    expect(results.filter((result) => result.committed && result.committer)).toHaveLength(1);
    const checkpoints = await openCheckpoints(client, dir);
    expect(await checkpoints.list()).toEqual([100]);
    expect(await client.readdir(dir)).toEqual(['step-000000000100']);
    const manifest = await checkpoints.load('latest');
    expect(manifest).toMatchObject({ step: 100, worldSize: 4, saveId: 'job7', userMetadata: { rank: 0, loss: 0.5 } });
    expect(manifest.shards).toHaveLength(8);
    for (const rank of [0, 1, 2, 3]) {
      for (const name of ['model.bin', 'optim.bin']) {
        const expected = shardBytes(100, rank, name);
        expect(manifest.shards).toContainEqual(expect.objectContaining({ rank, name, bytes: expected.length }));
        expect((await checkpoints.readShard(100, rank, name)).equals(expected)).toBe(true);
      }
    }
    const range = await checkpoints.readShard(100, 2, 'optim.bin', { offset: 1000, length: 5000 });
    expect(range.equals(shardBytes(100, 2, 'optim.bin').subarray(1000, 6000))).toBe(true);
    await checkpoints.verify(100);
  });

  it('a rank killed mid-save leaves no step; the next save collects its staging', async () => {
    const dir = '/ck/killed';
    const checkpoints = await openCheckpoints(client, dir);
    await saveInProcess(checkpoints, 1);
    const runs = [0, 1, 2].map((rank) => runRank(dir, 2, 4, rank, 'job8'));
    const hanging = runRank(dir, 2, 4, 3, 'job8', 'hang');
    await hanging.printed('ready');
    const results = (await Promise.all(runs.map((run) => run.done))).map((out) => JSON.parse(out.trim()));
    for (const result of results) {
      expect(result.committed).toBe(false);
      expect(result.missingRanks).toContain(3);
    }
    hanging.child.kill('SIGKILL');
    await hanging.done.catch(() => undefined);
    expect(await checkpoints.list()).toEqual([1]);
    expect(await checkpoints.latest()).toBe(1);
    await checkpoints.verify(1);
    expect(await client.readdir(dir)).toContain('.step-000000000002.saving-job8');
    await saveInProcess(checkpoints, 3);
    expect(await client.readdir(dir)).toEqual(['step-000000000001', 'step-000000000003']);
  });

  it('a corrupted shard byte fails readShard and verify naming the shard', async () => {
    const checkpoints = await openCheckpoints(client, '/ck/corrupt');
    await saveInProcess(checkpoints, 5);
    const path = '/ck/corrupt/step-000000000005/rank-1/w.bin';
    const handle = await client.open(path, 'r+');
    const original = await checkpoints.readShard(5, 1, 'w.bin');
    await handle.writeBytes(Buffer.from([original[3]! ^ 0xff]), 3);
    await handle.close();
    await expectCode(checkpoints.readShard(5, 1, 'w.bin'), ErrorCode.DATA_CORRUPTED, 'rank-1/w.bin');
    const err = await expectCode(checkpoints.verify(5), ErrorCode.DATA_CORRUPTED, 'rank-1/w.bin');
    expect(err.message).not.toContain('rank-0/w.bin');
    // A range read is not CRC-checked; the other rank's shard still reads.
    expect((await checkpoints.readShard(5, 1, 'w.bin', { offset: 0, length: 2 })).equals(original.subarray(0, 2))).toBe(
      true,
    );
    await checkpoints.readShard(5, 0, 'w.bin');
  });

  it('retention keeps the last keepLast steps, and multiples of keepEvery', async () => {
    const last = await openCheckpoints(client, '/ck/keep-last', { keepLast: 3 });
    for (let step = 1; step <= 8; step++) await saveInProcess(last, step * 10);
    expect(await last.list()).toEqual([60, 70, 80]);
    expect(await client.readdir('/ck/keep-last')).toHaveLength(3);
    const every = await openCheckpoints(client, '/ck/keep-every', { keepLast: 2, keepEvery: 4 });
    for (let step = 1; step <= 8; step++) await saveInProcess(every, step, 1);
    expect(await every.list()).toEqual([4, 7, 8]);
  });

  it('commits once every rank finished; refuses a committed step; the later concurrent save loses', async () => {
    const checkpoints = await openCheckpoints(client, '/ck/once');
    const rank0 = await checkpoints.begin(7, { worldSize: 2, rank: 0, saveId: 'a' });
    const rank1 = await checkpoints.begin(7, { worldSize: 2, rank: 1, saveId: 'a' });
    await rank0.writeShard('w.bin', Buffer.from('zero'));
    await rank1.writeShard('w.bin', Buffer.from('one'));
    expect(await rank0.finish()).toMatchObject({ committed: false, missingRanks: [1] });
    expect(await checkpoints.list()).toEqual([]);
    await expectCode(checkpoints.load(7), ErrorCode.NOT_FOUND);
    expect(await rank1.finish()).toMatchObject({ committed: true, committer: true });
    expect(await checkpoints.list()).toEqual([7]);
    await expectCode(checkpoints.begin(7, { worldSize: 1, rank: 0 }), ErrorCode.EXISTS, 'save a');

    const first = await checkpoints.begin(8, { worldSize: 1, rank: 0, saveId: 'first' });
    const second = await checkpoints.begin(8, { worldSize: 1, rank: 0, saveId: 'second' });
    await first.writeShard('w.bin', Buffer.from('1'));
    await second.writeShard('w.bin', Buffer.from('2'));
    await first.finish();
    await expectCode(second.finish(), ErrorCode.EXISTS, 'save first');
    expect((await checkpoints.load(8)).saveId).toBe('first');
    expect(await client.readdir('/ck/once')).toEqual(['step-000000000007', 'step-000000000008']);
  });

  it('captureShard copies the buffer within stagingBytes; the caller may change it once captured', async () => {
    const checkpoints = await openCheckpoints(client, '/ck/capture', { stagingBytes: 4 * 1024 * 1024 });
    const save = await checkpoints.begin(1, { worldSize: 1, rank: 0 });
    const first = shardBytes(1, 0, 'big-a.bin');
    const big = Buffer.concat(Array.from({ length: 8 }, () => first));
    const expectedBig = Buffer.from(big);
    const small = Buffer.from(first);
    const a = save.captureShard('a.bin', big);
    const b = save.captureShard('b.bin', small);
    await a.captured;
    big.fill(7);
    await b.captured;
    small.fill(9);
    expect(await a.written).toMatchObject({ name: 'a.bin', bytes: expectedBig.length });
    const bad = save.captureShard('../x', small);
    await expectCode(bad.captured, ErrorCode.INVALID_ARGUMENT, 'name');
    await expectCode(bad.written, ErrorCode.INVALID_ARGUMENT, 'name');
    expect(await save.finish()).toMatchObject({ committed: true });
    expect((await checkpoints.readShard(1, 0, 'a.bin')).equals(expectedBig)).toBe(true);
    expect((await checkpoints.readShard(1, 0, 'b.bin')).equals(first)).toBe(true);
  });

  it('refuses bad input naming the field, changing nothing', async () => {
    await expectCode(openCheckpoints(client, 'relative/dir'), ErrorCode.INVALID_ARGUMENT, 'dir');
    await expectCode(openCheckpoints(client, '/ck/bad', { keepLast: 0 }), ErrorCode.INVALID_ARGUMENT, 'keepLast');
    const checkpoints = await openCheckpoints(client, '/ck/bad');
    for (const step of [-1, 1.5, Number.NaN, 1e13]) {
      await expectCode(checkpoints.begin(step, { worldSize: 1, rank: 0 }), ErrorCode.INVALID_ARGUMENT, 'step');
    }
    await expectCode(checkpoints.begin(1, { worldSize: 0, rank: 0 }), ErrorCode.INVALID_ARGUMENT, 'worldSize');
    await expectCode(checkpoints.begin(1, { worldSize: 4, rank: 4 }), ErrorCode.INVALID_ARGUMENT, 'rank');
    await expectCode(
      checkpoints.begin(1, { worldSize: 1, rank: 0, saveId: 'a/b' }),
      ErrorCode.INVALID_ARGUMENT,
      'saveId',
    );
    expect(await client.readdir('/ck/bad')).toEqual([]);
    const save = await checkpoints.begin(1, { worldSize: 1, rank: 0 });
    for (const name of ['', '../x', '.hidden', 'a/b', 'x'.repeat(300)]) {
      await expectCode(save.writeShard(name, Buffer.from('x')), ErrorCode.INVALID_ARGUMENT, 'name');
    }
    await save.writeShard('ok.bin', Buffer.from('x'));
    await expectCode(save.writeShard('ok.bin', Buffer.from('y')), ErrorCode.INVALID_ARGUMENT, 'already wrote');
    await expectCode(save.writeShard('s', 'text' as never), ErrorCode.INVALID_ARGUMENT, 'data');
    expect(await save.finish()).toMatchObject({ committed: true });
    await expectCode(checkpoints.load(99), ErrorCode.NOT_FOUND);
    await expectCode(checkpoints.readShard(1, 0, 'nope.bin'), ErrorCode.NOT_FOUND, 'nope.bin');
    await expectCode(checkpoints.readShard(1, 1, 'ok.bin'), ErrorCode.INVALID_ARGUMENT, 'rank');
    await expectCode(checkpoints.readShard(1, 0, 'ok.bin', { offset: 5 }), ErrorCode.INVALID_ARGUMENT, 'offset');
    await expectCode(checkpoints.delete(42), ErrorCode.NOT_FOUND);
    await checkpoints.delete(1);
    expect(await client.readdir('/ck/bad')).toEqual([]);
  });
});
