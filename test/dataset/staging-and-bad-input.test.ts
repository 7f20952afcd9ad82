// Staging directories and bad input on a real cluster: a dataset being packed is FAILED_PRECONDITION
// "still being packed", an abandoned one FAILED_PRECONDITION "abandoned" until a pack or
// removeDataset collects it; live packs are never collected. Every bad argument to the writer and
// reader is INVALID_ARGUMENT naming the field and changes nothing in the namespace.
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import {
  DatasetWriter,
  type StagingOwner,
  collectAbandonedStaging,
  openDataset,
  removeDataset,
} from '../../client/loader/index.js';
import { stagingDirName } from '../../client/loader/dataset/format.js';
import { ManualClock } from '../../common/clock.js';
import { ErrorCode } from '../../common/errors.js';
import { useCluster } from '../harness/cluster.js';
import { expectError, packSamples, readAll, sampleBytes } from './support.js';

const cluster = useCluster();
let client: SpindleClient;
const HOUR_MS = 60 * 60 * 1000;

beforeAll(async () => {
  client = await cluster().client();
  await client.mkdir('/st');
  await client.mkdir('/bad');
  await client.writeFile('/bad/file', 'not a directory');
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  return child.pid!;
}

async function fakeStaging(parent: string, name: string, owner?: Partial<StagingOwner>): Promise<string> {
  const path = `${parent}/${stagingDirName(name, Math.random().toString(16).slice(2, 10))}`;
  await client.mkdir(path);
  if (owner !== undefined) {
    const full = { host: hostname(), pid: process.pid, startedAt: new Date().toISOString(), dest: `${parent}/${name}` };
    await client.writeFile(`${path}/owner.json`, JSON.stringify({ ...full, ...owner }));
  }
  await client.writeFile(`${path}/shard-000000.bin`, 'partial');
  return path;
}

async function listing(dir: string): Promise<string[]> {
  return (await client.readdir(dir)).sort();
}

describe('staging directories', () => {
  it('a pack in progress is "still being packed" and never collected; abort removes it', async () => {
    const writer = await DatasetWriter.create(client, '/st/live');
    await writer.add(sampleBytes(1, 100));
    await expectError(
      openDataset(client, '/st/live'),
      ErrorCode.FAILED_PRECONDITION,
      'still being packed',
      `pid ${process.pid}`,
      'wait for the pack to finish',
    );
    expect(await collectAbandonedStaging(client, '/st')).toEqual([]);
    await expectError(removeDataset(client, '/st/live'), ErrorCode.FAILED_PRECONDITION, 'still being packed');
    expect(await client.exists(writer.stagingPath)).toBe(true);
    await writer.abort();
    await writer.abort();
    expect(await client.exists(writer.stagingPath)).toBe(false);
    await expectError(openDataset(client, '/st/live'), ErrorCode.NOT_FOUND, '/st/live does not exist');
  });

  it('a pack whose process died is abandoned until rm or the next pack collects it', async () => {
    const pid = deadPid();
    const staging = await fakeStaging('/st', 'dead', { pid });
    await expectError(
      openDataset(client, '/st/dead'),
      ErrorCode.FAILED_PRECONDITION,
      'abandoned',
      `pid ${pid}`,
      'spindle dataset rm /st/dead',
    );
    const removed = await removeDataset(client, '/st/dead');
    expect(removed.removed).toBeUndefined();
    expect(removed.collected.map((dir) => dir.path)).toEqual([staging]);
    await expectError(openDataset(client, '/st/dead'), ErrorCode.NOT_FOUND);

    const again = await fakeStaging('/st', 'dead', { pid: deadPid() });
    const writer = await DatasetWriter.create(client, '/st/dead');
    expect(writer.collected.map((dir) => dir.path)).toEqual([again]);
    await writer.add(Buffer.from('fresh'));
    await writer.publish();
    expect((await readAll(client, '/st/dead')).map((s) => s.data.toString())).toEqual(['fresh']);
    expect((await listing('/st')).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('a pack owned elsewhere is abandoned only when too old; one without an owner after a grace', async () => {
    const old = await fakeStaging('/st', 'far', {
      host: 'another-host',
      pid: 1,
      startedAt: new Date(Date.now() - 25 * HOUR_MS).toISOString(),
    });
    const recent = await fakeStaging('/st', 'near', { host: 'another-host', pid: 1 });
    const ownerless = await fakeStaging('/st', 'orphan');
    await expectError(openDataset(client, '/st/near'), ErrorCode.FAILED_PRECONDITION, 'on host another-host');
    expect((await collectAbandonedStaging(client, '/st')).map((dir) => dir.path)).toEqual([old]);
    expect(await client.exists(recent)).toBe(true);
    expect(await client.exists(ownerless)).toBe(true);
    const later = new ManualClock(Date.now() + HOUR_MS);
    expect((await collectAbandonedStaging(client, '/st', { clock: later })).map((dir) => dir.path)).toEqual([
      ownerless,
    ]);
    const collected = await collectAbandonedStaging(client, '/st', { clock: later, maxAgeMs: HOUR_MS / 2 });
    expect(collected.map((dir) => dir.path)).toEqual([recent]);
  });
});

describe('bad input changes nothing', () => {
  it('DatasetWriter.create refuses bad destinations and options, naming the field', async () => {
    const before = await listing('/bad');
    const cases: [string, object, ErrorCode, string][] = [
      ['relative/path', {}, ErrorCode.INVALID_ARGUMENT, 'dest'],
      ['/bad//x', {}, ErrorCode.INVALID_ARGUMENT, 'dest'],
      ['/bad/x/', {}, ErrorCode.INVALID_ARGUMENT, 'dest'],
      ['/bad/./x', {}, ErrorCode.INVALID_ARGUMENT, 'dest'],
      ['/', {}, ErrorCode.INVALID_ARGUMENT, 'dest'],
      ['/missing/x', {}, ErrorCode.INVALID_ARGUMENT, 'spindle mkdir -p /missing'],
      ['/bad/file/x', {}, ErrorCode.INVALID_ARGUMENT, 'not a directory'],
      [`/bad/${'n'.repeat(240)}`, {}, ErrorCode.INVALID_ARGUMENT, 'too long'],
      ['/bad/file', {}, ErrorCode.EXISTS, 'spindle dataset rm /bad/file'],
      ['/bad/x', { shardBytes: 0 }, ErrorCode.INVALID_ARGUMENT, 'shardBytes'],
      ['/bad/x', { shardBytes: 1.5 }, ErrorCode.INVALID_ARGUMENT, 'shardBytes'],
      ['/bad/x', { shardBytes: '1MiB' }, ErrorCode.INVALID_ARGUMENT, 'shardBytes'],
      ['/bad/x', { sampleEncoding: 'zip' }, ErrorCode.INVALID_ARGUMENT, 'sampleEncoding'],
    ];
    for (const [dest, options, code, text] of cases) {
      await expectError(DatasetWriter.create(client, dest, options), code, text);
      expect(await listing('/bad')).toEqual(before);
    }
  });

  it('add() refuses bad samples and keys, and the pack goes on without them', async () => {
    const writer = await DatasetWriter.create(client, '/bad/samples');
    /** Claims 4 GiB without allocating them. */
    class HugeSample extends Uint8Array {
      override get length(): number {
        return 2 ** 32;
      }
    }
    await expectError(writer.add('text' as unknown as Uint8Array), ErrorCode.INVALID_ARGUMENT, 'data');
    await expectError(writer.add(new HugeSample(1)), ErrorCode.INVALID_ARGUMENT, 'data', '4 GiB - 1');
    await expectError(writer.add(Buffer.from('x'), ''), ErrorCode.INVALID_ARGUMENT, 'key');
    await expectError(writer.add(Buffer.from('x'), 'k'.repeat(4097)), ErrorCode.INVALID_ARGUMENT, 'key', '4096');
    await expectError(writer.add(Buffer.from('x'), 7 as unknown as string), ErrorCode.INVALID_ARGUMENT, 'key');
    await writer.add(Buffer.from('kept'), 'k'.repeat(4096));
    const manifest = await writer.publish();
    expect(manifest.samples).toBe(1);
    expect(await readAll(client, '/bad/samples')).toEqual([{ data: Buffer.from('kept'), key: 'k'.repeat(4096) }]);
    await expectError(writer.add(Buffer.from('late')), ErrorCode.FAILED_PRECONDITION, 'already published');
  });

  it('publishing an empty dataset is refused and leaves nothing behind', async () => {
    const before = await listing('/bad');
    const writer = await DatasetWriter.create(client, '/bad/empty');
    await expectError(writer.publish(), ErrorCode.INVALID_ARGUMENT, 'empty');
    expect(await listing('/bad')).toEqual(before);
  });

  it('openDataset and removeDataset refuse what is not a dataset; the reader checks its arguments', async () => {
    await client.mkdir('/bad/plain');
    await client.writeFile('/bad/plain/data.txt', 'hello');
    await client.mkdir('/bad/other');
    await client.writeFile('/bad/other/manifest.json', '{"format":"something-else"}');
    for (const path of ['/bad/plain', '/bad/file', '/bad/other']) {
      await expectError(openDataset(client, path), ErrorCode.INVALID_ARGUMENT, `${path} is not a dataset`);
      await expectError(removeDataset(client, path), ErrorCode.INVALID_ARGUMENT, 'not a dataset');
      expect(await client.exists(path)).toBe(true);
    }
    expect(await listing('/bad/plain')).toEqual(['data.txt']);
    await expectError(
      openDataset(client, '/bad/samples', { indexCacheBytes: -1 }),
      ErrorCode.INVALID_ARGUMENT,
      'indexCacheBytes',
    );
    const dataset = await openDataset(client, '/bad/samples');
    await expectError(dataset.entries([1]), ErrorCode.INVALID_ARGUMENT, 'indices[0]');
    await expectError(dataset.entries([0, 0.5]), ErrorCode.INVALID_ARGUMENT, 'indices[1]');
    await expectError(dataset.shard(1), ErrorCode.INVALID_ARGUMENT, 'shard');
    await dataset.close();
    await expectError(dataset.entries([0]), ErrorCode.BAD_FILE_HANDLE, 'closed');
    await packSamples(client, '/bad/removable', [{ data: Buffer.from('x') }]);
    expect((await removeDataset(client, '/bad/removable')).removed).toBe('/bad/removable');
    expect(await client.exists('/bad/removable')).toBe(false);
  });
});
