// The local pack sources without a cluster: the tar reader against archives made by the system
// `tar` in the gnu, pax and ustar formats (long names, prefixes, sizes around block boundaries,
// directories and links skipped), WebDataset grouping into parts, JSONL lines and keys, and a
// directory's files in sorted order; each bad source is a clear error.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeParts } from '../../client/loader/index.js';
import { fileChunks } from '../../cli/dataset-sources/local-files.js';
import { openSource } from '../../cli/dataset-sources/open-source.js';
import type { SourceSample } from '../../cli/dataset-sources/source.js';
import { readTarMembers } from '../../cli/dataset-sources/tar-reader.js';
import { sampleBytes } from './support.js';

let work: string;
const signal = new AbortController().signal;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'spindle-sources-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

async function collect(
  src: string,
  format?: 'dir' | 'jsonl' | 'tar',
): Promise<{ samples: SourceSample[]; read: number }> {
  const source = await openSource(src, format, signal);
  const samples: SourceSample[] = [];
  let read = 0;
  for await (const sample of source.samples((bytes) => (read += bytes), signal)) samples.push(sample);
  expect(read).toBe(source.totalBytes);
  return { samples, read };
}

async function members(archive: string) {
  const found: { name: string; data: Buffer }[] = [];
  for await (const member of readTarMembers(
    fileChunks(archive, () => {}, signal),
    archive,
    2 ** 32 - 1,
  )) {
    found.push(member);
  }
  return found;
}

/** A tree of files whose sizes sit around 512-byte blocks, with a long path and a non-ASCII one. */
function makeTree(root: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const longDir = `${'d'.repeat(90)}/${'e'.repeat(90)}`;
  const sizes = { 'zero.bin': 0, 'one.bin': 1, 'block.bin': 512, 'block1.bin': 513, 'big.bin': 1024 * 1024 + 3 };
  for (const [i, [name, size]] of Object.entries(sizes).entries()) files.set(name, sampleBytes(i, size));
  files.set(`${longDir}/${'f'.repeat(120)}.txt`, Buffer.from('long name'));
  files.set('ünïcödé/名前.json', Buffer.from('{"x":1}'));
  // Over 100 bytes with a directory part of at most 155: ustar splits it into prefix and name.
  files.set(`${'p'.repeat(60)}/${'q'.repeat(60)}/r.txt`, Buffer.from('prefixed'));
  for (const [name, data] of files) {
    mkdirSync(join(root, name, '..'), { recursive: true });
    writeFileSync(join(root, name), data);
  }
  mkdirSync(join(root, 'empty-dir'));
  symlinkSync('one.bin', join(root, 'link.bin'));
  return files;
}

describe('readTarMembers', () => {
  for (const format of ['gnu', 'pax', 'ustar', 'posix']) {
    it(`reads every regular file of a ${format} archive made by tar, exactly`, async () => {
      const root = join(work, `tree-${format}`);
      mkdirSync(root);
      const files = makeTree(root);
      const archive = join(work, `${format}.tar`);
      const names = [...files.keys()].filter((name) => format !== 'ustar' || !name.includes('f'.repeat(120)));
      execFileSync('tar', [`--format=${format}`, '-cf', archive, '-C', root, 'empty-dir', 'link.bin', ...names]);
      const found = await members(archive);
      expect(found.map((m) => m.name)).toEqual(names);
      for (const member of found) expect(member.data.equals(files.get(member.name)!)).toBe(true);
    });
  }

  it('refuses a damaged header and a truncated archive, naming the archive', async () => {
    const root = join(work, 'tree-bad');
    mkdirSync(root);
    writeFileSync(join(root, 'a.bin'), sampleBytes(1, 2000));
    const archive = join(work, 'bad.tar');
    execFileSync('tar', ['-cf', archive, '-C', root, 'a.bin']);
    const bytes = execFileSync('cat', [archive]);
    const damaged = Buffer.from(bytes);
    damaged[10] = damaged[10]! ^ 0xff;
    writeFileSync(join(work, 'damaged.tar'), damaged);
    await expect(members(join(work, 'damaged.tar'))).rejects.toThrow(/damaged\.tar: a header whose checksum/);
    writeFileSync(join(work, 'short.tar'), bytes.subarray(0, 1500));
    await expect(members(join(work, 'short.tar'))).rejects.toThrow(/short\.tar.*ends/);
  });
});

