// A truncate through the mount (FUSE SETATTR with a size) when storage answers slowly or not at
// all: a real meta in this process, with its own storage client, in front of a fake Storage service
// whose answers are delayed on purpose. Meta commits the new length, then cuts the chunks past it
// (RemoveChunks on every chain, then a TRUNCATE write of the boundary chunk) before it answers.
//
// What it pins down: each storage call has a deadline, and the cut as a whole has a budget
// (meta's requestStorageBudgetMs) that is longer than one call's deadline and shorter than the
// client's per-attempt timeout (rpcTimeoutMs). A cut slower than one call's deadline but within the
// budget completes (a budget of one call's deadline cancelled it: the kernel got ECANCELED for a
// truncate on a loaded machine); a cut past the budget is stopped and answered with a retryable
// TIMEOUT naming the inode, which the client retries until a cut fits — one cut at a time (without
// a budget the client's attempt timed out first and its retry started a second cut alongside the
// first); and a storage that fails for good still ends the request with EIO in bounded time.
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SpindleClient } from '../../client/spindle-client.js';
import { clientConfig, metaConfig, type Preset } from '../../common/config.js';
import { ErrorCode, type SpindleError, isSpindleError } from '../../common/errors.js';
import { type CallContext, serviceImplementation, startGrpcServer, stopGrpcServer } from '../../common/rpc.js';
import { type MetaServer, startMetaServer } from '../../meta/server.js';
import { SpindleFuseFs } from '../../mount/fuse-fs.js';
import { FuseOp, SetAttrBits } from '../../mount/native.js';
import {
  type QueryLastChunkRequest,
  type RemoveChunksRequest,
  StorageService,
  UpdateType,
  type WriteRequest,
} from '../../proto/index.js';
import { type FuseCall, recordingFuse } from './testing/recording-replies.js';

const E = osConstants.errno;
const S_IFREG = 0o100000;
/** The fake nodes send no heartbeats: meta counts them alive this long after they registered. */
const NODE_LEASE_MS = 60_000;

/** What the client logged when it retried a meta call ('meta request retried'). */
interface MetaRetry {
  what: string;
  code: string;
  err: string;
}

