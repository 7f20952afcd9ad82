// Throughput of TcpBulkTransport next to raw Node TCP on loopback, measured in the same run, between
// two processes (this one sends, a forked child receives). Not a test:
//
//   node --import tsx common/bulk/measure.ts [totalGiB=2] [frameMiB=4] [rounds=3]
//
// Raw: the child counts the bytes of 'data' events and touches nothing (the socket's limit).
// Bulk: the child keeps RECEIVES_POSTED receives posted, each `into` a buffer of its own, so every
// frame takes the one-copy path (socket chunk → `into`) and its CRC32C is checked; the sender keeps
// SENDS_IN_FLIGHT frames in flight and passes the payload's CRC32C (as storage nodes do; they
// know it from the chunk). Back of the envelope: one extra memcpy + CRC per byte on the receiving
// core costs ~10–20 % of a ~3 GB/s loopback stream, so bulk should land at ≥ 0.8× raw.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { crc32c } from '../crc32c.js';
import { TcpBulkTransport, parseHostPort } from './tcp-transport.js';
import type { BulkChannel } from './transport.js';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const RECEIVES_POSTED = 16;
const SENDS_IN_FLIGHT = 4;

type ToChild =
  | { cmd: 'raw'; totalBytes: number }
  | { cmd: 'bulk'; totalBytes: number; frameBytes: number }
  | { cmd: 'session'; sessionId: string }
  | { cmd: 'exit' };
type ToParent =
  | { event: 'listening'; address: string }
  | { event: 'ready' }
  | { event: 'done'; bytes: number; errors: number; cpuUs: number };

/** CPU time (user + system) this process used since `since`. */
function cpuSinceUs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

function send(message: ToParent): void {
  process.send!(message);
}

