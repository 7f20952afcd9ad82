// The `spindle` command as a user runs it (bin/spindle.mjs, real processes): `up` prints its JSON
// line, put/get of a random file round-trips with the same sha256, the file commands answer
// with the documented exit codes and `spindle: <path>: <message> (CODE)` errors, a second `up`
// on the same data dir finds the data again, and Ctrl-C (SIGINT) stops every process.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { pidAlive } from '../harness/cluster.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'spindle.mjs');
const MiB = 1024 * 1024;

interface UpLine {
  meta: string;
  metrics: string;
  metaPid: number;
  pid: number;
  storage: Array<{ id: number; addr: string; pid: number; dataDir: string }>;
  dataDir: string;
}

interface Up {
  child: ChildProcess;
  line: UpLine;
  stderr: () => string;
}

let work: string;
let running: Up | undefined;
const allPids = new Set<number>();

async function startUp(dataDir: string): Promise<Up> {
  const child = spawn(process.execPath, [BIN, 'up', '--data-dir', dataDir, '--port', '0'], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const line = await new Promise<UpLine>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(
      () => reject(new Error(`spindle up printed nothing in 120 s; stderr:\n${stderr}`)),
      120_000,
    );
    rl.once('line', (text) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text) as UpLine);
      } catch {
        reject(new Error(`spindle up printed a line that is not JSON: ${text}\nstderr:\n${stderr}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`spindle up exited with ${code} before its JSON line; stderr:\n${stderr}`));
    });
  });
  for (const pid of [line.pid, line.metaPid, ...line.storage.map((s) => s.pid)]) allPids.add(pid);
  return { child, line, stderr: () => stderr };
}

async function stopUp(up: Up, signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
  if (up.child.exitCode !== null) return up.child.exitCode;
  const exited = new Promise<number | null>((resolve) => up.child.once('exit', (code) => resolve(code)));
  up.child.kill(signal);
  return exited;
}

interface Result {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function spindle(args: string[], options: { meta?: string; input?: Buffer } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: work,
      env: { ...process.env, SPINDLE_META: options.meta ?? running!.line.meta },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
    child.stdin!.end(options.input);
  });
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'spindle-cli-'));
  running = await startUp(join(work, 'data'));
}, 180_000);

afterAll(async () => {
  if (running) await stopUp(running, 'SIGTERM');
  for (const pid of allPids) {
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('spindle up', () => {
  it('prints one JSON line with meta, metrics and each storage node', () => {
    const line = running!.line;
    expect(line.meta).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(line.metrics).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(line.dataDir).toBe(join(work, 'data'));
    expect(line.storage.map((s) => s.id).sort()).toEqual([1, 2, 3]);
    for (const s of line.storage) {
      expect(s.addr).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(s.dataDir.startsWith(join(work, 'data'))).toBe(true);
      expect(pidAlive(s.pid)).toBe(true);
    }
    expect(pidAlive(line.metaPid)).toBe(true);
  });

  it('refuses a second `up` on the same data dir', async () => {
    const second = await spindle(['up', '--data-dir', join(work, 'data'), '--port', '0']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('already running');
  });
});

describe('file commands', () => {
  const sourceFile = () => join(work, 'random.bin');
  let sourceSha: string;

  beforeAll(() => {
    const data = randomBytes(64 * MiB);
    writeFileSync(sourceFile(), data);
    sourceSha = createHash('sha256').update(data).digest('hex');
  });

  it('put then get of a 64 MiB random file round-trips with the same sha256', async () => {
    expect((await spindle(['mkdir', '-p', '/data/in'])).code).toBe(0);
    const put = await spindle(['put', sourceFile(), '/data/in/']);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    const get = await spindle(['get', '/data/in/random.bin', join(work, 'back.bin')]);
    expect(get.code).toBe(0);
    expect(await sha256File(join(work, 'back.bin'))).toBe(sourceSha);
    // A forced progress bar goes to stderr, not into the data.
    const piped = await spindle(['get', '--progress', '/data/in/random.bin', '-']);
    expect(piped.code).toBe(0);
    expect(createHash('sha256').update(piped.stdout).digest('hex')).toBe(sourceSha);
    expect(piped.stderr).toContain('get random.bin');
  }, 300_000);

  it('get into a FIFO (like /dev/null) writes through it instead of replacing it', async () => {
    expect((await spindle(['put', '-', '/fifo-src.txt'], { input: Buffer.from('through the pipe\n') })).code).toBe(0);
    const fifo = join(work, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    const received = new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      createReadStream(fifo)
        .on('data', (c) => chunks.push(c as Buffer))
        .on('end', () => resolve(Buffer.concat(chunks)))
        .on('error', reject);
    });
    const get = await spindle(['get', '/fifo-src.txt', fifo]);
    expect(get.code).toBe(0);
    expect((await received).toString()).toBe('through the pipe\n');
    expect((await stat(fifo)).isFIFO()).toBe(true);
    expect((await spindle(['rm', '/fifo-src.txt'])).code).toBe(0);
  }, 60_000);

  it('ls, stat, cat, cp, mv, du and df work and exit 0', async () => {
    expect((await spindle(['put', '-', '/data/hello.txt'], { input: Buffer.from('hello spindle\n') })).code).toBe(0);
    const ls = await spindle(['ls', '/data']);
    expect(ls.code).toBe(0);
    expect(ls.stdout.toString().split('\n').filter(Boolean)).toEqual(['hello.txt', 'in']);
    const long = await spindle(['ls', '-l', '/data']);
    expect(long.code).toBe(0);
    expect(long.stdout.toString()).toMatch(/^-rw.* 14 .* hello\.txt$/m);
    expect(long.stdout.toString()).toMatch(/^d.* in$/m);
    const stat = await spindle(['stat', '--json', '/data/in/random.bin']);
    expect(stat.code).toBe(0);
    expect(JSON.parse(stat.stdout.toString())).toMatchObject({
      path: '/data/in/random.bin',
      type: 'file',
      size: 64 * MiB,
    });
    expect((await spindle(['stat', '/data'])).stdout.toString()).toContain('Type: directory');
    const cat = await spindle(['cat', '/data/hello.txt']);
    expect(cat.stdout.toString()).toBe('hello spindle\n');
    expect((await spindle(['cp', '/data/hello.txt', '/data/copy.txt'])).code).toBe(0);
    expect((await spindle(['mv', '/data/copy.txt', '/data/in'])).code).toBe(0);
    expect((await spindle(['cat', '/data/in/copy.txt'])).stdout.toString()).toBe('hello spindle\n');
    const du = await spindle(['du', '--json', '/data']);
    expect(JSON.parse(du.stdout.toString())).toMatchObject({ path: '/data', bytes: 64 * MiB + 28, files: 3 });
    const df = await spindle(['df', '--json']);
    expect(df.code).toBe(0);
    const dfInfo = JSON.parse(df.stdout.toString()) as { sizeBytes: number; usedBytes: number };
    expect(dfInfo.sizeBytes).toBeGreaterThan(0);
    expect(dfInfo.usedBytes).toBeGreaterThanOrEqual(64 * MiB);
  }, 120_000);

  it('errors: documented exit codes and `spindle: <path>: <message> (CODE)` on stderr', async () => {
    const missing = await spindle(['stat', '/data/missing']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^spindle: \/data\/missing: .+ \(ENOENT\)$/m);
    expect((await spindle(['rm', '/data/missing'])).code).toBe(3);
    expect((await spindle(['rm', '-f', '/data/missing'])).code).toBe(0);
    expect((await spindle(['get', '/data/missing', join(work, 'never.bin')])).code).toBe(3);
    const exists = await spindle(['mkdir', '/data']);
    expect(exists.code).toBe(4);
    expect(exists.stderr).toContain('(EEXIST)');
    const isDir = await spindle(['rm', '/data/in']);
    expect(isDir.code).toBe(5);
    expect(isDir.stderr).toMatch(/spindle: \/data\/in: .*\(EISDIR\)/);
    expect((await spindle(['put', join(work, 'no-such-local-file'), '/data/x'])).code).toBe(3);
    const noLocalDir = await spindle(['get', '/data/hello.txt', join(work, 'no-dir', 'x')]);
    expect(noLocalDir.code).toBe(3);
    expect(noLocalDir.stderr).toContain('does not exist (ENOENT)');
    expect((await spindle(['ls', '--no-such-flag'])).code).toBe(2);
    expect((await spindle(['put', 'only-one-arg'])).code).toBe(2);
    expect((await spindle(['frobnicate'])).code).toBe(2);
    const unreachable = await spindle(['ls', '/'], { meta: '127.0.0.1:1' });
    expect(unreachable.code).toBe(6);
    expect(unreachable.stderr).toContain('spindle up');
    // rm -r removes a tree; the namespace is as expected afterwards.
    expect((await spindle(['rm', '-r', '/data/in'])).code).toBe(0);
    expect((await spindle(['ls', '/data'])).stdout.toString()).toBe('hello.txt\n');
  }, 180_000);
});

describe('restart and Ctrl-C', () => {
  it('Ctrl-C stops every process and exits 0; `up` again on the same data dir finds the data', async () => {
    const first = running!;
    const pids = [first.line.pid, first.line.metaPid, ...first.line.storage.map((s) => s.pid)];
    expect(await stopUp(first, 'SIGINT')).toBe(0);
    for (const pid of pids) expect(pidAlive(pid), `pid ${pid}`).toBe(false);
    expect(first.stderr()).toContain('stopping');

    running = await startUp(join(work, 'data'));
    expect(running.line.storage.map((s) => s.id).sort()).toEqual([1, 2, 3]);
    const cat = await spindle(['cat', '/data/hello.txt']);
    expect(cat.code).toBe(0);
    expect(cat.stdout.toString()).toBe('hello spindle\n');
    const second = running;
    const secondPids = [second.line.pid, second.line.metaPid, ...second.line.storage.map((s) => s.pid)];
    expect(await stopUp(second, 'SIGINT')).toBe(0);
    running = undefined;
    for (const pid of secondPids) expect(pidAlive(pid), `pid ${pid}`).toBe(false);
    expect(readFileSync(join(work, 'data', 'logs', 'meta.log'), 'utf8').length).toBeGreaterThanOrEqual(0);
  }, 180_000);
});
