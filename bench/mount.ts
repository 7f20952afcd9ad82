// Suite `mount`: the same three workloads through a FUSE mount (`spindle mount DIR` as a child
// process, as test/mount does) and through the client library (SpindleClient in a bench worker),
// in the same run on the same cluster:
//   - sequential write, 1 MiB blocks, one at a time (mount: `dd if=/dev/zero bs=1M conv=fsync`;
//     library: seq-write worker, 1 MiB blocks, depth 1);
//   - small sequential writes through the mount (`dd bs=4k conv=fsync`), with the storage Write calls
//     they became (the write-back buffer should make one per 4 MiB chunk);
//   - sequential read, 1 MiB blocks (mount: `dd bs=1M` of a file the library wrote, so the kernel
//     page cache does not hold it; library: seq-read worker, 1 MiB, depth 1);
//   - 4 KiB random reads, one in flight (mount: `fio --rw=randread --bs=4k --direct=1`, so every read
//     reaches the mount process; library: rand-read worker, 4 KiB, depth 1);
//   - 4 KiB random reads, 16 in flight (mount: the same fio with `--ioengine=libaio --iodepth=16`:
//     O_DIRECT asynchronous reads, which the kernel sends to the mount in parallel; library:
//     rand-read worker, 4 KiB, depth 16).
// Each mount row's ratio is to the raw limit (like the other suites); its ratio to the library
// figure of the same workload is in `config.vsLibrary` and in the notes.
//
// Back of the envelope: the mount adds a kernel round trip (/dev/fuse, ≈ 10–30 µs) and one more
// Node event loop (the mount process) on the same 2 cores: sequential 1 MiB transfers are bound by
// the chain like the library's (write-back collects 4 MiB chunks, readahead 16 MiB), so ≈ 0.5–1×
// the library; a 4 KiB random read pays the FUSE hop and the mount's JavaScript on top of the
// library's unary round trip: ≈ 0.3–0.7× the library's depth-1 IOPS; at depth 16 the FUSE hops of
// the reads overlap, so ≈ 0.5–1× the library at depth 16.
// Limits (same run): dd O_DIRECT write ÷ replicas (write), raw TCP loopback (sequential read), local
// page-cache pread of 4 KiB (random read).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { NODE_FLAGS, withMallocEnv } from '../cluster/index.js';
import { PACKAGE_ROOT } from '../common/package-root.js';
import { MiB, GiB, type BenchContext, type Limit } from './context.js';
import { gbPerSecond, formatFigure } from './stats.js';
import type { Suite } from './suite.js';

/** Queue depths of the 4 KiB random-read cases (fio through the mount, the rand-read worker for the library). */
const RAND_DEPTHS = [1, 16];

/** One operation summary parsed from fio's JSON output (`--output-format=json`). */
export interface FioRead {
  ops: number;
  bytes: number;
  seconds: number;
  iops: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

/** Parses the read side of the first job of fio's JSON output. Pure; throws on a job error. */
export function parseFioRead(json: string): FioRead {
  // fio may print warnings before the JSON object.
  const start = json.indexOf('{');
  if (start < 0) throw new Error(`fio printed no JSON: ${json.slice(0, 200)}`);
  const doc = JSON.parse(json.slice(start)) as { jobs?: Array<{ error?: number; read?: Record<string, unknown> }> };
  const job = doc.jobs?.[0];
  if (job === undefined || job.read === undefined) throw new Error('fio JSON has no jobs[0].read');
  if ((job.error ?? 0) !== 0) throw new Error(`fio job failed with error ${job.error}`);
  const read = job.read as {
    io_bytes?: number;
    total_ios?: number;
    runtime?: number;
    iops?: number;
    clat_ns?: { percentile?: Record<string, number> };
  };
  const seconds = (read.runtime ?? 0) / 1000;
  const ops = read.total_ios ?? 0;
  const pct = read.clat_ns?.percentile ?? {};
  const at = (p: string) => (pct[p] === undefined ? null : pct[p]! / 1e6);
  return {
    ops,
    bytes: read.io_bytes ?? 0,
    seconds,
    iops: read.iops ?? (seconds > 0 ? ops / seconds : 0),
    p50Ms: at('50.000000'),
    p99Ms: at('99.000000'),
  };
}

/** Mount figure ÷ library figure, and the note that says so. Pure. */
export function versusLibrary(mount: number, library: number | undefined): { ratio: number | null; note: string } {
  if (library === undefined || !(library > 0) || !Number.isFinite(mount))
    return { ratio: null, note: 'no library figure in this run' };
  const ratio = mount / library;
  return { ratio, note: `${formatFigure(ratio)}× the client library (same workload, same run)` };
}

/** A ratio for the config column: three significant digits, or 'n/a'. Pure. */
export function round3(ratio: number | null): number | string {
  return ratio === null ? 'n/a' : Number(ratio.toPrecision(3));
}

/** The mount's ready line (`{"mount":…,"pid":…}`), or undefined when the line is not one. Pure. */
export function parseReadyLine(line: string): { mount: string; pid: number } | undefined {
  try {
    const v = JSON.parse(line) as { mount?: unknown; pid?: unknown };
    return typeof v.mount === 'string' && typeof v.pid === 'number' ? { mount: v.mount, pid: v.pid } : undefined;
  } catch {
    return undefined;
  }
}

interface MountChild {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ seconds: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    execFile(
      cmd,
      args,
      { env: withMallocEnv(process.env), timeout: timeoutMs, maxBuffer: 16 * MiB },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve({ seconds: (performance.now() - t0) / 1000, stdout });
      },
    );
  });
}

