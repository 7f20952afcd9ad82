// Process-level fault test (issue 3, "Proof" 3): kill -9 the meta process (metadata service and
// cluster manager) while clients create directories and files, rename, and stream writes into a
// file they sync now and then; restart it on its old data dir and port. Shows:
// - nothing acknowledged is lost: every directory, file (name, length, bytes) and synced length
//   acknowledged before the kill — and after — is there after the restart;
// - clients resume by themselves once meta is back (same client objects, no reconnect by hand);
// - the storage nodes, which stop serving when they cannot renew their lease with the manager,
//   serve again (normally without any chain change: reported as `chainsChanged`).
// - every operation that failed did so in a way a client must expect while meta is away (it could
//   not be reached, timed out, or ran out of retries), and none started once the cluster served again;
// Timings as one JSON line (`meta-restart-timings`).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { useCluster } from '../harness/cluster.js';
import { routingOf } from '../harness/replicas.js';
import {
  allServing,
  expectReplicasIdentical,
  expectSame,
  expectWithinQuoted,
  MiB,
  waitFor,
  waitForRouting,
  WriteStream,
} from './support.js';

const REPLICAS = 3;
const cluster = useCluster({ storageNodes: 3, replicas: REPLICAS, targetsPerNode: 2 });

/** How an operation may fail while meta is away: unreachable, timed out, or out of retries because of that. */
const EXPECTED_FAILURES = new Set<ErrorCode>([
  ErrorCode.RPC_UNAVAILABLE,
  ErrorCode.TIMEOUT,
  ErrorCode.RETRIES_EXHAUSTED,
]);

interface Failure {
  what: string;
  /** ErrorCode name, or the error's class name when it is not a SpindleError. */
  kind: string;
  expected: boolean;
  message: string;
  startedAt: number;
}

function failureOf(what: string, err: unknown, startedAt: number): Failure {
  const expected = isSpindleError(err) && EXPECTED_FAILURES.has(err.errorCode);
  const kind = isSpindleError(err) ? err.codeName : ((err as Error)?.name ?? typeof err);
  return { what, kind, expected, message: (err as Error)?.message ?? String(err), startedAt };
}

/** Failures that are not what meta's absence explains, or that began once the cluster served again. */
function unexpected(failures: readonly Failure[], servingAt: number): Failure[] {
  return failures.filter((f) => !f.expected || f.startedAt >= servingAt);
}

interface Item {
  dir: string;
  file: string;
  data: Buffer;
  ackedAt: number;
}

/** mkdir, writeFile, every third time a rename; only what completed is recorded. */
class MetaWorker {
  readonly items: Item[] = [];
  readonly errors: Failure[] = [];
  stopped = false;
  readonly done: Promise<void>;
  constructor(
    private readonly client: SpindleClient,
    readonly id: number,
  ) {
    this.done = this.run();
  }
  private async run(): Promise<void> {
    await this.client.mkdir(`/m/w${this.id}`);
    for (let k = 0; !this.stopped; k++) {
      const dir = `/m/w${this.id}/d${k}`;
      const data = randomBytes(1 + ((k * 7919) % 50_000));
      const startedAt = Date.now();
      try {
        await this.client.mkdir(dir);
        let file = `${dir}/f`;
        await this.client.writeFile(file, data);
        if (k % 3 === 0) {
          await this.client.rename(file, `${dir}/g`);
          file = `${dir}/g`;
        }
        this.items.push({ dir, file, data, ackedAt: Date.now() });
      } catch (err) {
        // Outcome unknown (meta went away mid-call): not acknowledged, not checked.
        this.errors.push(failureOf(dir, err, startedAt));
      }
    }
  }
}

