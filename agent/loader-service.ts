// The Loader gRPC service (proto/loader.proto) on the client loader (client/loader).
//
// Guarantees:
// - Describe opens the dataset, answers and closes it; StreamBatches opens one loader per call and
//   closes it when the stream ends, fails or is cancelled, and when the service closes.
// - A stream reads ahead of its caller at most the loader's prefetch (message-pump.ts), and each
//   Batch carries loader.state() taken right after the batch was handed out: the cursor after it.
// - Every failure is a gRPC status with the Spindle code in trailers (common/grpc-errors.ts), as
//   the loader decides it: bad fields and paths that are not datasets INVALID_ARGUMENT, a missing
//   dataset NOT_FOUND, one still being packed FAILED_PRECONDITION; a request that does not even
//   decode (e.g. a seed above 2^53 - 1) is INVALID_ARGUMENT naming the decoder's complaint.
//   Unexpected errors are logged.
import type { ServerWritableStream } from '@grpc/grpc-js';
import { type DataLoader, EpochSampler, openDataset, openLoader, resumeLoader } from '../client/loader/index.js';
import type { SpindleClient } from '../client/spindle-client.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { toGrpcError } from '../common/grpc-errors.js';
import type { Logger } from '../common/logger.js';
import { type CallContext, serviceImplementation } from '../common/rpc.js';
import {
  type Batch,
  type DescribeRequest,
  type DescribeResponse,
  LoaderService,
  type StreamBatchesRequest,
} from '../proto/index.js';
import { batchMessage, datasetPath, lastBatchPolicy, streamStart } from './loader-messages.js';
import { pumpMessages } from './message-pump.js';
import {
  type AgentService,
  type MaybeDecoded,
  decoded,
  logCallFailure,
  tolerantDefinition,
} from './service-support.js';

export class LoaderServiceImpl implements AgentService {
  readonly definition = tolerantDefinition(LoaderService);
  readonly implementation;
  private readonly logger: Logger;
  /** Open streams: aborting one's controller closes its loader and ends its call; the promise settles then. */
  private readonly streams = new Map<AbortController, Promise<void>>();
  /** Loaders opened and not yet closed. */
  private openLoaders = 0;
  private closed = false;

  constructor(
    private readonly client: SpindleClient,
    logger: Logger,
  ) {
    this.logger = logger.child({ component: 'agent.loader' });
    this.implementation = {
      ...serviceImplementation({ describe: (request, context) => this.describe(request, context) }, (method, err) =>
        this.logFailure(method, err),
      ),
      streamBatches: (call: ServerWritableStream<StreamBatchesRequest, Batch>) => {
        const controller = new AbortController();
        const done = this.streamBatches(call, controller).finally(() => this.streams.delete(controller));
        this.streams.set(controller, done);
      },
    };
  }

  /** Loaders open right now (one per stream, from its start until its close() finished). */
  openLoaderCount(): number {
    return this.openLoaders;
  }

  private async describe(request: MaybeDecoded<DescribeRequest>, context: CallContext): Promise<DescribeResponse> {
    const { dataset, batchSize, worldSize, lastBatch } = decoded(request, 'Describe');
    const opened = await openDataset(this.client, datasetPath(dataset, 'dataset'), {
      indexCacheBytes: 0,
      signal: context.signal,
    });
    try {
      const response: DescribeResponse = {
        dataset,
        datasetId: opened.id,
        samples: opened.size,
        bytes: opened.manifest.bytes,
      };
      if (batchSize === undefined) return response;
      // The sampler checks the batching exactly as a stream would (divisibility, drop > size).
      const sampler = new EpochSampler({
        datasetId: opened.id,
        datasetSize: opened.size,
        seed: 0,
        epoch: 0,
        batchSize,
        rank: 0,
        worldSize: worldSize ?? 1,
        lastBatch: lastBatchPolicy(lastBatch, 'last_batch'),
      });
      return { ...response, batchCount: sampler.batchCount, samplesPerStep: sampler.samplesPerStep };
    } finally {
      await opened.close();
    }
  }

  private async streamBatches(
    call: ServerWritableStream<StreamBatchesRequest, Batch>,
    controller: AbortController,
  ): Promise<void> {
    const cancel = () => controller.abort();
    call.once('cancelled', cancel);
    if (call.cancelled || this.closed) controller.abort();
    let loader: DataLoader | undefined;
    let sent = 0;
    let outcome = 'done';
    const peer = call.getPeer(); // once the call is gone, grpc-js says 'unknown'
    try {
      const start = streamStart(decoded(call.request, 'StreamBatches'));
      const signal = controller.signal;
      loader =
        start.kind === 'fresh'
          ? await openLoader(this.client, { ...start.options, signal })
          : await resumeLoader(this.client, start.state, { ...start.at, signal });
      this.openLoaders++;
      const open = loader;
      const { rank, worldSize } = start.kind === 'fresh' ? start.options : start.at;
      this.logger.debug({ peer, ...open.state(), rank, worldSize }, 'stream opened');
      await pumpMessages(
        async () => {
          const batch = await open.next();
          if (batch === undefined) return undefined;
          sent++;
          return batchMessage(batch, open.state());
        },
        call,
        signal,
      );
      call.end();
    } catch (err) {
      if (controller.signal.aborted) {
        // The caller left (or the agent stops): end the call if it is still there.
        outcome = this.closed ? 'agent stopping' : 'cancelled';
        if (!call.cancelled) call.emit('error', toGrpcError(this.stoppedError()));
      } else {
        outcome = 'failed';
        this.logFailure('streamBatches', err);
        call.emit('error', toGrpcError(err));
      }
    } finally {
      call.removeListener('cancelled', cancel);
      if (loader !== undefined) {
        this.logger.debug({ peer, dataset: loader.state().dataset, batches: sent, outcome }, 'stream ended');
      }
      await loader?.close().then(
        () => this.openLoaders--,
        (err: unknown) => this.logger.warn({ err }, 'closing a loader failed'),
      );
    }
  }

  private stoppedError(): SpindleError {
    return this.closed
      ? new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'the agent is stopping; reconnect to a running agent and resume')
      : new SpindleError(ErrorCode.CANCELLED, 'the stream was cancelled');
  }

  private logFailure(method: string, err: unknown): void {
    logCallFailure(this.logger, method, err);
  }

  /** Ends every open stream (closing its loader); later streams are refused. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const controller of this.streams.keys()) controller.abort();
    await Promise.allSettled(this.streams.values());
  }
}