async function child(): Promise<void> {
  const transport = new TcpBulkTransport();
  let bulkFrameBytes = 0;
  let bulkTotalBytes = 0;
  let bulkListener: Awaited<ReturnType<TcpBulkTransport['listen']>> | undefined;
  process.on('message', (message: ToChild) => {
    void (async () => {
      if (message.cmd === 'exit') {
        await bulkListener?.close();
        process.exit(0);
      }
      if (message.cmd === 'raw') {
        const server = net.createServer({ noDelay: true }, (socket) => {
          let bytes = 0;
          const cpu = process.cpuUsage();
          socket.on('data', (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes >= message.totalBytes) {
              send({ event: 'done', bytes, errors: 0, cpuUs: cpuSinceUs(cpu) });
              socket.destroy();
              server.close();
            }
          });
        });
        server.listen(0, '127.0.0.1', () => send({ event: 'listening', address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` }));
        return;
      }
      if (message.cmd === 'bulk') {
        await bulkListener?.close();
        bulkListener = await transport.listen('127.0.0.1', 0);
        bulkFrameBytes = message.frameBytes;
        bulkTotalBytes = message.totalBytes;
        send({ event: 'listening', address: bulkListener.address });
        return;
      }
      if (message.cmd === 'session') {
        const channel = await bulkListener!.channel(message.sessionId, 5_000);
        const frames = Math.ceil(bulkTotalBytes / bulkFrameBytes);
        let bytes = 0;
        let errors = 0;
        let finished = 0;
        const post = (id: number, into: Buffer): void => {
          channel.receive(id, { into }).then(
            (payload) => {
              bytes += payload.length;
              finish(id, into);
            },
            () => {
              errors++;
              finish(id, into);
            },
          );
        };
        const finish = (id: number, into: Buffer): void => {
          finished++;
          if (id + RECEIVES_POSTED <= frames) post(id + RECEIVES_POSTED, into);
          if (finished === frames) send({ event: 'done', bytes, errors, cpuUs: cpuSinceUs(cpu) });
        };
        const cpu = process.cpuUsage();
        for (let i = 1; i <= Math.min(RECEIVES_POSTED, frames); i++) post(i, Buffer.allocUnsafe(bulkFrameBytes));
        send({ event: 'ready' });
      }
    })();
  });
}

function nextMessage(worker: ReturnType<typeof fork>, event: ToParent['event']): Promise<ToParent> {
  return new Promise((resolve) => {
    const onMessage = (message: ToParent): void => {
      if (message.event === event) {
        worker.off('message', onMessage);
        resolve(message);
      }
    };
    worker.on('message', onMessage);
  });
}

interface Measured {
  /** Decimal GB per second of wall time. */
  gbPerS: number;
  /** Receiving process CPU nanoseconds per byte (robust to a busy machine). */
  receiverNsPerByte: number;
}

async function measureRaw(worker: ReturnType<typeof fork>, payload: Buffer, totalBytes: number): Promise<Measured> {
  const listening = nextMessage(worker, 'listening');
  worker.send({ cmd: 'raw', totalBytes } satisfies ToChild);
  const { address } = (await listening) as { address: string };
  const { host, port } = parseHostPort(address)!;
  const socket = net.connect({ host, port, noDelay: true });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.on('error', () => {});
  const done = nextMessage(worker, 'done');
  const start = performance.now();
  let sent = 0;
  while (sent < totalBytes) {
    sent += payload.length;
    if (!socket.write(payload)) await new Promise<void>((resolve) => socket.once('drain', resolve));
  }
  const result = (await done) as { cpuUs: number };
  const seconds = (performance.now() - start) / 1000;
  socket.destroy();
  return { gbPerS: totalBytes / seconds / 1e9, receiverNsPerByte: (result.cpuUs * 1000) / totalBytes };
}

async function measureBulk(worker: ReturnType<typeof fork>, payload: Buffer, totalBytes: number): Promise<Measured> {
  const listening = nextMessage(worker, 'listening');
  worker.send({ cmd: 'bulk', totalBytes, frameBytes: payload.length } satisfies ToChild);
  const { address } = (await listening) as { address: string };
  const transport = new TcpBulkTransport();
  const channel: BulkChannel = await transport.connect(address);
  const ready = nextMessage(worker, 'ready');
  worker.send({ cmd: 'session', sessionId: channel.sessionId } satisfies ToChild);
  await ready;
  const crc = crc32c(payload);
  const frames = Math.ceil(totalBytes / payload.length);
  const done = nextMessage(worker, 'done');
  const start = performance.now();
  let nextId = 1;
  const lane = async (): Promise<void> => {
    while (nextId <= frames) await channel.send(nextId++, payload, crc);
  };
  await Promise.all(Array.from({ length: SENDS_IN_FLIGHT }, lane));
  const result = (await done) as { bytes: number; errors: number; cpuUs: number };
  const seconds = (performance.now() - start) / 1000;
  channel.close();
  if (result.errors > 0 || result.bytes !== frames * payload.length) {
    throw new Error(`bulk run lost frames: ${result.errors} errors, ${result.bytes} of ${frames * payload.length} bytes`);
  }
  return { gbPerS: (frames * payload.length) / seconds / 1e9, receiverNsPerByte: (result.cpuUs * 1000) / (frames * payload.length) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const totalBytes = Number(process.argv[2] ?? 2) * GIB;
  const frameBytes = Number(process.argv[3] ?? 4) * MIB;
  const rounds = Number(process.argv[4] ?? 3);
  // BULK_MEASURE_PROFILE_DIR=/some/dir writes a CPU profile of the receiving child there.
  const profileDir = process.env.BULK_MEASURE_PROFILE_DIR;
  const execArgv = profileDir ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDir}`] : process.execArgv;
  const worker = fork(fileURLToPath(import.meta.url), ['child'], { stdio: 'inherit', execArgv });
  const payload = randomBytes(frameBytes);
  const raw: Measured[] = [];
  const bulk: Measured[] = [];
  try {
    await measureRaw(worker, payload, Math.min(totalBytes, 256 * MIB)); // warm-up, not reported
    await measureBulk(worker, payload, Math.min(totalBytes, 256 * MIB));
    for (let round = 1; round <= rounds; round++) {
      raw.push(await measureRaw(worker, payload, totalBytes));
      bulk.push(await measureBulk(worker, payload, totalBytes));
      const [r, b] = [raw.at(-1)!, bulk.at(-1)!];
      console.log(
        `round ${round}: raw ${r.gbPerS.toFixed(2)} GB/s (receiver ${r.receiverNsPerByte.toFixed(3)} ns/B), ` +
          `bulk ${b.gbPerS.toFixed(2)} GB/s (receiver ${b.receiverNsPerByte.toFixed(3)} ns/B), ratio ${(b.gbPerS / r.gbPerS).toFixed(2)}`,
      );
    }
  } finally {
    worker.send({ cmd: 'exit' } satisfies ToChild);
  }
  const rawMedian = median(raw.map((m) => m.gbPerS));
  const bulkMedian = median(bulk.map((m) => m.gbPerS));
  console.log(
    JSON.stringify({
      scenario: 'bulk-tcp-loopback',
      totalBytes,
      frameBytes,
      rounds,
      rawGBps: Number(rawMedian.toFixed(3)),
      bulkGBps: Number(bulkMedian.toFixed(3)),
      ratio: Number((bulkMedian / rawMedian).toFixed(3)),
      rawReceiverNsPerByte: Number(median(raw.map((m) => m.receiverNsPerByte)).toFixed(3)),
      bulkReceiverNsPerByte: Number(median(bulk.map((m) => m.receiverNsPerByte)).toFixed(3)),
    }),
  );
}

if (process.argv[2] === 'child') await child();
else await main();
