// Throughput of TcpBulkTransport next to raw Node TCP on loopback, measured in the same run, between
// two processes (this one and a forked child). Not a test:
//
//   node --import tsx bench/tools/bulk-measure.ts [totalGiB=2] [frameMiB=4] [rounds=3]
//
// Raw: this process writes, the child counts the bytes of 'data' events and touches nothing (the
// socket's limit as most Node code reads it). Bulk, both ways: `up` (this process connects and
// sends, the listener's end receives: the write path of chunks) and `down` (the listener's end
// sends, the connecting end receives: the read path). The receiver
// keeps RECEIVES_POSTED receives posted, each `into` a buffer of its own, so every frame takes the
// one-copy path (socket chunk → `into`) and its CRC32C is checked; the sender keeps
// SENDS_IN_FLIGHT frames in flight and passes the payload's CRC32C (storage nodes know it from
// the chunk). Each row also gives the receiving process's CPU ns per byte, which a busy machine
// distorts far less than wall-clock GB/s.
// Back of the envelope: the receiver adds one memcpy (~30 GB/s) and one CRC32C (~5–9 GB/s here,
// single-stream hardware CRC) per byte to a ~3 GB/s loopback stream: ~0.15 ns/B on ~0.3 ns/B, so
// bulk should land near 0.7–0.8× raw when the receiver is the bottleneck.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { crc32c } from '../../common/crc32c.js';
import { TcpBulkTransport, parseHostPort } from '../../common/bulk/tcp-transport.js';
import type { BulkChannel, BulkListener } from '../../common/bulk/transport.js';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const RECEIVES_POSTED = 16;
const SENDS_IN_FLIGHT = 4;

type ToChild =
  | { cmd: 'raw'; totalBytes: number }
  | { cmd: 'bulk'; totalBytes: number; frameBytes: number }
  /** The child's end of the session receives (`up`: the listener receives) or sends (`down`). */
  | { cmd: 'session'; sessionId: string; direction: 'up' | 'down' }
  | { cmd: 'go' }
  | { cmd: 'exit' };
type ToParent =
  | { event: 'listening'; address: string }
  | { event: 'ready' }
  | { event: 'done'; bytes: number; errors: number; cpuUs: number };

interface Received {
  bytes: number;
  errors: number;
  /** CPU time of this process while receiving. */
  cpuUs: number;
}

/** CPU time (user + system) this process used since `since`. */
function cpuSinceUs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

function send(message: ToParent): void {
  process.send!(message);
}

/**
 * Receives frames 1..frames with RECEIVES_POSTED receives posted ahead, each into a buffer of its
 * own; `posted` is called once the first ones are posted.
 */
function receiveFrames(
  channel: BulkChannel,
  frames: number,
  frameBytes: number,
  posted: () => void,
): Promise<Received> {
  return new Promise((resolve) => {
    const cpu = process.cpuUsage();
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
      if (finished === frames) resolve({ bytes, errors, cpuUs: cpuSinceUs(cpu) });
    };
    for (let i = 1; i <= Math.min(RECEIVES_POSTED, frames); i++) post(i, Buffer.allocUnsafe(frameBytes));
    posted();
  });
}

/** Sends frames 1..frames of `payload` with SENDS_IN_FLIGHT sends in flight. */
async function sendFrames(channel: BulkChannel, frames: number, payload: Buffer): Promise<void> {
  const crc = crc32c(payload);
  let nextId = 1;
  const lane = async (): Promise<void> => {
    while (nextId <= frames) await channel.send(nextId++, payload, crc);
  };
  await Promise.all(Array.from({ length: SENDS_IN_FLIGHT }, lane));
}

