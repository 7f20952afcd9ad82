// Fuzzes a bulk listener (common/bulk/tcp-transport.ts) over real connections: each stream is one
// TCP connection carrying random bytes, a mutated hello, a valid hello followed by random and
// mutated frames (every type, lying lengths and CRCs), or a valid hello followed by well-formed
// REQUEST frames whose storage calls are random or cut short (they reach the handler's decoder).
// The listener must answer or close each one without harm to itself; the caller checks that it
// still serves (a real read) and that its memory stayed bounded. Error answers are tallied by
// ErrorCode, so an INTERNAL the listener's handler gives to bad input shows up.
import * as net from 'node:net';
import { FRAME_HEADER_BYTES, FrameType, encodeFrameHeader, parseHostPort } from '../common/bulk/tcp-transport.js';
import { crc32c } from '../common/crc32c.js';
import { ErrorCode } from '../common/errors.js';
import { createRng, type Rng } from '../common/clock.js';
import { mutate, mutateRepeatedly, pick, randomBytes, randomMessage } from './fuzz-inputs.js';

export interface BulkFuzzOptions {
  /** host:port of the bulk listener. */
  address: string;
  seed: number;
  /** Connections to make. */
  streams: number;
  /** Sent in valid hellos (a cluster that checks credentials refuses the rest at the hello). */
  credential?: string;
  /** Connections at once. */
  concurrency?: number;
  /** How long a stream waits for the listener's answers before it is closed from this side. */
  lingerMs?: number;
}

export interface BulkFuzzCounts {
  streams: number;
  bytesSent: number;
  /** Streams whose hello the listener acknowledged. */
  helloAcked: number;
  /** Streams the listener closed before this side did. */
  closedByListener: number;
  /** ERROR frames received, by ErrorCode name. */
  errorAnswers: Record<string, number>;
}

const CONCURRENCY_DEFAULT = 8;
const LINGER_DEFAULT_MS = 150;
/** The storage bulk calls' method bytes (common/storage-bulk-calls.ts) and one beyond. */
const CALL_METHODS = [1, 2, 3, 4, 5, 6, 7, 0, 255];

function frame(type: number, requestId: number, payload: Buffer, crc = crc32c(payload)): Buffer {
  const header = encodeFrameHeader(FrameType.DATA, requestId, payload.length, crc);
  header[3] = type;
  return Buffer.concat([header, payload]);
}

function hello(rng: Rng, credential: string): Buffer {
  return frame(FrameType.HELLO, 0, Buffer.concat([randomBytes(rng, 16), Buffer.from(credential, 'utf8')]));
}

/** One plausible frame after the hello: DATA or REQUEST, sometimes with a lying header. */
function plausibleFrame(rng: Rng): Buffer {
  const requestId = rng.nextInt(2) === 0 ? 1 + rng.nextInt(100) : rng.nextInt(2 ** 31);
  const payload =
    rng.nextInt(2) === 0
      ? Buffer.concat([Buffer.from([pick(rng, CALL_METHODS)]), randomMessage(rng)])
      : randomBytes(rng, rng.nextInt(4096));
  const type = pick(rng, [FrameType.DATA, FrameType.REQUEST, FrameType.REQUEST, FrameType.ERROR, 0, 9]);
  const bytes = frame(type, requestId, payload, rng.nextInt(6) === 0 ? rng.nextU32() : undefined);
  return rng.nextInt(3) === 0 ? mutate(rng, bytes) : bytes;
}

/**
 * A well-formed REQUEST frame (right CRC) whose call is hostile: a known or unknown method byte and
 * a random message, often cut short — what reaches the listener's handler and its decoder.
 */
function hostileCall(rng: Rng, requestId: number): Buffer {
  const message = randomMessage(rng);
  const body = rng.nextInt(2) === 0 ? message.subarray(0, rng.nextInt(message.length + 1)) : message;
  return frame(FrameType.REQUEST, requestId, Buffer.concat([Buffer.from([pick(rng, CALL_METHODS)]), body]));
}

/** The bytes of one stream. */
function streamBytes(rng: Rng, credential: string): Buffer {
  switch (rng.nextInt(6)) {
    case 0:
      return randomBytes(rng, 1 + rng.nextInt(8192));
    case 1:
      return mutateRepeatedly(rng, hello(rng, credential), 1 + rng.nextInt(3));
    case 2: {
      const parts = [hello(rng, credential)];
      for (let id = 1; id <= 1 + rng.nextInt(16); id++) parts.push(hostileCall(rng, id));
      return Buffer.concat(parts);
    }
    default: {
      const parts = [hello(rng, credential)];
      for (let i = rng.nextInt(12); i >= 0; i--) parts.push(plausibleFrame(rng));
      return Buffer.concat(parts);
    }
  }
}

/** ERROR frames in what the listener sent: their codes. */
function errorCodes(received: Buffer): number[] {
  const codes: number[] = [];
  let offset = 0;
  while (offset + FRAME_HEADER_BYTES <= received.length) {
    const length = received.readUInt32BE(offset + 12);
    if (received[offset + 3] === FrameType.ERROR && offset + FRAME_HEADER_BYTES + 4 <= received.length) {
      codes.push(received.readUInt32BE(offset + FRAME_HEADER_BYTES));
    }
    offset += FRAME_HEADER_BYTES + length;
  }
  return codes;
}

async function oneStream(
  address: string,
  bytes: Buffer,
  lingerMs: number,
): Promise<{ acked: boolean; closedByListener: boolean; codes: number[] }> {
  const { host, port } = parseHostPort(address)!;
  const socket = net.connect({ host, port });
  const chunks: Buffer[] = [];
  let closedByListener = false;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.once('end', () => {
    closedByListener = true;
  });
  socket.once('connect', () => socket.write(bytes));
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, lingerMs))]);
  socket.destroy();
  await closed;
  const received = Buffer.concat(chunks);
  const acked = received.length >= FRAME_HEADER_BYTES && received[3] === FrameType.HELLO_ACK;
  return { acked, closedByListener, codes: errorCodes(received) };
}

export async function fuzzBulkPort(options: BulkFuzzOptions): Promise<BulkFuzzCounts> {
  const rng = createRng(options.seed);
  const counts: BulkFuzzCounts = { streams: 0, bytesSent: 0, helloAcked: 0, closedByListener: 0, errorAnswers: {} };
  const inputs = Array.from({ length: options.streams }, () => streamBytes(rng, options.credential ?? ''));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < inputs.length) {
      const bytes = inputs[next++]!;
      const outcome = await oneStream(options.address, bytes, options.lingerMs ?? LINGER_DEFAULT_MS);
      counts.streams++;
      counts.bytesSent += bytes.length;
      if (outcome.acked) counts.helloAcked++;
      if (outcome.closedByListener) counts.closedByListener++;
      for (const code of outcome.codes) {
        const name = ErrorCode[code] ?? `code ${code}`;
        counts.errorAnswers[name] = (counts.errorAnswers[name] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? CONCURRENCY_DEFAULT }, worker));
  return counts;
}