describe('pack sources', () => {
  it('a directory: one sample per regular file, sorted, keyed by relative path', async () => {
    const root = join(work, 'dir-source');
    mkdirSync(root);
    const files = makeTree(root);
    const { samples } = await collect(root);
    expect(samples.map((s) => s.key)).toEqual([...files.keys()].sort());
    for (const sample of samples) expect(Buffer.from(sample.data).equals(files.get(sample.key!)!)).toBe(true);
  });

  it('a tar archive: consecutive members of one key form one parts sample', async () => {
    const root = join(work, 'wds');
    mkdirSync(join(root, 'train'), { recursive: true });
    const content: Record<string, string> = {
      'train/a.jpg': 'A-JPG',
      'train/a.cls': '3',
      'train/b.jpg': 'B-JPG',
      'train/b.seg.png': 'B-SEG',
      'train/b.cls': '5',
      'c.txt': 'C',
    };
    for (const [name, text] of Object.entries(content)) writeFileSync(join(root, name), text);
    const archive = join(work, 'wds.tar');
    execFileSync('tar', ['-cf', archive, '-C', root, ...Object.keys(content)]);
    const { samples } = await collect(archive);
    expect(samples.map((s) => s.key)).toEqual(['train/a', 'train/b', 'c']);
    const parts = samples.map((s) => Object.fromEntries([...decodeParts(s.data)].map(([k, v]) => [k, v.toString()])));
    expect(parts).toEqual([{ jpg: 'A-JPG', cls: '3' }, { jpg: 'B-JPG', 'seg.png': 'B-SEG', cls: '5' }, { txt: 'C' }]);
    // A directory of archives with --format tar: every *.tar, by name.
    const dir = join(work, 'tars');
    mkdirSync(dir);
    execFileSync('cp', [archive, join(dir, '2.tar')]);
    execFileSync('cp', [archive, join(dir, '1.tar')]);
    writeFileSync(join(dir, 'notes.txt'), 'not an archive');
    expect((await collect(dir, 'tar')).samples.length).toBe(6);
  });

  it('a JSONL file: non-blank lines exactly, keyed by __key__, key or line number', async () => {
    const path = join(work, 'train.jsonl');
    const text = '{"text":"one"}\n\n  \n{"__key__":"k2","key":"no"}\r\n{"key":7}\n["array"]\n{"key":""}';
    writeFileSync(path, text);
    const { samples } = await collect(path);
    expect(samples.map((s) => [s.key, Buffer.from(s.data).toString()])).toEqual([
      ['1', '{"text":"one"}'],
      ['k2', '{"__key__":"k2","key":"no"}'],
      ['7', '{"key":7}'],
      ['6', '["array"]'],
      ['7', '{"key":""}'],
    ]);
  });

  it('refuses what it cannot pack with an error that says what to do', async () => {
    await expect(openSource(join(work, 'missing'), undefined, signal)).rejects.toMatchObject({ code: 'ENOENT' });
    writeFileSync(join(work, 'data.csv'), 'a,b');
    await expect(openSource(join(work, 'data.csv'), undefined, signal)).rejects.toThrow(
      /--format jsonl or --format tar/,
    );
    await expect(openSource(work, 'jsonl', signal)).rejects.toThrow(/is a directory/);
    await expect(openSource(join(work, 'data.csv'), 'dir', signal)).rejects.toThrow(/is a file/);
    mkdirSync(join(work, 'no-tars'));
    await expect(openSource(join(work, 'no-tars'), 'tar', signal)).rejects.toThrow(/no \*\.tar files/);
    const bad = join(work, 'bad.jsonl');
    writeFileSync(bad, '{"ok":1}\n{not json}\n');
    await expect(collect(bad)).rejects.toThrow(/bad\.jsonl:2 is not valid JSON/);
  });
});
