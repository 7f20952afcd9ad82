// `spindle dataset …` as a user runs it (the built bin/spindle.mjs against a real cluster): pack a
// directory, a JSONL file and a tar made by the system tar, and read each back with the library;
// info, verify (exit 1 listing the damaged sample) and rm; bad input exits with its code and changes
// nothing; a pack killed with SIGKILL leaves no DEST, is reported abandoned, and the next pack
// collects it and publishes.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { decodeParts, openDataset } from '../../client/loader/index.js';
import { ErrorCode } from '../../common/errors.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { pidAlive, useCluster } from '../harness/cluster.js';
import { expectError, readAll, sampleBytes } from './support.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'spindle.mjs');
const MiB = 1024 * 1024;

const cluster = useCluster();
let client: SpindleClient;
let work: string;
const started = new Set<number>();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spindle(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: work,
      env: { ...process.env, SPINDLE_META: cluster().metaAddress },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.add(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'spindle-dataset-cli-'));
  client = await cluster().client();
  await client.mkdir('/cli');
});

afterAll(() => {
  for (const pid of started) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

describe('spindle dataset pack', () => {
  it('packs a directory: one sample per file, keyed by its relative path', async () => {
    const src = join(work, 'images');
    mkdirSync(join(src, 'cats'), { recursive: true });
    writeFileSync(join(src, 'cats', 'b.jpg'), sampleBytes(1, 3000));
    writeFileSync(join(src, 'cats', 'a.jpg'), sampleBytes(2, 70_000));
    writeFileSync(join(src, 'readme.txt'), 'hello');
    const result = await spindle(['dataset', 'pack', 'images', '/cli/images', '--no-progress']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const line = JSON.parse(result.stdout);
    expect(line).toMatchObject({ dataset: '/cli/images', samples: 3, bytes: 73_005, shards: 1 });
    expect(line.id).toMatch(/^[0-9a-f]{16}$/);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    const back = await readAll(client, '/cli/images');
    expect(back.map((s) => s.key)).toEqual(['cats/a.jpg', 'cats/b.jpg', 'readme.txt']);
    expect(back[0]!.data.equals(sampleBytes(2, 70_000))).toBe(true);
  });

  it('packs a JSONL file: one sample per non-blank line', async () => {
    writeFileSync(join(work, 'train.jsonl'), '{"text":"a"}\n\n{"__key__":"doc-2","text":"b"}\n{"text":"c"}');
    const result = await spindle(['dataset', 'pack', 'train.jsonl', '/cli/train', '--shard-size', '64KiB']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ samples: 3 });
    const back = await readAll(client, '/cli/train');
    expect(back.map((s) => [s.key, s.data.toString()])).toEqual([
      ['1', '{"text":"a"}'],
      ['doc-2', '{"__key__":"doc-2","text":"b"}'],
      ['4', '{"text":"c"}'],
    ]);
  });

  it('packs a tar made by tar into parts samples grouped by key', async () => {
    const src = join(work, 'wds');
    mkdirSync(src);
    const files: Record<string, Buffer> = {
      'a.jpg': sampleBytes(3, 5000),
      'a.cls': Buffer.from('1'),
      'b.jpg': sampleBytes(4, 700),
      'b.cls': Buffer.from('0'),
    };
    for (const [name, data] of Object.entries(files)) writeFileSync(join(src, name), data);
    execFileSync('tar', ['-cf', join(work, 'shard-0.tar'), '-C', src, ...Object.keys(files)]);
    const result = await spindle(['dataset', 'pack', 'shard-0.tar', '/cli/wds', '--progress']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('packed 2 samples');
    const dataset = await openDataset(client, '/cli/wds');
    expect(dataset.manifest.sampleEncoding).toBe('parts');
    await dataset.close();
    const back = await readAll(client, '/cli/wds');
    expect(back.map((s) => s.key)).toEqual(['a', 'b']);
    for (const [i, key] of ['a', 'b'].entries()) {
      const parts = decodeParts(back[i]!.data);
      expect([...parts.keys()]).toEqual(['jpg', 'cls']);
      expect(parts.get('jpg')!.equals(files[`${key}.jpg`]!)).toBe(true);
      expect(parts.get('cls')!.equals(files[`${key}.cls`]!)).toBe(true);
    }
  });

  it('bad input: exit code and one line saying what to do; nothing changes', async () => {
    writeFileSync(join(work, 'bad.jsonl'), '{"text":"a"}\n');
    writeFileSync(join(work, 'bad.tar'), Buffer.alloc(1024));
    await client.mkdir('/cli/taken');
    const before = (await client.readdir('/cli')).sort();
    const cases: [string[], number, string][] = [
      [['dataset', 'pack', 'missing-dir', '/cli/x'], 3, 'missing-dir'],
      [['dataset', 'pack', 'bad.jsonl', '/cli/taken'], 4, 'spindle dataset rm /cli/taken'],
      [['dataset', 'pack', 'bad.jsonl', '/nope/x'], 2, 'spindle mkdir -p /nope'],
      [['dataset', 'pack', 'bad.jsonl', '/cli/x', '--shard-size', '1KiB'], 2, 'at least 64KiB'],
      [['dataset', 'pack', 'bad.jsonl', '/cli/x', '--format', 'csv'], 2, 'choices'],
      [['dataset', 'pack', 'bad.tar', '/cli/x', '--format', 'dir'], 2, '--format dir needs a directory'],
      [['dataset', 'info', '/cli/nothing'], 3, 'dataset /cli/nothing does not exist'],
      [['dataset', 'rm', '/cli'], 2, '/cli is not a dataset'],
    ];
    for (const [args, code, text] of cases) {
      const result = await spindle(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(code);
      expect(result.stderr).toContain(text);
      expect(result.stdout).toBe('');
      expect((await client.readdir('/cli')).sort()).toEqual(before);
    }
  });
});

describe('spindle dataset info, verify, rm', () => {
  it('info shows the dataset, verify finds a damaged sample, rm removes it', async () => {
    const info = await spindle(['dataset', 'info', '/cli/images']);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/samples\s+3/);
    expect(info.stdout).toContain('shard-000000.bin');
    const json = JSON.parse((await spindle(['dataset', 'info', '/cli/images', '--json'])).stdout);
    expect(json).toMatchObject({ path: '/cli/images', samples: 3, format: 'spindle-dataset' });

    const clean = await spindle(['dataset', 'verify', '/cli/images', '--no-progress']);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toContain('ok: /cli/images: 3 samples');

    const handle = await client.open('/cli/images/shard-000000.bin', 'r+');
    await handle.writeBytes(Buffer.from([0xee]), 10);
    await handle.close();
    const damaged = await spindle(['dataset', 'verify', '/cli/images']);
    expect(damaged.code).toBe(1);
    expect(damaged.stdout).toContain('sample 0 (bytes 0..70000 of shard-000000.bin) fails its CRC32C check');
    expect(damaged.stderr).toContain('the dataset is damaged (1 problem(s))');

    const removed = await spindle(['dataset', 'rm', '/cli/images']);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toBe('removed /cli/images\n');
    expect(await client.exists('/cli/images')).toBe(false);
  });
});

describe('a pack killed with SIGKILL', () => {
  it('leaves no dataset, is reported abandoned, and the next pack collects it', async () => {
    const src = join(work, 'big');
    mkdirSync(src);
    for (let i = 0; i < 48; i++) writeFileSync(join(src, `f${String(i).padStart(3, '0')}`), sampleBytes(i, 2 * MiB));
    await client.mkdir('/kill');
    const child = spawn(process.execPath, [BIN, 'dataset', 'pack', 'big', '/kill/big', '--no-progress'], {
      cwd: work,
      env: { ...process.env, SPINDLE_META: cluster().metaAddress },
      stdio: 'ignore',
    });
    started.add(child.pid!);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Kill once its staging directory has an owner and a shard.
    let staging: string | undefined;
    const deadlineMs = Date.now() + 30_000;
    while (staging === undefined && Date.now() < deadlineMs) {
      const name = (await client.readdir('/kill')).find((entry) => entry.startsWith('.big.packing-'));
      if (name !== undefined && (await client.exists(`/kill/${name}/shard-000000.bin`))) staging = `/kill/${name}`;
      else await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(staging, 'the pack made its staging directory').toBeDefined();
    child.kill('SIGKILL');
    await exited;

    expect(await client.exists('/kill/big')).toBe(false);
    await expectError(openDataset(client, '/kill/big'), ErrorCode.FAILED_PRECONDITION, 'abandoned', `pid ${child.pid}`);
    writeFileSync(join(work, 'small.jsonl'), '{"n":1}\n');
    const next = await spindle(['dataset', 'pack', 'small.jsonl', '/kill/big', '--no-progress']);
    expect(next.code).toBe(0);
    expect(next.stderr).toContain(`collected an abandoned pack: ${staging}`);
    expect(await client.readdir('/kill')).toEqual(['big']);
    expect((await readAll(client, '/kill/big')).map((s) => s.data.toString())).toEqual(['{"n":1}']);
  });
});
