// Measures the two block I/O backends (storage/chunk-engine/block-io.ts) on the same machine in
// the same run: 4 MiB aligned writes of a 1 GiB file (then one fdatasync), then 4 MiB reads of
// it, at queue depth 1 and 8, through the BlockFile interface the chunk engine uses (direct on:
// whole-block writes through O_DIRECT; uring once with O_DIRECT reads, once with buffered reads).
// The raw limit is `dd` with O_DIRECT in the same directory, measured first, so every figure can
// be read as a ratio of it. docs/performance.md "Storage I/O backend" has the results.
//
//   node --import tsx bench/tools/uring-measure.ts [--dir DIR] [--size-mib 1024] [--block-mib 4] [--rounds 3]
//
// Estimate: the device writes ~1.3–1.7 GB/s with O_DIRECT dd; both backends copy each block once
// into an aligned bounce buffer (~10 GB/s memcpy), so both should reach 80–100% of dd at depth 8.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FsBlockIo, UringBlockIo, type BlockIo } from '../../storage/index.js';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: tmpdir() },
    'size-mib': { type: 'string', default: '1024' },
    'block-mib': { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
  },
});
const MiB = 1024 * 1024;
const sizeBytes = Number(values['size-mib']) * MiB;
const blockBytes = Number(values['block-mib']) * MiB;
const rounds = Number(values.rounds);
const blocks = sizeBytes / blockBytes;

interface Row {
  backend: string;
  reads: 'direct' | 'buffered';
  depth: number;
  writeGBps: number;
  readGBps: number;
  /** CPU time of this process (all threads: JS, libuv pool, io_uring workers) per GiB moved. */
  writeCpuMsPerGiB: number;
  readCpuMsPerGiB: number;
}

const cpuMs = (since: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

const gbps = (bytes: number, ns: bigint) => bytes / Number(ns);

function dd(dir: string): { writeGBps: number; readGBps: number } {
  const path = join(dir, 'dd.dat');
  const run = (args: string[]) => {
    const started = process.hrtime.bigint();
    execFileSync('dd', args, { stdio: 'ignore' });
    return gbps(sizeBytes, process.hrtime.bigint() - started);
  };
  const count = String(blocks);
  const bs = `${blockBytes / MiB}M`;
  const writeGBps = run(['if=/dev/zero', `of=${path}`, `bs=${bs}`, `count=${count}`, 'oflag=direct', 'conv=fdatasync']);
  const readGBps = run([`if=${path}`, 'of=/dev/null', `bs=${bs}`, `count=${count}`, 'iflag=direct']);
  execFileSync('rm', ['-f', path]);
  return { writeGBps, readGBps };
}

function readsOf(io: BlockIo): 'direct' | 'buffered' {
  return io instanceof UringBlockIo && io.directReads ? 'direct' : 'buffered';
}

async function measure(io: BlockIo, dir: string, depth: number): Promise<Row> {
  const path = join(dir, `${io.kind}-${readsOf(io)}-${depth}.dat`);
  const file = await io.open(path, { direct: true });
  try {
    // One unaligned (malloc'd) source buffer per writer, as bytes from the network would be.
    const sources = Array.from({ length: depth }, (_, w) => Buffer.alloc(blockBytes, 0x41 + w));
    let next = 0;
    const writeCpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    await Promise.all(
      sources.map(async (source) => {
        for (let b = next++; b < blocks; b = next++) await file.write(b * blockBytes, source, blockBytes);
      }),
    );
    await file.sync();
    const writeNs = process.hrtime.bigint() - started;
    const writeCpuMs = cpuMs(writeCpu);
    next = 0;
    let checked = 0;
    const readCpu = process.cpuUsage();
    const readStarted = process.hrtime.bigint();
    await Promise.all(
      sources.map(async () => {
        for (let b = next++; b < blocks; b = next++) {
          const data = await file.read(b * blockBytes, blockBytes);
          if (data.length !== blockBytes || data[blockBytes - 1] === 0) throw new Error(`block ${b} read back wrong`);
          checked++;
        }
      }),
    );
    const readNs = process.hrtime.bigint() - readStarted;
    const readCpuMs = cpuMs(readCpu);
    const GiB = sizeBytes / (1024 * MiB);
    if (checked !== blocks) throw new Error('not every block was read');
    return {
      backend: io.kind,
      reads: readsOf(io),
      depth,
      writeGBps: gbps(sizeBytes, writeNs),
      readGBps: gbps(sizeBytes, readNs),
      writeCpuMsPerGiB: writeCpuMs / GiB,
      readCpuMsPerGiB: readCpuMs / GiB,
    };
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
}

const dir = await mkdtemp(join(values.dir, 'spindle-measure-'));
try {
  const limit = dd(dir);
  const rows: Row[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const depth of [1, 8]) {
      // Alternate the order so neither backend always runs on a warmer device.
      const order: BlockIo[] = [
        new FsBlockIo(),
        new UringBlockIo(undefined, { directReads: true }),
        new UringBlockIo(undefined, { directReads: false }),
      ];
      if ((round + depth) % 2 === 1) order.reverse();
      for (const io of order) rows.push(await measure(io, dir, depth));
    }
  }
  const f = (x: number) => x.toFixed(2);
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  // One line per variant: the median of the rounds (the machine is shared; single runs are noisy).
  const variants = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.backend}|${r.reads}|${r.depth}`;
    variants.set(key, [...(variants.get(key) ?? []), r]);
  }
  console.log(
    `dd O_DIRECT (bs=${blockBytes / MiB}M, ${sizeBytes / MiB} MiB): ` +
      `write ${f(limit.writeGBps)} GB/s, read ${f(limit.readGBps)} GB/s`,
  );
  console.log(`medians of ${rounds} round(s):`);
  console.log(
    '| backend | reads | depth | write GB/s | × dd | write CPU ms/GiB | read GB/s | × dd | read CPU ms/GiB |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const [key, rs] of [...variants].sort(([a], [b]) => a.localeCompare(b))) {
    const [backend, reads, depth] = key.split('|');
    const w = median(rs.map((r) => r.writeGBps));
    const rd = median(rs.map((r) => r.readGBps));
    const wc = median(rs.map((r) => r.writeCpuMsPerGiB));
    const rc = median(rs.map((r) => r.readCpuMsPerGiB));
    console.log(
      `| ${backend} | ${reads} | ${depth} | ${f(w)} | ${f(w / limit.writeGBps)} | ${wc.toFixed(0)} ` +
        `| ${f(rd)} | ${f(rd / limit.readGBps)} | ${rc.toFixed(0)} |`,
    );
  }
  console.log(JSON.stringify({ sizeBytes, blockBytes, dd: limit, rows }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
