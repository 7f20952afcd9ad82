// `spindle agent` against a real cluster, as another language would use it: a real agent process
// (the compiled CLI) answers Describe, streams every rank's batches of an epoch (each sample once,
// with its bytes and key), continues a streamed cursor at another world size, turns bad input into
// gRPC statuses that say what to change, and stops on SIGTERM with exit code 0. The Loader service,
// driven by a caller that takes no batches, shows that it sends nothing ahead of the caller, that a
// cancelled stream closes its loader, and that closing ends open streams.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { type ClientReadableStream, Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoaderServiceImpl } from '../../agent/loader-service.js';
import { DatasetWriter } from '../../client/loader/index.js';
import { silentLogger } from '../../common/logger.js';
import { GrpcStatus } from '../../common/grpc-status.js';
import { HealthProbe, ReflectionProbe } from '../../common/testing/standard-service-clients.js';
import {
  type Batch,
  LastBatch,
  type LoaderClient,
  type LoaderState,
  type StreamBatchesRequest,
} from '../../proto/index.js';
import { useCluster } from '../harness/cluster.js';
import { type AgentProcess, loaderClient, startAgentProcess, agentChannelOptions } from './agent-process.js';

const SAMPLES = 60;
const DATASET = '/agent-test/train';
/** 40 samples of 64 KiB: more than a paused stream's buffers hold, so its stream stays open. */
const BIG_DATASET = '/agent-test/big';
const getCluster = useCluster({ storageNodes: 3, replicas: 2, targetsPerNode: 2 });
const samples: Buffer[] = [];
let agent: AgentProcess;
let loader: LoaderClient;

beforeAll(async () => {
  const client = await getCluster().client();
  await client.mkdir('/agent-test/plain-dir', { recursive: true });
  // A pack that has not published yet (left open for the test's life): its dataset is not there yet.
  await DatasetWriter.create(client, '/agent-test/packing');
  const writer = await DatasetWriter.create(client, DATASET, { shardBytes: 64 * 1024 });
  for (let i = 0; i < SAMPLES; i++) {
    samples.push(randomBytes(1 + ((i * 7919) % 6000)));
    await writer.add(samples[i]!, `key-${i}`);
  }
  await writer.publish();
  const big = await DatasetWriter.create(client, BIG_DATASET);
  for (let i = 0; i < 40; i++) await big.add(randomBytes(64 * 1024));
  await big.publish();
  agent = await startAgentProcess(['--meta', getCluster().metaAddress, '--preset', 'test']);
  loader = loaderClient(agent.ready.agent);
}, 120_000);

afterAll(async () => {
  loader?.close();
  await agent?.stop();
});

/** Reads a stream to its end, or `limit` messages and then cancels it. */
function read(call: ClientReadableStream<Batch>, limit = Number.POSITIVE_INFINITY): Promise<Batch[]> {
  const batches: Batch[] = [];
  return new Promise((resolve, reject) => {
    call.on('data', (batch: Batch) => {
      batches.push(batch);
      if (batches.length === limit) {
        call.cancel();
        resolve(batches);
      }
    });
    call.on('end', () => resolve(batches));
    call.on('error', (err: ServiceError) => (err.code === GrpcStatus.CANCELLED ? resolve(batches) : reject(err)));
  });
}

/** The status a call failed with. */
async function failure(call: Promise<unknown>): Promise<ServiceError> {
  const error = await call.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error, 'the call should have failed').toBeDefined();
  return error as ServiceError;
}

function describeCall(request: Parameters<LoaderClient['describe']>[0]) {
  return new Promise((resolve, reject) => loader.describe(request, (err, res) => (err ? reject(err) : resolve(res))));
}

function fresh(
  rank: number,
  worldSize: number,
  options: { batchSize?: number; lastBatch?: LastBatch; dataset?: string; epoch?: number } = {},
): StreamBatchesRequest {
  return {
    start: {
      $case: 'fresh',
      value: {
        dataset: options.dataset ?? DATASET,
        seed: 42,
        epoch: options.epoch ?? 1,
        batchSize: options.batchSize ?? 12,
        lastBatch: options.lastBatch ?? LastBatch.LAST_BATCH_DROP,
      },
    },
    rank,
    worldSize,
    prefetchBytes: 32 * 1024,
  };
}

