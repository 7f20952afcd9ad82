// BulkSessionPool over the in-process transport: one session per address, shared connects,
// replacement of closed sessions, failed connects not cached, and close().
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../errors.js';
import { InProcessBulkTransport } from './in-process-transport.js';
import { BulkSessionPool } from './session-pool.js';
import type { BulkListener } from './transport.js';

const transport = new InProcessBulkTransport();
const listeners: BulkListener[] = [];

afterEach(async () => {
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

async function listen(): Promise<BulkListener> {
  const listener = await transport.listen('127.0.0.1', 0);
  listeners.push(listener);
  return listener;
}

describe('BulkSessionPool', () => {
  it('shares one session per address, also between concurrent callers, and frames flow on it', async () => {
    const a = await listen();
    const b = await listen();
    const pool = new BulkSessionPool(transport, { connectTimeoutMs: 1_000 });
    const [first, second] = await Promise.all([pool.get(a.address), pool.get(a.address)]);
    expect(first).toBe(second);
    expect(await pool.get(b.address)).not.toBe(first);
    expect(pool.addresses().sort()).toEqual([a.address, b.address].sort());

    const id = first!.nextRequestId();
    await first!.send(id, Buffer.from('hello'));
    const server = await a.channel(first!.sessionId, 1_000);
    expect((await server.receive(id, { timeoutMs: 1_000 })).toString()).toBe('hello');
    pool.close();
  });

  it('replaces a session that closed, and does not cache a failed connect', async () => {
    const a = await listen();
    const pool = new BulkSessionPool(transport, { connectTimeoutMs: 1_000 });
    const first = await pool.get(a.address);
    first.close();
    const second = await pool.get(a.address);
    expect(second).not.toBe(first);
    expect(second.closed).toBe(false);

    const err = await pool.get('inproc:999999').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.RPC_UNAVAILABLE);
    expect(pool.addresses()).toEqual([a.address]);
    pool.close();
  });

  it('keeps at most maxSessions open, closing the oldest', async () => {
    const targets = [await listen(), await listen(), await listen()];
    const pool = new BulkSessionPool(transport, { connectTimeoutMs: 1_000, maxSessions: 2 });
    const oldest = await pool.get(targets[0]!.address);
    await pool.get(targets[1]!.address);
    await pool.get(targets[2]!.address);
    await new Promise((r) => setImmediate(r));
    expect(oldest.closed).toBe(true);
    expect(pool.addresses()).toEqual([targets[1]!.address, targets[2]!.address]);
    pool.close();
  });

  it('closes every session on close(), and refuses get() after it', async () => {
    const a = await listen();
    const pool = new BulkSessionPool(transport, { connectTimeoutMs: 1_000 });
    const session = await pool.get(a.address);
    pool.close();
    await new Promise((r) => setImmediate(r));
    expect(session.closed).toBe(true);
    const err = await pool.get(a.address).catch((e: unknown) => e);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.CLIENT_CLOSED);
  });
});
