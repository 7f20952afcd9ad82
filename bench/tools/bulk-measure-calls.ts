// Round trips of BulkChannel.call over TcpBulkTransport next to a raw Node TCP ping-pong of the
// same sizes, measured in the same run, between two processes (this one calls, a forked child
// answers). Not a test:
//
//   node --import tsx bench/tools/bulk-measure-calls.ts [calls=100000] [requestBytes=100] [answerBytes=4096] \
//     [timeoutMs]
//
// With `timeoutMs`, every call passes it (what a client with a deadline does: one timer per call).
// BULK_MEASURE_SIGNAL=1 also passes an AbortSignal (one for the whole run) to every call, as a
// client passing its caller's signal does. BULK_MEASURE_IN_FLIGHT=1,32 (the default) picks the calls in flight;
// BULK_MEASURE_PROFILE_DIR=dir writes CPU profiles of both processes there.
//
// For 1 and 32 calls in flight: calls/s of wall time, and CPU µs per call of each process (what a
// busy 2-core machine distorts least). Raw: the child answers every `requestBytes` it reads with
// `answerBytes`, no framing, no CRC, no ids (the socket's limit as most Node code would reach it).
// Bulk: `call(request)` answered by the listener's handler with a 4 KiB buffer (REQUEST frame up,
// DATA frame down, CRC32C both ways).
// Back of the envelope: at 1 in flight a round trip is two loopback hops with an event-loop turn
// each side, ~30–60 µs → 15–30k calls/s; at 32 in flight the per-call CPU bounds it: ~10–20 µs on
// the caller (promise, inbox waiter, one write, one parse) → 50–100k calls/s on one core.
import { fork } from 'node:child_process';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { TcpBulkTransport, parseHostPort } from '../../common/bulk/tcp-transport.js';
import type { BulkChannel, BulkListener } from '../../common/bulk/transport.js';

type ToChild = { cmd: 'cpu' } | { cmd: 'exit' };
type ToParent = { event: 'listening'; bulkAddress: string; rawAddress: string } | { event: 'cpu'; cpuUs: number };

interface Sizes {
  requestBytes: number;
  answerBytes: number;
}

function cpuUs(): number {
  const used = process.cpuUsage();
  return used.user + used.system;
}

async function child(sizes: Sizes): Promise<void> {
  const transport = new TcpBulkTransport();
  const listener: BulkListener = await transport.listen('127.0.0.1', 0);
  const answer = Buffer.alloc(sizes.answerBytes, 0x5a);
  // The answer buffer is given away and never modified, so one serves every call.
  listener.handleRequests(async () => answer);
  const raw = net.createServer({ noDelay: true }, (socket) => {
    let pending = 0;
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.length;
      while (pending >= sizes.requestBytes) {
        pending -= sizes.requestBytes;
        socket.write(answer);
      }
    });
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  process.on('message', (message: ToChild) => {
    if (message.cmd === 'cpu') process.send!({ event: 'cpu', cpuUs: cpuUs() } satisfies ToParent);
    if (message.cmd === 'exit') {
      raw.close();
      void listener.close().then(() => process.exit(0));
    }
  });
  process.send!({
    event: 'listening',
    bulkAddress: listener.address,
    rawAddress: `127.0.0.1:${(raw.address() as net.AddressInfo).port}`,
  } satisfies ToParent);
}

function nextMessage<E extends ToParent['event']>(
  worker: ReturnType<typeof fork>,
  event: E,
): Promise<Extract<ToParent, { event: E }>> {
  return new Promise((resolve) => {
    const onMessage = (message: ToParent): void => {
      if (message.event === event) {
        worker.off('message', onMessage);
        resolve(message as Extract<ToParent, { event: E }>);
      }
    };
    worker.on('message', onMessage);
  });
}

interface Measured {
  callsPerS: number;
  callerCpuUsPerCall: number;
  answererCpuUsPerCall: number;
}

/** Runs `run` and measures wall time and both processes' CPU. */
async function measure(worker: ReturnType<typeof fork>, calls: number, run: () => Promise<void>): Promise<Measured> {
  const childBefore = nextMessage(worker, 'cpu');
  worker.send({ cmd: 'cpu' } satisfies ToChild);
  const answererStart = (await childBefore).cpuUs;
  const callerStart = cpuUs();
  const start = performance.now();
  await run();
  const seconds = (performance.now() - start) / 1000;
  const callerUs = cpuUs() - callerStart;
  const childAfter = nextMessage(worker, 'cpu');
  worker.send({ cmd: 'cpu' } satisfies ToChild);
  const answererUs = (await childAfter).cpuUs - answererStart;
  return { callsPerS: calls / seconds, callerCpuUsPerCall: callerUs / calls, answererCpuUsPerCall: answererUs / calls };
}