/**
 * `spindle mount DIR --meta ADDR` as a child process; resolves on its ready line. Started with
 * `node`, so NODE_FLAGS are passed here: bin/spindle.mjs's shebang, which gives an installed
 * `spindle` the same V8 flags, does not apply.
 */
export async function startMount(dir: string, meta: string): Promise<MountChild> {
  const argv = [...NODE_FLAGS, join(PACKAGE_ROOT, 'bin', 'spindle.mjs'), 'mount', dir, '--meta', meta];
  const child = spawn(process.execPath, argv, {
    cwd: PACKAGE_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: withMallocEnv(process.env),
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-8000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const mount: MountChild = { child, exited, stderr: () => stderr };
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 90_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  if (ready === undefined || parseReadyLine(ready) === undefined) {
    await stopMount(mount, dir);
    throw new Error(`spindle mount ${dir} did not become ready: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
  }
  return mount;
}

export function mounted(dir: string): boolean {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[4] === dir);
  } catch {
    return false;
  }
}

/** SIGTERM (flush + unmount), SIGKILL after 20 s, then a lazy detach if the mount is still there. */
export async function stopMount(mount: MountChild, dir: string): Promise<void> {
  const { child } = mount;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const r = await Promise.race([
      mount.exited,
      new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), 20_000)),
    ]);
    if (r === 'timeout') {
      child.kill('SIGKILL');
      await mount.exited;
    }
  }
  if (mounted(dir))
    await run(
      'bash',
      ['-c', `fusermount3 -u -z ${JSON.stringify(dir)} || umount -l ${JSON.stringify(dir)}`],
      10_000,
    ).catch(() => undefined);
}

export const mountSuite: Suite = {
  name: 'mount',
  estimate: 'seq 1 MiB ≈ 0.5–1× the client library; 4 KiB random read ≈ 0.3–0.7× the library (QD 1), 0.5–1× (QD 16)',
  async run(ctx: BenchContext) {
    if (!existsSync('/dev/fuse')) throw new Error('no /dev/fuse on this machine: the mount suite needs FUSE');
    const fileBytes = ctx.quick ? 256 * MiB : 1 * GiB;
    const blocks = fileBytes / MiB;
    const randSeconds = ctx.quick ? 3 : 10;

    // Raw limits, before anything else loads the machine.
    const disk = await ctx.ddDirect('write', fileBytes);
    ctx.add({
      case: 'limit.disk.odirect.write',
      config: { tool: 'dd', bs: '4MiB', oflag: 'direct' },
      throughput: disk.gbps,
      unit: 'GB/s',
      bytes: 0,
      ops: 0,
      seconds: disk.seconds,
    });
    const tcp = await ctx.tcpLimit(ctx.quick ? 512 * MiB : 2 * GiB);
    const readLimit: Limit = { name: 'tcp.loopback', value: tcp.gbps, unit: 'GB/s' };
    ctx.add({
      case: 'limit.tcp.loopback',
      config: { conns: 1, write: '1MiB' },
      throughput: tcp.gbps,
      unit: 'GB/s',
      bytes: 0,
      ops: 0,
      seconds: tcp.seconds,
    });
    const local = ctx.worker(
      {
        kind: 'fs-read',
        dir: ctx.scratch,
        fileBytes: 128 * MiB,
        blockBytes: MiB,
        passes: 1,
        randomSizes: [4096],
        randomSeconds: ctx.quick ? 0.5 : 2,
      },
      'local pread limit',
    );
    const lo = (await ctx.together('local page-cache 4 KiB pread', [local])).results[0]!.ops.find(
      (o) => o.name === 'rand.4096',
    )!;
    const randLimit: Limit = { name: 'fs.pread.4k', value: lo.ops / lo.seconds, unit: 'IOPS' };
    ctx.add({
      case: 'limit.fs.pread.4k',
      config: { read: '4k', call: 'fs.readSync', depth: 1 },
      throughput: lo.ops / lo.seconds,
      unit: 'IOPS',
      p50Ms: lo.p50Ms,
      p99Ms: lo.p99Ms,
      bytes: lo.bytes,
      ops: lo.ops,
      seconds: lo.seconds,
    });

    const replicas = Math.max(...(await ctx.replicaCounts()));
    // As in seq-write: with R replicas on one disk every byte is written R times.
    const writeLimit: Limit = {
      name: replicas === 1 ? 'disk.odirect.write' : `disk.odirect.write/${replicas}`,
      value: disk.gbps / replicas,
      unit: 'GB/s',
    };
    const meta = await ctx.cluster(replicas);
    const stamp = Date.now();
    const base = { replicas, file: fileBytes, clients: 1 };

    // ---- client library ------------------------------------------------------------------
    const libWritePath = ctx.created(`/bench-mount-lib-w-${stamp}`);
    const lw = (
      await ctx.together('library: seq write 1 MiB, depth 1', [
        ctx.worker(
          { kind: 'seq-write', meta, path: libWritePath, offset: 0, bytes: fileBytes, blockBytes: MiB, depth: 1 },
          'library write',
          fileBytes,
        ),
      ])
    ).results[0]!.ops[0]!;
    const libWrite = ctx.add({
      case: 'lib.write.1m',
      config: { ...base, via: 'library', block: '1MiB', depth: 1 },
      throughput: gbPerSecond(lw.bytes, lw.seconds),
      unit: 'GB/s',
      p50Ms: lw.p50Ms,
      p99Ms: lw.p99Ms,
      bytes: lw.bytes,
      ops: lw.ops,
      seconds: lw.seconds,
      limit: writeLimit,
    });
    // The file both sides read: written by the library, so no kernel page cache holds it.
    const readPath = ctx.created(`/bench-mount-r-${stamp}`);
    await ctx.together('writing the file to read', [
      ctx.worker(
        { kind: 'seq-write', meta, path: readPath, offset: 0, bytes: fileBytes, blockBytes: 4 * MiB, depth: 4 },
        'writing the file to read',
        fileBytes,
      ),
    ]);
    const lr = (
      await ctx.together('library: seq read 1 MiB, depth 1', [
        ctx.worker(
          { kind: 'seq-read', meta, path: readPath, offset: 0, bytes: fileBytes, blockBytes: MiB, depth: 1 },
          'library read',
          fileBytes,
        ),
      ])
    ).results[0]!.ops[0]!;
    const libRead = ctx.add({
      case: 'lib.read.1m',
      config: { ...base, via: 'library', block: '1MiB', depth: 1 },
      throughput: gbPerSecond(lr.bytes, lr.seconds),
      unit: 'GB/s',
      p50Ms: lr.p50Ms,
      p99Ms: lr.p99Ms,
      bytes: lr.bytes,
      ops: lr.ops,
      seconds: lr.seconds,
      limit: readLimit,
    });
    const libRand = new Map<number, number>();
    for (const depth of RAND_DEPTHS) {
      const lrr = (
        await ctx.together(`library: 4 KiB random read, depth ${depth}`, [
          ctx.worker(
            { kind: 'rand-read', meta, path: readPath, fileBytes, blockBytes: 4096, depth, seconds: randSeconds },
            'library 4 KiB random read',
          ),
        ])
      ).results[0]!.ops[0]!;
      const row = ctx.add({
        case: depth === 1 ? 'lib.randread.4k' : `lib.randread.4k.qd${depth}`,
        config: { ...base, via: 'library', block: '4k', depth },
        throughput: lrr.ops / lrr.seconds,
        unit: 'IOPS',
        p50Ms: lrr.p50Ms,
        p99Ms: lrr.p99Ms,
        bytes: lrr.bytes,
        ops: lrr.ops,
        seconds: lrr.seconds,
        limit: randLimit,
      });
      libRand.set(depth, row.throughput);
    }

    // ---- through the mount -----------------------------------------------------------------
    const dir = join(ctx.scratch, 'mnt');
    mkdirSync(dir, { recursive: true });
    ctx.progress.update(`[mount] spindle mount ${dir}`, true);
    const mount = await startMount(dir, meta);
    try {
      const mountWriteName = `bench-mount-m-w-${stamp}`;
      ctx.created(`/${mountWriteName}`);
      ctx.progress.update(`[mount] dd bs=1M write ${blocks} MiB through the mount`, true);
      const w = await run(
        'dd',
        ['if=/dev/zero', `of=${join(dir, mountWriteName)}`, 'bs=1M', `count=${blocks}`, 'conv=fsync', 'status=none'],
        900_000,
      );
      const wGbps = gbPerSecond(fileBytes, w.seconds);
      const vw = versusLibrary(wGbps, libWrite.throughput);
      ctx.add({
        case: 'mount.write.1m',
        config: { ...base, via: 'mount', tool: 'dd', bs: '1MiB', conv: 'fsync', vsLibrary: round3(vw.ratio) },
        throughput: wGbps,
        unit: 'GB/s',
        bytes: fileBytes,
        ops: blocks,
        seconds: w.seconds,
        limit: writeLimit,
        notes: `${vw.note}; dd process wall time incl. fsync and close`,
      });

      // Small writes: 4 KiB pieces, each its own write(2) and FUSE request; the mount's write-back
      // buffer should send them as whole chunks (storage Write calls counted from the metrics).
      const smallBytes = ctx.quick ? 16 * MiB : 64 * MiB;
      const smallName = `bench-mount-m-w4k-${stamp}`;
      ctx.created(`/${smallName}`);
      ctx.progress.update(`[mount] dd bs=4k write ${smallBytes / MiB} MiB through the mount`, true);
      const callsBefore = await ctx.storageWriteCalls(meta);
      const sw = await run(
        'dd',
        [
          'if=/dev/zero',
          `of=${join(dir, smallName)}`,
          'bs=4k',
          `count=${smallBytes / 4096}`,
          'conv=fsync',
          'status=none',
        ],
        900_000,
      );
      const callsAfter = await ctx.storageWriteCalls(meta);
      const storageWrites = callsBefore === undefined || callsAfter === undefined ? 'n/a' : callsAfter - callsBefore;
      const swGbps = gbPerSecond(smallBytes, sw.seconds);
      const vsw = versusLibrary(swGbps, libWrite.throughput);
      ctx.add({
        case: 'mount.write.4k',
        config: {
          ...base,
          via: 'mount',
          tool: 'dd',
          bs: '4KiB',
          conv: 'fsync',
          storageWrites,
          vsLibrary: round3(vsw.ratio),
        },
        throughput: swGbps,
        unit: 'GB/s',
        bytes: smallBytes,
        ops: smallBytes / 4096,
        seconds: sw.seconds,
        limit: writeLimit,
        notes:
          `${vsw.note} (library: 1 MiB writes); ${smallBytes / 4096} write(2) calls reached storage as ` +
          `${storageWrites} Write calls`,
      });

      ctx.progress.update(`[mount] dd bs=1M read ${blocks} MiB through the mount`, true);
      const readFile = join(dir, readPath.slice(1));
      const r = await run('dd', [`if=${readFile}`, 'of=/dev/null', 'bs=1M', 'status=none'], 900_000);
      const rGbps = gbPerSecond(fileBytes, r.seconds);
      const vr = versusLibrary(rGbps, libRead.throughput);
      ctx.add({
        case: 'mount.read.1m',
        config: { ...base, via: 'mount', tool: 'dd', bs: '1MiB', vsLibrary: round3(vr.ratio) },
        throughput: rGbps,
        unit: 'GB/s',
        bytes: fileBytes,
        ops: blocks,
        seconds: r.seconds,
        limit: readLimit,
        notes: `${vr.note}; cold kernel page cache (file written by the library)`,
      });

      for (const depth of RAND_DEPTHS) {
        // Depth 1: synchronous pread; deeper: libaio, whose O_DIRECT reads the kernel sends on at once.
        const engine = depth === 1 ? 'psync' : 'libaio';
        ctx.progress.update(`[mount] fio 4 KiB random read, ${engine} depth ${depth}, ${randSeconds} s`, true);
        const f = await run(
          'fio',
          [
            '--name=randread',
            `--filename=${readFile}`,
            '--rw=randread',
            '--bs=4k',
            '--direct=1',
            `--ioengine=${engine}`,
            `--iodepth=${depth}`,
            `--size=${fileBytes}`,
            '--time_based',
            `--runtime=${randSeconds}`,
            '--randrepeat=1',
            '--output-format=json',
          ],
          300_000,
        );
        const fr = parseFioRead(f.stdout);
        const vrr = versusLibrary(fr.iops, libRand.get(depth));
        ctx.add({
          case: depth === 1 ? 'mount.randread.4k' : `mount.randread.4k.qd${depth}`,
          config: {
            ...base,
            via: 'mount',
            tool: 'fio',
            ioengine: engine,
            bs: '4k',
            direct: 1,
            depth,
            vsLibrary: round3(vrr.ratio),
          },
          throughput: fr.iops,
          unit: 'IOPS',
          p50Ms: fr.p50Ms,
          p99Ms: fr.p99Ms,
          bytes: fr.bytes,
          ops: fr.ops,
          seconds: fr.seconds,
          limit: randLimit,
          notes: `${vrr.note}; O_DIRECT, so every read reaches the mount process`,
        });
      }
    } finally {
      ctx.progress.update('[mount] unmounting', true);
      await stopMount(mount, dir);
      if (mounted(dir)) ctx.progress.log(`[mount] ${dir} is still mounted: ${mount.stderr().slice(-500)}`);
    }
  },
};