async function child(): Promise<void> {
  const transport = new TcpBulkTransport();
  let bulkFrameBytes = 0;
  let bulkTotalBytes = 0;
  let bulkListener: BulkListener | undefined;
  let go: (() => void) | undefined;
  process.on('message', (message: ToChild) => {
    void (async () => {
      if (message.cmd === 'exit') {
        await bulkListener?.close();
        process.exit(0);
      }
      if (message.cmd === 'go') {
        go?.();
        return;
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
        server.listen(0, '127.0.0.1', () =>
          send({ event: 'listening', address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` }),
        );
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
        if (message.direction === 'up') {
          const result = await receiveFrames(channel, frames, bulkFrameBytes, () => send({ event: 'ready' }));
          send({ event: 'done', ...result });
        } else {
          const started = new Promise<void>((resolve) => (go = resolve));
          send({ event: 'ready' });
          await started;
          await sendFrames(channel, frames, Buffer.alloc(bulkFrameBytes, 0x5a));
        }
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

/** `up`: this process connects and sends, the child's listener receives; `down`: the reverse. */
async function measureBulk(
  worker: ReturnType<typeof fork>,
  payload: Buffer,
  totalBytes: number,
  direction: 'up' | 'down',
): Promise<Measured> {
  const listening = nextMessage(worker, 'listening');
  worker.send({ cmd: 'bulk', totalBytes, frameBytes: payload.length } satisfies ToChild);
  const { address } = (await listening) as { address: string };
  const transport = new TcpBulkTransport();
  const channel: BulkChannel = await transport.connect(address);
  const frames = Math.ceil(totalBytes / payload.length);
  const ready = nextMessage(worker, 'ready');
  worker.send({ cmd: 'session', sessionId: channel.sessionId, direction } satisfies ToChild);
  await ready;
  let result: Received;
  let seconds: number;
  if (direction === 'up') {
    const done = nextMessage(worker, 'done');
    const start = performance.now();
    await sendFrames(channel, frames, payload);
    result = (await done) as Received;
    seconds = (performance.now() - start) / 1000;
  } else {
    let start = 0;
    result = await receiveFrames(channel, frames, payload.length, () => {
      start = performance.now();
      worker.send({ cmd: 'go' } satisfies ToChild);
    });
    seconds = (performance.now() - start) / 1000;
  }
  channel.close();
  const bytes = frames * payload.length;
  if (result.errors > 0 || result.bytes !== bytes) {
    throw new Error(`bulk run lost frames: ${result.errors} errors, ${result.bytes} of ${bytes} bytes`);
  }
  return { gbPerS: bytes / seconds / 1e9, receiverNsPerByte: (result.cpuUs * 1000) / bytes };
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
  const up: Measured[] = [];
  const down: Measured[] = [];
  const show = (m: Measured): string => `${m.gbPerS.toFixed(2)} GB/s (receiver ${m.receiverNsPerByte.toFixed(3)} ns/B)`;
  try {
    // Warm-up (JIT, first-touch of buffers), not reported.
    const warmUpBytes = Math.min(totalBytes, 256 * MIB);
    await measureRaw(worker, payload, warmUpBytes);
    await measureBulk(worker, payload, warmUpBytes, 'up');
    await measureBulk(worker, payload, warmUpBytes, 'down');
    for (let round = 1; round <= rounds; round++) {
      raw.push(await measureRaw(worker, payload, totalBytes));
      up.push(await measureBulk(worker, payload, totalBytes, 'up'));
      down.push(await measureBulk(worker, payload, totalBytes, 'down'));
      const r = raw.at(-1)!;
      console.log(
        `round ${round}: raw ${show(r)} | ` +
          `bulk listener receives ${show(up.at(-1)!)} ${(up.at(-1)!.gbPerS / r.gbPerS).toFixed(2)}x | ` +
          `bulk connecting side receives ${show(down.at(-1)!)} ${(down.at(-1)!.gbPerS / r.gbPerS).toFixed(2)}x`,
      );
    }
  } finally {
    worker.send({ cmd: 'exit' } satisfies ToChild);
  }
  const gb = (list: Measured[]): number => median(list.map((m) => m.gbPerS));
  const ns = (list: Measured[]): number => Number(median(list.map((m) => m.receiverNsPerByte)).toFixed(3));
  console.log(
    JSON.stringify({
      scenario: 'bulk-tcp-loopback',
      totalBytes,
      frameBytes,
      rounds,
      rawGBps: Number(gb(raw).toFixed(3)),
      bulkListenerReceivesGBps: Number(gb(up).toFixed(3)),
      bulkConnectingReceivesGBps: Number(gb(down).toFixed(3)),
      ratioListenerReceives: Number((gb(up) / gb(raw)).toFixed(3)),
      ratioConnectingReceives: Number((gb(down) / gb(raw)).toFixed(3)),
      rawReceiverNsPerByte: ns(raw),
      bulkListenerReceiverNsPerByte: ns(up),
      bulkConnectingReceiverNsPerByte: ns(down),
    }),
  );
}

if (process.argv[2] === 'child') await child();
else await main();
