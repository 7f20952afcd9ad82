// The etcd engine passes the KvEngine conformance suite against a real etcd-server (started here on
// free loopback ports, stopped by pid), and turns etcd's limits into clear INVALID_ARGUMENT errors
// that write nothing: writes per transaction, compares per transaction, request bytes, and a
// server configured below what the engine was told.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdProcess, ETCD_REQUEST_BYTES_MAX, ETCD_TXN_OPS_MAX, startEtcd } from '../../cluster/etcd-service.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { runKvConformance } from './testing/conformance.js';
import { createEtcdEngine, type EtcdEngine } from './etcd-engine.js';

let baseDir = '';
let etcd: EtcdProcess[] = [];
/** A second server left at etcd's default limits (128 ops, 1.5 MiB). */
let etcdDefaults: EtcdProcess[] = [];
let prefixes = 0;

beforeAll(async () => {
  baseDir = mkdtempSync(join(tmpdir(), 'spindle-etcd-'));
  [etcd, etcdDefaults] = await Promise.all([
    startEtcd({ baseDir: join(baseDir, 'a'), logDir: join(baseDir, 'a'), detached: false }),
    startEtcd({
      baseDir: join(baseDir, 'b'),
      logDir: join(baseDir, 'b'),
      txnOpsMax: 128,
      requestBytesMax: 1572864,
      detached: false,
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([...etcd, ...etcdDefaults].map((member) => member.stop()));
  rmSync(baseDir, { recursive: true, force: true });
});

function open(options: { prefix?: string; server?: EtcdProcess[]; txnOpsMax?: number; requestBytesMax?: number }) {
  const server = options.server ?? etcd;
  return createEtcdEngine({
    endpoints: server.map((member) => member.ready.endpoint),
    prefix: options.prefix ?? `test-${process.pid}-${prefixes++}/`,
    txnOpsMax: options.txnOpsMax ?? (server === etcd ? ETCD_TXN_OPS_MAX : undefined),
    requestBytesMax: options.requestBytesMax ?? (server === etcd ? ETCD_REQUEST_BYTES_MAX : undefined),
  });
}

runKvConformance('etcd', async () => {
  const prefix = `conf-${process.pid}-${prefixes++}/`;
  const engine = await open({ prefix });
  return {
    engine,
    cleanup: () => engine.close(),
    reopen: () => open({ prefix }),
  };
});

describe('etcd engine limits', () => {
  const engines: EtcdEngine[] = [];
  afterAll(async () => {
    for (const engine of engines) await engine.close();
  });
  async function engineOn(options: Parameters<typeof open>[0]): Promise<EtcdEngine> {
    const engine = await open(options);
    engines.push(engine);
    return engine;
  }
  async function rejection(promise: Promise<unknown>): Promise<SpindleError> {
    const error = await promise.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(SpindleError);
    return error as SpindleError;
  }
  const key = (index: number) => Buffer.from(`k/${String(index).padStart(4, '0')}`);

  it('refuses a transaction writing more keys than --max-txn-ops, naming the flag, and writes nothing', async () => {
    const engine = await engineOn({ server: etcdDefaults });
    const error = await rejection(
      engine.transaction(async (txn) => {
        for (let index = 0; index < 129; index++) txn.put(key(index), Buffer.from('v'));
      }),
    );
    expect(error.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.message).toContain('--max-txn-ops');
    expect(await engine.transaction((txn) => txn.getRange(key(0), key(9999)), { readOnly: true })).toEqual([]);
    // 128 writes fit.
    await engine.transaction(async (txn) => {
      for (let index = 0; index < 128; index++) txn.put(key(index), Buffer.from('v'));
    });
    expect((await engine.transaction((txn) => txn.getRange(key(0), key(9999)), { readOnly: true })).length).toBe(128);
  });

  it('refuses a writing transaction that read more keys than etcd can compare in one commit', async () => {
    const engine = await engineOn({ server: etcdDefaults });
    const error = await rejection(
      engine.transaction(async (txn) => {
        for (let index = 0; index < 200; index++) await txn.get(key(10_000 + index));
        txn.put(key(1), Buffer.from('x'));
      }),
    );
    expect(error.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.message).toContain('--max-txn-ops');
    expect(await engine.transaction((txn) => txn.get(key(1)), { readOnly: true })).toBeUndefined();
  });

  it('refuses a transaction above --max-request-bytes before sending it', async () => {
    const engine = await engineOn({ server: etcdDefaults });
    const error = await rejection(
      engine.transaction(async (txn) => {
        txn.put(key(1), Buffer.alloc(1024 * 1024, 1));
        txn.put(key(2), Buffer.alloc(1024 * 1024, 2));
      }),
    );
    expect(error.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.message).toContain('--max-request-bytes');
    expect(await engine.transaction((txn) => txn.get(key(1)), { readOnly: true })).toBeUndefined();
  });

  it('maps a server whose limits are below what the engine was told to INVALID_ARGUMENT', async () => {
    const engine = await engineOn({ server: etcdDefaults, txnOpsMax: 1000, requestBytesMax: 8 * 1024 * 1024 });
    const ops = await rejection(
      engine.transaction(async (txn) => {
        for (let index = 0; index < 200; index++) txn.put(key(index), Buffer.from('v'));
      }),
    );
    expect(ops.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(ops.message).toContain('--max-txn-ops');
    const big = await rejection(
      engine.transaction(async (txn) => {
        txn.put(key(1), Buffer.alloc(1024 * 1024, 1));
        txn.put(key(2), Buffer.alloc(1024 * 1024, 2));
      }),
    );
    expect(big.errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(big.message).toContain('--max-request-bytes');
  });

  it('rejects bad options with CONFIG_INVALID', async () => {
    await expect(open({ txnOpsMax: 0 })).rejects.toMatchObject({ errorCode: ErrorCode.CONFIG_INVALID });
    await expect(createEtcdEngine({ endpoints: [] })).rejects.toMatchObject({ errorCode: ErrorCode.CONFIG_INVALID });
  });

  it('fails fast with a retryable RPC_UNAVAILABLE when etcd cannot be reached', async () => {
    const engine = await createEtcdEngine({ endpoints: ['127.0.0.1:1'], callTimeoutMs: 1000 });
    engines.push(engine);
    const error = await rejection(engine.transaction((txn) => txn.get(key(1)), { readOnly: true }));
    expect(error.errorCode).toBe(ErrorCode.RPC_UNAVAILABLE);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('127.0.0.1:1');
  });
});