interface Stack {
  meta: MetaServer;
  client: SpindleClient;
  call: FuseCall;
  removes: RemoveChunksRequest[];
  truncates: WriteRequest[];
  /** The client's retries of meta calls, in order. */
  metaRetries: MetaRetry[];
  /** Storage calls meta has in flight now (arrived, neither answered nor given up by meta). */
  inFlight: () => number;
  /** Most storage calls of one kind to one chain that were in flight at once. */
  mostAtOnce: () => number;
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Meta (`preset`, default test, plus `metaConfig`; storage client settings `storageClient`) with
 * three fake storage nodes that answer RemoveChunks and Write after `answerAfterMs` (undefined:
 * held until meta gives up on the call), a connected client of the same preset whose meta retries
 * are recorded, and a SpindleFuseFs on it driven by recorded replies.
 */
async function startStack(options: {
  answerAfterMs: (meta: MetaServer) => number | undefined;
  preset?: Preset;
  metaConfig?: Record<string, unknown>;
  storageClient?: Record<string, unknown>;
}): Promise<Stack> {
  const preset = options.preset ?? 'test';
  const dataDir = mkdtempSync(join(tmpdir(), 'spindle-mount-truncate-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const meta = await startMetaServer({
    dataDir,
    preset,
    replicas: 3,
    storageNodesExpected: 3,
    config: { nodeLeaseMs: NODE_LEASE_MS, nodeFailureTimeoutMs: NODE_LEASE_MS, ...options.metaConfig },
    clientConfig: options.storageClient,
  });
  cleanups.push(() => meta.close());

  const removes: RemoveChunksRequest[] = [];
  const truncates: WriteRequest[] = [];
  // Aborted at cleanup: calls still held (a storage that never answers) are released then.
  const stopped = new AbortController();
  setMaxListeners(0, stopped.signal);
  const live = new Map<string, number>();
  let mostAtOnce = 0;
  /** Answers (or holds) one call; it counts as in flight until it answers or its caller gives up. */
  const answer = async (key: string, context: CallContext) => {
    const ends = AbortSignal.any([stopped.signal, context.signal]);
    const count = (live.get(key) ?? 0) + 1;
    live.set(key, count);
    mostAtOnce = Math.max(mostAtOnce, count);
    try {
      const delayMs = options.answerAfterMs(meta);
      if (delayMs !== undefined) return await sleep(delayMs, undefined, { signal: ends });
      return await new Promise<never>((_, reject) => {
        ends.addEventListener('abort', () => reject(ends.reason), { once: true });
      });
    } finally {
      live.set(key, (live.get(key) ?? 1) - 1);
    }
  };
  const storage = await startGrpcServer(
    [
      {
        definition: StorageService,
        implementation: serviceImplementation({
          removeChunks: async (request: RemoveChunksRequest, context: CallContext) => {
            await answer(`remove ${request.chainId}`, context);
            removes.push(request);
            return { removed: 1 };
          },
          write: async (request: WriteRequest, context: CallContext) => {
            await answer(`write ${request.chainId}`, context);
            truncates.push(request);
            return { length: request.offset, commitVersion: 1, chunkCrc32c: 0 };
          },
          queryLastChunk: async (request: QueryLastChunkRequest, context: CallContext) => {
            await answer(`query ${request.chainId}`, context);
            return { found: false, index: 0, length: 0 };
          },
        }),
      },
    ],
    '127.0.0.1',
    0,
  );
  cleanups.push(() => stopGrpcServer(storage.server, 100));
  cleanups.push(() => stopped.abort());
  // Three "nodes" served by the one fake (same address, different target directories).
  for (let n = 1; n <= 3; n++) {
    await meta.manager.registerNode({ address: storage.address, targetPaths: [`/n${n}/0`, `/n${n}/1`, `/n${n}/2`] });
  }

  const metaRetries: MetaRetry[] = [];
  const logger = pino(
    { level: 'debug', base: null },
    {
      write: (line: string) => {
        const entry = JSON.parse(line) as MetaRetry & { msg: string };
        if (entry.msg === 'meta request retried')
          metaRetries.push({ what: entry.what, code: entry.code, err: entry.err });
      },
    },
  );
  const client = await SpindleClient.connect({ meta: meta.address, preset, logger });
  cleanups.push(() => client.close());
  const call = recordingFuse((replies) => new SpindleFuseFs({ client, replies }));
  const inFlight = () => [...live.values()].reduce((sum, n) => sum + n, 0);
  return { meta, client, call, removes, truncates, metaRetries, inFlight, mostAtOnce: () => mostAtOnce };
}

/** Creates /f through the mount and gives it 11 bytes of length (no storage call: a file grows in meta only). */
async function elevenByteFile(call: FuseCall): Promise<number> {
  const created = await call(FuseOp.MKNOD, { parent: 1, name: 'f', mode: S_IFREG | 0o644 });
  expect(created.method).toBe('replyEntry');
  const ino = (created.args[0] as { ino: number }).ino;
  const grown = await call(FuseOp.SETATTR, { ino, valid: SetAttrBits.SIZE, attr: sizeAttr(11) });
  expect(grown.method).toBe('replyAttr');
  expect(grown.args[0]).toMatchObject({ size: 11 });
  return ino;
}

function sizeAttr(size: number) {
  return { mode: 0, uid: 0, gid: 0, size, atimeUs: 0, mtimeUs: 0 };
}

/** Waits until `done()` holds, checking every 10 ms, for at most `ms`. */
async function eventually(done: () => boolean, ms: number): Promise<boolean> {
  for (const endMs = performance.now() + ms; !done() && performance.now() < endMs; ) await sleep(10);
  return done();
}

/**
 * Truncates the 11-byte /f to 5 through the mount while storage holds every call that arrives in
 * the first `stallMs` (from just before the request) and answers later ones at once; expects the
 * request to succeed after meta answered TIMEOUT at least once, one cut at a time.
 */
async function truncateThroughStall(preset: Preset): Promise<{ stack: Stack; budgetMs: number; tookMs: number }> {
  const budgetMs = metaConfig(preset).requestStorageBudgetMs;
  const clientTimeoutMs = clientConfig(preset).rpcTimeoutMs;
  let stallEndsMs = Number.POSITIVE_INFINITY;
  const stack = await startStack({ preset, answerAfterMs: () => (performance.now() < stallEndsMs ? undefined : 0) });
  const ino = await elevenByteFile(stack.call);
  // In the test preset the stall outlasts the client's attempt timeout, so a cut that is not
  // stopped at the budget meets its retry; in production it ends with the first budget (20 s).
  const stallMs = preset === 'test' ? clientTimeoutMs + 500 : budgetMs;
  const startedMs = performance.now();
  stallEndsMs = startedMs + stallMs;
  const cut = await stack.call(FuseOp.SETATTR, { ino, valid: SetAttrBits.SIZE, attr: sizeAttr(5) });
  const tookMs = performance.now() - startedMs;

  expect(cut.method, `the truncate was answered ${JSON.stringify(cut)}`).toBe('replyAttr');
  expect(cut.args[0]).toMatchObject({ ino, size: 5 });
  // Every retry was meta's own TIMEOUT at the budget, naming the inode, not the client's
  // deadline ("meta.Truncate: deadline exceeded") with the cut still running at meta.
  expect(stack.metaRetries.length).toBeGreaterThan(0);
  for (const retry of stack.metaRetries) {
    expect(retry).toEqual({
      what: 'meta.Truncate',
      code: 'TIMEOUT',
      err: `storage cut of inode ${ino} to 5 bytes: not done within ${budgetMs} ms`,
    });
  }
  expect(tookMs).toBeGreaterThanOrEqual(stallMs);
  // One cut at a time: never two calls of one kind to one chain in flight together.
  expect(stack.mostAtOnce()).toBe(1);
  expect(stack.removes.length).toBeGreaterThan(0);
  expect(stack.removes.every((r) => r.ino === ino && r.fromIndex === 1)).toBe(true);
  expect(stack.truncates.length).toBeGreaterThan(0);
  for (const truncate of stack.truncates) {
    expect(truncate).toMatchObject({ type: UpdateType.TRUNCATE, chunk: { ino, index: 0 }, offset: 5 });
  }
  return { stack, budgetMs, tookMs };
}

describe('truncate through the mount when storage is slow', () => {
  it('completes a cut slower than one storage call deadline whose calls each answer in time', async () => {
    // Each call answers in 60 % of its deadline: the remove and the boundary cut together take
    // longer than one deadline (what a cut was once limited to), and less than the budget.
    const stack = await startStack({ answerAfterMs: (meta) => Math.round(meta.config.storageRpcTimeoutMs * 0.6) });
    const deadlineMs = stack.meta.config.storageRpcTimeoutMs;
    expect(stack.meta.config.requestStorageBudgetMs).toBeGreaterThan(1.2 * deadlineMs);
    const ino = await elevenByteFile(stack.call);

    const startedMs = performance.now();
    const cut = await stack.call(FuseOp.SETATTR, { ino, valid: SetAttrBits.SIZE, attr: sizeAttr(5) });
    const tookMs = performance.now() - startedMs;

    expect(cut.method, `the truncate was answered ${JSON.stringify(cut)}`).toBe('replyAttr');
    expect(cut.args[0]).toMatchObject({ ino, size: 5 });
    expect(tookMs).toBeGreaterThan(deadlineMs);
    // Chunks from index 1 removed on every chain; chunk 0 cut to 5 bytes.
    expect(stack.removes.length).toBeGreaterThan(0);
    expect(stack.removes.every((r) => r.ino === ino && r.fromIndex === 1)).toBe(true);
    expect(stack.truncates.length).toBeGreaterThan(0);
    for (const truncate of stack.truncates) {
      expect(truncate).toMatchObject({ type: UpdateType.TRUNCATE, chunk: { ino, index: 0 }, offset: 5 });
    }
  }, 30_000);

  it('answers EIO in bounded time when storage never answers', async () => {
    // Short storage deadlines so the test is quick; the client keeps its test-preset settings.
    const storageRetryDeadlineMs = 1_500;
    const stack = await startStack({
      answerAfterMs: () => undefined,
      metaConfig: { storageRpcTimeoutMs: 300 },
      storageClient: { retryDeadlineMs: storageRetryDeadlineMs },
    });
    const ino = await elevenByteFile(stack.call);

    const startedMs = performance.now();
    const cut = await stack.call(FuseOp.SETATTR, { ino, valid: SetAttrBits.SIZE, attr: sizeAttr(5) });
    const tookMs = performance.now() - startedMs;

    // Meta gave up on storage (RETRIES_EXHAUSTED, naming the chain) and said so: not a
    // cancellation, and well before the client's own per-call deadline (5 s in the test preset).
    expect(cut).toEqual({ method: 'replyErr', args: [E.EIO] });
    expect(tookMs).toBeGreaterThanOrEqual(storageRetryDeadlineMs);
    expect(tookMs).toBeLessThan(4 * storageRetryDeadlineMs);
    expect(stack.truncates).toEqual([]);
  }, 30_000);

  it('answers a retryable TIMEOUT naming the inode when the cut outlasts the budget, and stops the cut', async () => {
    // Storage never answers; meta's storage client would retry each step for 10 s (its retry
    // deadline), the budget is 3 s.
    const stack = await startStack({ answerAfterMs: () => undefined });
    const budgetMs = stack.meta.config.requestStorageBudgetMs;
    expect(budgetMs).toBeLessThan(clientConfig('test').rpcTimeoutMs);
    const ino = await elevenByteFile(stack.call);

    // One attempt, with a per-attempt timeout far past the budget: what meta itself answers.
    const startedMs = performance.now();
    const outcome = await stack.client.meta
      .truncate({ at: { parentIno: ino, path: '' }, length: 5 }, { retry: false, timeoutMs: 30_000 })
      .catch((err: unknown) => err);
    const tookMs = performance.now() - startedMs;

    expect(isSpindleError(outcome, ErrorCode.TIMEOUT), String(outcome)).toBe(true);
    const error = outcome as SpindleError;
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(`storage cut of inode ${ino} to 5 bytes: not done within ${budgetMs} ms`);
    expect(tookMs).toBeGreaterThanOrEqual(budgetMs - 50);
    expect(tookMs).toBeLessThan(budgetMs + 1_500);
    // Meta gave up its storage calls with its answer: nothing of the cut runs on.
    expect(await eventually(() => stack.inFlight() === 0, 1_000)).toBe(true);
    // The length is committed; a later truncate (storage back) finishes the cut.
    const attr = await stack.call(FuseOp.GETATTR, { ino });
    expect(attr.args[0]).toMatchObject({ size: 5 });
  }, 30_000);

  it("bounds Sync's length recovery the same way: TIMEOUT naming the inode, the storage calls stopped", async () => {
    const stack = await startStack({ answerAfterMs: () => undefined });
    const budgetMs = stack.meta.config.requestStorageBudgetMs;
    const ino = await elevenByteFile(stack.call);

    const startedMs = performance.now();
    const outcome = await stack.client.meta
      .sync(
        { ino, lengthHint: 0, truncateVersion: 0, wrote: false, recomputeLength: true },
        { retry: false, timeoutMs: 30_000 },
      )
      .catch((err: unknown) => err);
    const tookMs = performance.now() - startedMs;

    expect(isSpindleError(outcome, ErrorCode.TIMEOUT), String(outcome)).toBe(true);
    expect((outcome as SpindleError).retryable).toBe(true);
    expect((outcome as SpindleError).message).toBe(
      `Sync: length of inode ${ino} from storage: not done within ${budgetMs} ms`,
    );
    expect(tookMs).toBeGreaterThanOrEqual(budgetMs - 50);
    expect(tookMs).toBeLessThan(budgetMs + 1_500);
    expect(await eventually(() => stack.inFlight() === 0, 1_000)).toBe(true);
  }, 30_000);

  it('succeeds through the client when a cut outlasts the budget once storage is back, one cut at a time', async () => {
    const { stack } = await truncateThroughStall('test');
    expect(stack.metaRetries.length).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('default (production) timings: meta answers TIMEOUT at 20 s, before the client attempt (30 s) ends', async () => {
    const { budgetMs, tookMs } = await truncateThroughStall('production');
    expect(budgetMs).toBe(20_000);
    expect(budgetMs).toBeLessThan(clientConfig('production').rpcTimeoutMs);
    expect(tookMs).toBeLessThan(clientConfig('production').rpcTimeoutMs);
  }, 60_000);
});
