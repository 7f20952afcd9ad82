// A truncate through the mount (FUSE SETATTR with a size) when storage answers slowly or not at
// all: a real meta in this process, with its own storage client, in front of a fake Storage service
// whose answers are delayed on purpose. Meta commits the new length, then cuts the chunks past it
// (RemoveChunks on every chain, then a TRUNCATE write of the boundary chunk) before it answers.
//
// What it pins down: each storage call has a deadline, the cut as a whole does not. A cut slower
// than one call's deadline but made of calls that each answer in time completes (it used to be
// cancelled at that deadline: the kernel got ECANCELED for a truncate on a loaded machine), and a
// storage that never answers still ends the request with EIO in bounded time.
import { setMaxListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { SpindleClient } from '../../client/spindle-client.js';
import { serviceImplementation, startGrpcServer, stopGrpcServer } from '../../common/rpc.js';
import { type MetaServer, startMetaServer } from '../../meta/server.js';
import { SpindleFuseFs } from '../../mount/fuse-fs.js';
import { FuseOp, SetAttrBits } from '../../mount/native.js';
import { type RemoveChunksRequest, StorageService, UpdateType, type WriteRequest } from '../../proto/index.js';
import { type FuseCall, recordingFuse } from './testing/recording-replies.js';

const E = osConstants.errno;
const S_IFREG = 0o100000;
/** The fake nodes send no heartbeats: meta counts them alive this long after they registered. */
const NODE_LEASE_MS = 60_000;

interface Stack {
  meta: MetaServer;
  call: FuseCall;
  removes: RemoveChunksRequest[];
  truncates: WriteRequest[];
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Meta (test preset plus `metaConfig`, storage client settings `storageClient`) with three fake
 * storage nodes that answer RemoveChunks and Write after `answerAfterMs` (undefined: held until
 * the test ends), a connected client, and a SpindleFuseFs on it driven by recorded replies.
 */
async function startStack(options: {
  answerAfterMs: (meta: MetaServer) => number | undefined;
  metaConfig?: Record<string, unknown>;
  storageClient?: Record<string, unknown>;
}): Promise<Stack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'spindle-mount-truncate-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const meta = await startMetaServer({
    dataDir,
    preset: 'test',
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
  const answer = async () => {
    const delayMs = options.answerAfterMs(meta);
    if (delayMs !== undefined) return sleep(delayMs, undefined, { signal: stopped.signal });
    return new Promise<never>((_, reject) => {
      stopped.signal.addEventListener('abort', () => reject(stopped.signal.reason), { once: true });
    });
  };
  const storage = await startGrpcServer(
    [
      {
        definition: StorageService,
        implementation: serviceImplementation({
          removeChunks: async (request: RemoveChunksRequest) => {
            await answer();
            removes.push(request);
            return { removed: 1 };
          },
          write: async (request: WriteRequest) => {
            await answer();
            truncates.push(request);
            return { length: request.offset, commitVersion: 1, chunkCrc32c: 0 };
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

  const client = await SpindleClient.connect({ meta: meta.address, preset: 'test' });
  cleanups.push(() => client.close());
  const call = recordingFuse((replies) => new SpindleFuseFs({ client, replies }));
  return { meta, call, removes, truncates };
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

describe('truncate through the mount when storage is slow', () => {
  it('completes a cut slower than one storage call deadline whose calls each answer in time', async () => {
    // Each call answers in 60 % of its deadline: the remove and the boundary cut together take
    // longer than one deadline (the old limit of the whole cut).
    const stack = await startStack({ answerAfterMs: (meta) => Math.round(meta.config.storageRpcTimeoutMs * 0.6) });
    const deadlineMs = stack.meta.config.storageRpcTimeoutMs;
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
    expect(stack.truncates).toMatchObject([{ type: UpdateType.TRUNCATE, chunk: { ino, index: 0 }, offset: 5 }]);
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
});
