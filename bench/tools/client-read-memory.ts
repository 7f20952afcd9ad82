// Where the client's RSS goes during a long sequential read: the `scale` suite flags a client whose
// RSS peak in the last pass of its 10 GiB read is above the first pass's (bench/scale-read.ts). This
// reads a file over and over in this process and, after each pass, forces a full collection and
// prints RSS, RssAnon and V8's own figures — live JS objects (heapUsed) and Buffers (external,
// arrayBuffers) staying flat while RSS climbs means V8 sizing its heap up and malloc keeping freed
// pages, not data held per byte moved. Not a test:
//
//   MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=268435456 \
//     node --expose-gc --import tsx bench/tools/client-read-memory.ts [fileMiB=512] [passes=20]
//
// (the malloc settings are the bench's tuned ones, which glibc reads only at start). Starts its own
// 3-node cluster (3 replicas) under a temporary directory and stops it at the end.
import { BenchContext, MiB } from '../context.js';
import { parseBenchArgs } from '../options.js';
import { ProgressLine } from '../progress.js';
import { residentOf } from '../rss.js';
import { BLOCK_BYTES, DEPTH } from '../seq-write.js';
import { SpindleClient } from '../../client/index.js';

async function main(): Promise<void> {
  const fileBytes = Number(process.argv[2] ?? 512) * MiB;
  const passes = Number(process.argv[3] ?? 20);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc (a full collection before each figure)');
  const ctx = new BenchContext('scale', parseBenchArgs(['scale', '--silent']), new ProgressLine(false));
  try {
    const meta = await ctx.cluster(3);
    const task = { kind: 'seq-write' as const, meta, path: '/f', offset: 0, bytes: fileBytes };
    await ctx.together('writing', [
      ctx.worker({ ...task, blockBytes: BLOCK_BYTES, depth: DEPTH }, 'writing the file to read'),
    ]);
    await ctx.warmStorageCaches();
    const client = await SpindleClient.connect({ meta, readyTimeoutMs: 30_000 });
    try {
      const handle = await client.open('/f', 'r');
      const buffers = Array.from({ length: DEPTH }, () => Buffer.allocUnsafe(BLOCK_BYTES));
      const blocks = Math.ceil(fileBytes / BLOCK_BYTES);
      const mib = (bytes: number) => (bytes / MiB).toFixed(1);
      for (let pass = 1; pass <= passes; pass++) {
        let next = 0;
        await Promise.all(
          buffers.map(async (buf) => {
            while (next < blocks) await handle.read(buf, 0, BLOCK_BYTES, next++ * BLOCK_BYTES);
          }),
        );
        gc();
        const m = process.memoryUsage();
        const resident = residentOf(process.pid)!;
        process.stdout.write(
          `pass ${pass} (${mib(pass * fileBytes)} MiB read): RSS ${mib(resident.rss)} MiB, RssAnon ` +
            `${mib(resident.anon)}, heapUsed ${mib(m.heapUsed)}, heapTotal ${mib(m.heapTotal)}, ` +
            `external ${mib(m.external)}, arrayBuffers ${mib(m.arrayBuffers)}\n`,
        );
      }
      await handle.close();
    } finally {
      await client.close();
    }
  } finally {
    await ctx.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
