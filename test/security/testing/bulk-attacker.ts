// A hostile bulk peer for the data-port tests: raw TCP connections to a storage node's bulk
// listener that speak just enough of the frame protocol (common/bulk/tcp-transport.ts) to hold
// sessions, send frames nobody claims, stall inside frames and send headers without payload —
// from any loopback address (127.0.0.0/8 is all local on Linux), so one "peer" is one address.
// Also reads a process's memory figures from /proc, which the tests bound.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { FRAME_HEADER_BYTES, FrameType, encodeFrameHeader, parseHostPort } from '../../../common/bulk/tcp-transport.js';
import { crc32c } from '../../../common/crc32c.js';

export interface RawBulkSession {
  readonly socket: net.Socket;
  /** True once the listener answered the hello with HELLO_ACK; false when it refused or closed. */
  readonly accepted: Promise<boolean>;
  /** Resolves when the connection has closed (either end). */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  /** Every byte the listener sent. */
  received(): Buffer;
}

export interface RawBulkOptions {
  /** Source address of the connection (a different one per simulated peer). */
  localAddress?: string;
  /** Sent in the hello after the session id ('' for none). */
  credential?: string;
}

/** One frame: header and payload. */
export function frameBytes(type: FrameType, requestId: number, payload: Buffer): Buffer {
  return Buffer.concat([encodeFrameHeader(type, requestId, payload.length, crc32c(payload)), payload]);
}

/** A raw connection to the bulk listener at `address` that has sent its hello. */
export function openRawBulkSession(address: string, options: RawBulkOptions = {}): RawBulkSession {
  const { host, port } = parseHostPort(address)!;
  const socket = net.connect({ host, port, localAddress: options.localAddress });
  const chunks: Buffer[] = [];
  let closedFlag = false;
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closedFlag = true;
      resolve();
    }),
  );
  const accepted = new Promise<boolean>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const all = Buffer.concat(chunks);
      if (all.length >= FRAME_HEADER_BYTES) resolve(all[3] === FrameType.HELLO_ACK);
    });
    void closed.then(() => resolve(false));
  });
  socket.once('connect', () => {
    const hello = Buffer.concat([randomBytes(16), Buffer.from(options.credential ?? '', 'utf8')]);
    socket.write(frameBytes(FrameType.HELLO, 0, hello));
  });
  return { socket, accepted, closed, isClosed: () => closedFlag, received: () => Buffer.concat(chunks) };
}

/** Writes `bytes` and resolves once the socket took them, or when it closed. */
export function writeOrClose(session: RawBulkSession, bytes: Buffer): Promise<void> {
  if (session.isClosed()) return Promise.resolve();
  return new Promise<void>((resolve) => {
    session.socket.write(bytes, () => resolve());
    void session.closed.then(() => resolve());
  });
}

export interface ProcessMemory {
  /** Virtual memory (VmSize). */
  readonly virtualBytes: number;
  /** Resident memory now (VmRSS). */
  readonly residentBytes: number;
}

/** The memory figures of process `pid` from /proc/<pid>/status. */
export function processMemory(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (match === null) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]) * 1024;
  };
  return { virtualBytes: kib('VmSize'), residentBytes: kib('VmRSS') };
}

export const MIB = 1024 * 1024;

/**
 * Samples process `pid`'s memory every `intervalMs` until stopped: the highest VmRSS and VmSize
 * seen during an attack (VmHWM is the whole life's peak, which an earlier test may have set).
 */
export function sampleMemory(
  pid: number,
  intervalMs = 50,
): () => { residentMaxBytes: number; virtualMaxBytes: number } {
  let residentMaxBytes = 0;
  let virtualMaxBytes = 0;
  const sample = (): void => {
    let now: ProcessMemory;
    try {
      now = processMemory(pid);
    } catch {
      return; // the process is gone: the test that killed it says so
    }
    residentMaxBytes = Math.max(residentMaxBytes, now.residentBytes);
    virtualMaxBytes = Math.max(virtualMaxBytes, now.virtualBytes);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    sample();
    return { residentMaxBytes, virtualMaxBytes };
  };
}

/** Resolves when every session has closed, or after `timeoutMs` (then the open ones are the caller's to judge). */
export async function allClosed(sessions: readonly RawBulkSession[], timeoutMs: number): Promise<number> {
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
  await Promise.race([Promise.all(sessions.map((session) => session.closed)), timeout]);
  return sessions.filter((session) => !session.isClosed()).length;
}