/** Checks every sample's bytes and key; returns the indices, batch by batch. */
function indicesOf(batches: Batch[]): number[] {
  return batches.flatMap((batch) =>
    batch.samples.map((sample) => {
      expect(sample.key).toBe(`key-${sample.index}`);
      expect(sample.data.equals(samples[sample.index]!), `bytes of sample ${sample.index}`).toBe(true);
      return sample.index;
    }),
  );
}

const everySample = Array.from({ length: SAMPLES }, (_, i) => i);

describe('spindle agent (process)', () => {
  it('prints its ready line and serves Loader, health and reflection', async () => {
    expect(agent.ready).toMatchObject({
      meta: getCluster().metaAddress,
      services: ['spindle.Loader', 'spindle.Checkpoints', 'spindle.KvCache'],
    });
    expect(agent.ready.agent).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(agent.ready.pid).toBe(agent.child.pid);
    const health = new HealthProbe(agent.ready.agent);
    const reflection = new ReflectionProbe(agent.ready.agent);
    try {
      expect(await health.check('spindle.Loader')).toBe('SERVING');
      expect(await reflection.describeMethod('spindle.Loader', 'StreamBatches')).toEqual({
        input: '.spindle.StreamBatchesRequest',
        output: '.spindle.Batch',
      });
    } finally {
      health.close();
      reflection.close();
    }
  });

  it('describes a dataset and the batching of an epoch', async () => {
    const bytes = samples.reduce((sum, sample) => sum + sample.length, 0);
    const plain = await describeCall({ dataset: DATASET, lastBatch: LastBatch.LAST_BATCH_UNSPECIFIED });
    expect(plain).toMatchObject({ dataset: DATASET, samples: SAMPLES, bytes, batchCount: undefined });
    expect((plain as { datasetId: string }).datasetId).toMatch(/^[0-9a-f]+$/);
    const pad = { dataset: DATASET, batchSize: 8, worldSize: 2, lastBatch: LastBatch.LAST_BATCH_PAD };
    expect(await describeCall(pad)).toMatchObject({ batchCount: 8, samplesPerStep: 4 });
    expect(await describeCall({ ...pad, lastBatch: LastBatch.LAST_BATCH_DROP })).toMatchObject({ batchCount: 7 });
  });

  it('streams an epoch to two ranks: every sample once, the same steps and cursors on both', async () => {
    const [rank0, rank1] = await Promise.all([
      read(loader.streamBatches(fresh(0, 2))),
      read(loader.streamBatches(fresh(1, 2))),
    ]);
    expect(rank0.map((b) => b.batchIndex)).toEqual([0, 1, 2, 3, 4]);
    expect(rank1.map((b) => b.batchIndex)).toEqual([0, 1, 2, 3, 4]);
    expect([...indicesOf(rank0), ...indicesOf(rank1)].sort((a, b) => a - b)).toEqual(everySample);
    for (const [k, batch] of rank0.entries()) {
      expect(batch.samples).toHaveLength(6);
      expect(batch.cursor).toEqual(rank1[k]!.cursor);
      expect(batch.cursor).toMatchObject({
        dataset: DATASET,
        datasetSize: SAMPLES,
        seed: 42,
        epoch: 1,
        nextBatch: k + 1,
      });
    }
  });

  it('continues a cursor streamed at world size 3 at world size 2: exactly the rest of the epoch', async () => {
    const first = await Promise.all([0, 1, 2].map((rank) => read(loader.streamBatches(fresh(rank, 3)), 2)));
    const cursor = first[0]![1]!.cursor as LoaderState;
    for (const rank of first) expect(rank[1]!.cursor).toEqual(cursor);
    expect(cursor.nextBatch).toBe(2);
    const resume = (rank: number): StreamBatchesRequest => ({
      start: { $case: 'resume', value: cursor },
      rank,
      worldSize: 2,
    });
    const rest = await Promise.all([0, 1].map((rank) => read(loader.streamBatches(resume(rank)))));
    for (const rank of rest) expect(rank.map((b) => b.batchIndex)).toEqual([2, 3, 4]);
    const all = [...first.flatMap(indicesOf), ...rest.flatMap(indicesOf)];
    expect(all.sort((a, b) => a - b)).toEqual(everySample);
  });

  it('answers bad input with INVALID_ARGUMENT, NOT_FOUND or FAILED_PRECONDITION saying why', async () => {
    const missing = await failure(describeCall({ dataset: '/agent-test/nothing-here', lastBatch: 0 }));
    expect(missing.code).toBe(GrpcStatus.NOT_FOUND);
    expect(missing.details).toMatch(/\/agent-test\/nothing-here/);
    const notDataset = await failure(describeCall({ dataset: '/agent-test/plain-dir', lastBatch: 0 }));
    expect(notDataset.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(notDataset.details).toMatch(/\/agent-test\/plain-dir is not a dataset: it has no manifest.json/);
    const packing = await failure(describeCall({ dataset: '/agent-test/packing', lastBatch: 0 }));
    expect(packing.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(packing.details).toMatch(/\/agent-test\/packing is still being packed/);
    const relative = await failure(describeCall({ dataset: 'agent-test/train', lastBatch: 0 }));
    expect(relative.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(relative.details).toMatch(/dataset must be the dataset's absolute path/);
    const indivisible = await failure(describeCall({ dataset: DATASET, batchSize: 10, worldSize: 3, lastBatch: 2 }));
    expect(indivisible.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(indivisible.details).toMatch(/batchSize 10 is not divisible by worldSize 3/);

    const cases: Array<[StreamBatchesRequest, number, RegExp]> = [
      [fresh(2, 2), GrpcStatus.INVALID_ARGUMENT, /rank must be an integer in \[0, 2\), got 2/],
      [fresh(0, 2, { batchSize: 7 }), GrpcStatus.INVALID_ARGUMENT, /batchSize 7 is not divisible by worldSize 2/],
      [fresh(0, 1, { lastBatch: LastBatch.LAST_BATCH_UNSPECIFIED }), GrpcStatus.INVALID_ARGUMENT, /fresh\.last_batch/],
      [{ rank: 0, worldSize: 1 }, GrpcStatus.INVALID_ARGUMENT, /needs a start/],
      [fresh(0, 1, { dataset: '/agent-test/missing' }), GrpcStatus.NOT_FOUND, /agent-test\/missing/],
      [fresh(0, 1, { dataset: '/agent-test/plain-dir' }), GrpcStatus.INVALID_ARGUMENT, /plain-dir is not a dataset/],
      [fresh(0, 1, { dataset: '/agent-test/packing' }), GrpcStatus.FAILED_PRECONDITION, /still being packed/],
      [fresh(0, 1, { dataset: 'relative/path' }), GrpcStatus.INVALID_ARGUMENT, /absolute path.*relative\/path/],
    ];
    const [one] = await read(loader.streamBatches(fresh(0, 1)), 1);
    const otherPack = { ...(one!.cursor as LoaderState), datasetId: 'ffffffffffffffff' };
    cases.push([
      { start: { $case: 'resume', value: otherPack }, rank: 0, worldSize: 1 },
      GrpcStatus.INVALID_ARGUMENT,
      /datasetId "ffffffffffffffff" is not this dataset's/,
    ]);
    for (const [request, code, message] of cases) {
      const error = await failure(read(loader.streamBatches(request)));
      expect({ code: error.code, details: error.details }).toMatchObject({
        code,
        details: expect.stringMatching(message),
      });
    }
  });

  it('refuses a request that does not decode (a seed above 2^53 - 1) with INVALID_ARGUMENT', async () => {
    const epoch = new BinaryWriter()
      .uint32(10)
      .string(DATASET)
      .uint32(16)
      .uint64(2n ** 60n)
      .uint32(32)
      .uint64(12n);
    const request = new BinaryWriter().uint32(10).bytes(epoch.uint32(40).int32(1).finish()).uint32(32).uint32(1);
    const raw = new Client(agent.ready.agent, credentials.createInsecure(), agentChannelOptions());
    try {
      const call = raw.makeServerStreamRequest<Uint8Array, Buffer>(
        '/spindle.Loader/StreamBatches',
        (bytes) => Buffer.from(bytes),
        (bytes) => bytes,
        request.finish(),
      );
      const error = await failure(read(call as unknown as ClientReadableStream<Batch>));
      expect(error.code).toBe(GrpcStatus.INVALID_ARGUMENT);
      expect(error.details).toMatch(/could not be decoded \(Value is larger than Number.MAX_SAFE_INTEGER\)/);
    } finally {
      raw.close();
    }
  });

  it('listens on a unix socket, and refuses a remote --listen without --allow-remote', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spindle-agent-sock-'));
    try {
      const socket = join(dir, 'agent.sock');
      const onSocket = await startAgentProcess(['--meta', getCluster().metaAddress, '--listen', `unix:${socket}`]);
      const client = loaderClient(onSocket.ready.agent);
      try {
        expect(onSocket.ready.agent).toBe(`unix:${socket}`);
        const [batch] = await read(client.streamBatches(fresh(0, 1)), 1);
        expect(batch?.batchIndex).toBe(0);
      } finally {
        client.close();
        expect(await onSocket.stop()).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const refused = startAgentProcess(['--meta', getCluster().metaAddress, '--listen', '0.0.0.0:0']);
    await expect(refused).rejects.toThrow(/exited with 2 .*not a loopback address.*--allow-remote/s);
  });
});

/**
 * A StreamBatches call whose caller takes nothing: no write completes (HTTP/2 took nothing more),
 * as with a trainer that stopped reading. (A grpc-js client cannot play this part: it keeps
 * reading into memory while paused.)
 */
class StalledCall extends EventEmitter {
  cancelled = false;
  readonly written: Batch[] = [];
  error: Partial<ServiceError> | undefined;

  constructor(readonly request: StreamBatchesRequest) {
    super();
    this.on('error', (error: Partial<ServiceError>) => {
      this.error = error;
    });
  }

  getPeer(): string {
    return 'stalled-test-caller';
  }

  write(message: Batch, _callback: () => void): boolean {
    this.written.push(message);
    return true;
  }

  end(): void {
    throw new Error('a stalled stream cannot end');
  }

  cancel(): void {
    this.cancelled = true;
    this.emit('cancelled');
  }
}

describe('Loader service with a caller that takes no batches', () => {
  let service: LoaderServiceImpl;
  beforeAll(async () => {
    service = new LoaderServiceImpl(await getCluster().client(), silentLogger());
  });
  afterAll(() => service?.close());

  const start = (call: StalledCall) =>
    (service.implementation as { streamBatches: (call: unknown) => void }).streamBatches(call);
  const big = () => fresh(0, 1, { batchSize: 1, dataset: BIG_DATASET });

  it('sends nothing past the batch the caller has not taken, and closes the loader when it cancels', async () => {
    const call = new StalledCall(big());
    start(call);
    await expect.poll(() => call.written.length).toBe(1);
    expect(service.openLoaderCount()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(call.written).toHaveLength(1);
    call.cancel();
    await expect.poll(() => service.openLoaderCount()).toBe(0);
    expect(call.error).toBeUndefined();
  });

  it('close() ends open streams with UNAVAILABLE and closes their loaders; later streams are refused', async () => {
    const call = new StalledCall(big());
    start(call);
    await expect.poll(() => call.written.length).toBe(1);
    await service.close();
    expect(service.openLoaderCount()).toBe(0);
    expect(call.error).toMatchObject({
      code: GrpcStatus.UNAVAILABLE,
      details: expect.stringMatching(/agent is stopping/),
    });
    const late = new StalledCall(big());
    start(late);
    await expect.poll(() => late.error?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(late.written).toHaveLength(0);
  });
});

it('the agent process exits 0 on SIGTERM', async () => {
  expect(await agent.stop()).toBe(0);
});