/** `calls` calls with `inFlight` lanes, each waiting for its answer before the next call. */
async function bulkCalls(
  channel: BulkChannel,
  calls: number,
  inFlight: number,
  request: Buffer,
  answerBytes: number,
  timeoutMs?: number,
): Promise<void> {
  let started = 0;
  const signal = process.env.BULK_MEASURE_SIGNAL === '1' ? new AbortController().signal : undefined;
  const options = timeoutMs === undefined && signal === undefined ? undefined : { timeoutMs, signal };
  const lane = async (): Promise<void> => {
    while (started < calls) {
      started++;
      const answer = await channel.call(request, options);
      if (answer.length !== answerBytes) throw new Error(`answer of ${answer.length} bytes, expected ${answerBytes}`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

/** The raw ping-pong: `inFlight` requests outstanding on one socket, one more per answer. */
function rawCalls(
  socket: net.Socket,
  calls: number,
  inFlight: number,
  request: Buffer,
  answerBytes: number,
): Promise<void> {
  return new Promise((resolve) => {
    let sent = 0;
    let answered = 0;
    let pending = 0;
    const onData = (chunk: Buffer): void => {
      pending += chunk.length;
      while (pending >= answerBytes) {
        pending -= answerBytes;
        answered++;
        if (sent < calls) {
          sent++;
          socket.write(request);
        }
      }
      if (answered === calls) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    for (; sent < Math.min(inFlight, calls); ) {
      sent++;
      socket.write(request);
    }
  });
}

async function main(): Promise<void> {
  const calls = Number(process.argv[2] ?? 100_000);
  const sizes: Sizes = { requestBytes: Number(process.argv[3] ?? 100), answerBytes: Number(process.argv[4] ?? 4096) };
  const timeoutMs = process.argv[5] === undefined ? undefined : Number(process.argv[5]);
  const profileDir = process.env.BULK_MEASURE_PROFILE_DIR;
  const execArgv = profileDir ? [...process.execArgv, '--cpu-prof', `--cpu-prof-dir=${profileDir}`] : process.execArgv;
  const worker = fork(
    fileURLToPath(import.meta.url),
    ['child', String(sizes.requestBytes), String(sizes.answerBytes)],
    { stdio: 'inherit', execArgv },
  );
  const listening = await nextMessage(worker, 'listening');
  const transport = new TcpBulkTransport();
  const channel = await transport.connect(listening.bulkAddress);
  const { host, port } = parseHostPort(listening.rawAddress)!;
  const socket = net.connect({ host, port, noDelay: true });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const request = Buffer.alloc(sizes.requestBytes, 0x11);
  const rows: Array<Record<string, unknown>> = [];
  try {
    // Warm-up (JIT), not reported.
    await bulkCalls(channel, Math.min(calls, 20_000), 32, request, sizes.answerBytes, timeoutMs);
    await rawCalls(socket, Math.min(calls, 20_000), 32, request, sizes.answerBytes);
    for (const inFlight of (process.env.BULK_MEASURE_IN_FLIGHT ?? '1,32').split(',').map(Number)) {
      const raw = await measure(worker, calls, () => rawCalls(socket, calls, inFlight, request, sizes.answerBytes));
      const bulk = await measure(worker, calls, () =>
        bulkCalls(channel, calls, inFlight, request, sizes.answerBytes, timeoutMs),
      );
      const show = (m: Measured): string =>
        `${Math.round(m.callsPerS)} calls/s (caller ${m.callerCpuUsPerCall.toFixed(1)} µs/call, ` +
        `answerer ${m.answererCpuUsPerCall.toFixed(1)} µs/call)`;
      console.log(
        `${inFlight} in flight: raw ${show(raw)} | ` +
          `bulk call ${show(bulk)} ${(bulk.callsPerS / raw.callsPerS).toFixed(2)}x`,
      );
      rows.push({
        scenario: 'bulk-tcp-call-loopback',
        calls,
        inFlight,
        ...sizes,
        timeoutMs: timeoutMs ?? null,
        rawCallsPerS: Math.round(raw.callsPerS),
        bulkCallsPerS: Math.round(bulk.callsPerS),
        ratio: Number((bulk.callsPerS / raw.callsPerS).toFixed(3)),
        rawCallerCpuUsPerCall: Number(raw.callerCpuUsPerCall.toFixed(2)),
        bulkCallerCpuUsPerCall: Number(bulk.callerCpuUsPerCall.toFixed(2)),
        rawAnswererCpuUsPerCall: Number(raw.answererCpuUsPerCall.toFixed(2)),
        bulkAnswererCpuUsPerCall: Number(bulk.answererCpuUsPerCall.toFixed(2)),
      });
    }
  } finally {
    channel.close();
    socket.destroy();
    worker.send({ cmd: 'exit' } satisfies ToChild);
  }
  for (const row of rows) console.log(JSON.stringify(row));
}

if (process.argv[2] === 'child')
  await child({ requestBytes: Number(process.argv[3]), answerBytes: Number(process.argv[4]) });
else await main();