describe('kill -9 and restart of meta during a workload', () => {
  it('loses no acknowledged metadata and clients resume', async () => {
    const c = cluster();
    const setup = await c.client();
    await setup.mkdir('/m');
    await setup.mkdir('/m/big');
    await setup.setLayout('/m/big', { chunkSizeBytes: MiB });
    const workers = await Promise.all([1, 2, 3].map(async (id) => new MetaWorker(await c.client(), id)));
    const writer = await c.client();
    const data = randomBytes(48 * MiB);
    const handle = await writer.open('/m/big/stream.bin', 'w+');
    const stream = new WriteStream(handle, data, MiB, 2);
    // Publish the length now and then; each sync that returns is an acknowledged length.
    let syncedLength = 0;
    let syncing = true;
    const syncErrors: Failure[] = [];
    const syncer = (async () => {
      while (syncing) {
        const prefix = stream.ackedPrefix();
        const startedAt = Date.now();
        try {
          await handle.sync();
          syncedLength = Math.max(syncedLength, prefix);
        } catch (err) {
          syncErrors.push(failureOf('sync', err, startedAt));
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();

    const items = () => workers.reduce((n, w) => n + w.items.length, 0);
    await waitFor('a workload before the kill', () => items() >= 30 && stream.ackedBytes >= 8 * MiB, 120_000);
    const ackedBeforeKill = workers.map((w) => w.items.length);
    const syncedBeforeKill = syncedLength;
    const chainsBefore = (await routingOf(c.metaAddress)).chains.map((x) => ({
      chainId: x.chainId,
      chainVersion: x.chainVersion,
      targetIds: x.targetIds,
    }));
    const killedAt = Date.now();
    await c.killMeta('SIGKILL');
    await c.restartMeta();
    const metaReadyMs = Date.now() - killedAt;
    // The manager gets its nodes back from their heartbeats; the storage nodes, which stopped serving
    // when their lease ran out, serve again (no chain change needed: they never restarted).
    await waitForRouting(c.metaAddress, 'every target serving after the meta restart', allServing, 60_000);
    const servingAt = Date.now();
    const servingMs = servingAt - killedAt;
    // Normally no chain changes (the restarted manager gives every node a fresh failure timeout); a
    // node starved past it on a loaded host would be moved and resynced, which is correct too, so
    // this is reported, not asserted.
    const chainsAfter = (await routingOf(c.metaAddress)).chains.map((x) => ({
      chainId: x.chainId,
      chainVersion: x.chainVersion,
      targetIds: x.targetIds,
    }));
    const chainsChanged = JSON.stringify(chainsAfter) !== JSON.stringify(chainsBefore);
    // Clients resume: each worker completes new operations, and the stream goes on.
    const resumeFrom = workers.map((w) => w.items.length);
    const bytesAtRestart = stream.ackedBytes;
    await waitFor(
      'every worker to resume',
      () => workers.every((w, i) => w.items.length >= resumeFrom[i]! + 3),
      60_000,
    );
    const resumedMs = Date.now() - killedAt;
    await waitFor(
      'the stream to resume',
      () => stream.ackedBytes > bytesAtRestart || stream.next >= data.length,
      60_000,
    );
    for (const w of workers) w.stopped = true;
    await Promise.all(workers.map((w) => w.done));
    await stream.done;
    syncing = false;
    await syncer;
    await handle.close();

    console.log(
      'meta-restart-timings',
      JSON.stringify({
        metaReadyMs,
        servingMs,
        resumedMs,
        chainsChanged,
        itemsAckedBeforeKill: ackedBeforeKill.reduce((a, b) => a + b, 0),
        itemsTotal: items(),
        syncedMiBBeforeKill: syncedBeforeKill / MiB,
        workerErrors: workers.flatMap((w) => w.errors.map((e) => `${e.what}: ${e.kind}`)),
        syncErrors: syncErrors.map((e) => e.kind),
        streamFailures: stream.failures,
      }),
    );
    // Liveness bounds on what docs/failures.md quotes (logged above first, so a slow run still reports).
    expectWithinQuoted('metaReady', metaReadyMs);
    expectWithinQuoted('metaServing', servingMs);
    expectWithinQuoted('metaResumed', resumedMs);
    // Every failure is one meta's absence explains, of an operation started before the cluster
    // served again (an INTERNAL, EXISTS or NOT_FOUND would be a bug the acknowledged checks miss).
    expect(
      unexpected(
        workers.flatMap((w) => w.errors),
        servingAt,
      ),
      'unexpected worker failures',
    ).toEqual([]);
    expect(unexpected(syncErrors, servingAt), 'unexpected sync failures').toEqual([]);
    // Nothing acknowledged is lost (checked through a fresh client).
    const checker = await c.client();
    for (const w of workers) {
      expect(w.items.length).toBeGreaterThan(0);
      const names = (await checker.readdir(`/m/w${w.id}`)) as string[];
      for (const item of w.items) {
        expect(names, `dir of worker ${w.id}`).toContain(item.dir.slice(item.dir.lastIndexOf('/') + 1));
        const stat = await checker.stat(item.file);
        expect(stat.size, `length of ${item.file}`).toBe(item.data.length);
        expectSame(await checker.readFile(item.file), item.data, item.file);
      }
    }
    const stat = await checker.stat('/m/big/stream.bin');
    expect(stat.size).toBeGreaterThanOrEqual(syncedBeforeKill);
    // A write may fail while meta is away longer than the client's retry deadline (the storage nodes
    // stop serving without a lease); it was never acknowledged. Every write started once the cluster
    // serves again succeeds.
    expect(
      stream.failedStartedAt.filter((t) => t >= servingAt),
      'writes failed after the cluster served again',
    ).toEqual([]);
    expect(stat.size).toBe(data.length);
    stream.expectAckedReadBack(await checker.readFile('/m/big/stream.bin'));
    await expectReplicasIdentical(
      c.metaAddress,
      REPLICAS,
      [{ ino: handle.ino, data, chunkSize: MiB, acknowledgedChunks: new Set([...stream.acked].map((at) => at / MiB)) }],
      4,
    );
  }, 240_000);
});
