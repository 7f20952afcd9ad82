// The Checkpoints gRPC service (proto/checkpoints.proto) on the client library's checkpoints
// (client/checkpoints, docs/checkpoints.md "From Python and other languages").
//
// Guarantees:
// - Begin opens one CheckpointSave and hands out an opaque handle for it; the handle lives until
//   a Finish that succeeded or an Abort, or until the agent closes — closing forgets open saves and
//   aborts nothing: their staging directories, owned by this process, are collected as abandoned by
//   a later commit in the same directory once the agent is gone. At most AGENT_CHECKPOINT_SAVES_MAX
//   are open at once.
// - WriteShard streams the chunks into the shard as they arrive (nothing buffers a whole shard); a
//   stream that is cancelled or fails midway fails the save (it can only be aborted), as a failed
//   write does in the library.
// - Bad input is INVALID_ARGUMENT naming the proto field and changes nothing; every other failure
//   is the library's, as a gRPC status with the Spindle code in trailers (DATA_CORRUPTED → DATA_LOSS
//   naming the shard). Calls the caller must fix are logged at debug, the rest as warnings.
import { randomBytes } from 'node:crypto';
import type { ServerReadableStream, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import { type CheckpointSave, Checkpoints, type SpindleClient, openCheckpoints } from '../client/index.js';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { toGrpcError } from '../common/grpc-errors.js';
import type { Logger } from '../common/logger.js';
import { serviceImplementation } from '../common/rpc.js';
import {
  type AbortRequest,
  type AbortResponse,
  type AdoptShardRequest,
  type BeginRequest,
  type BeginResponse,
  CheckpointsService,
  type DeleteRequest,
  type DeleteResponse,
  type FinishRequest,
  type FinishResponse,
  type ListRequest,
  type ListResponse,
  type LoadRequest,
  type Manifest,
  type ReadShardRequest,
  type ShardChunk,
  type ShardData,
  type ShardInfo,
} from '../proto/index.js';
import {
  checkpointDir,
  checkpointStep,
  finishResponse,
  manifestMessage,
  optionalCount,
  optionalSaveId,
  placement,
  required,
  shardChunks,
  shardInfo,
  userMetadata,
} from './checkpoint-messages.js';
import { AGENT_CHECKPOINT_SAVES_MAX, AGENT_SHARD_CHUNK_BYTES } from './constants.js';
import { pumpMessages } from './message-pump.js';
import {
  type AgentService,
  type MaybeDecoded,
  decoded,
  logCallFailure,
  tolerantDefinition,
} from './service-support.js';

export class CheckpointsServiceImpl implements AgentService {
  readonly definition = tolerantDefinition(CheckpointsService);
  readonly implementation;
  private readonly logger: Logger;
  /** Open saves by handle, from Begin until Finish or Abort. */
  private readonly saves = new Map<string, CheckpointSave>();
  /** Streams in progress: aborting one ends it; the promise settles when it has. */
  private readonly streams = new Map<AbortController, Promise<void>>();
  private closed = false;

  constructor(
    private readonly client: SpindleClient,
    logger: Logger,
  ) {
    this.logger = logger.child({ component: 'agent.checkpoints' });
    this.implementation = {
      ...serviceImplementation(
        {
          begin: (request: MaybeDecoded<BeginRequest>) => this.begin(decoded(request, 'Begin')),
          adoptShard: (request: MaybeDecoded<AdoptShardRequest>) => this.adoptShard(decoded(request, 'AdoptShard')),
          finish: (request: MaybeDecoded<FinishRequest>) => this.finish(decoded(request, 'Finish')),
          abort: (request: MaybeDecoded<AbortRequest>) => this.abort(decoded(request, 'Abort')),
          list: (request: MaybeDecoded<ListRequest>) => this.list(decoded(request, 'List')),
          load: (request: MaybeDecoded<LoadRequest>) => this.load(decoded(request, 'Load')),
          delete: (request: MaybeDecoded<DeleteRequest>) => this.delete(decoded(request, 'Delete')),
        },
        (method, err) => logCallFailure(this.logger, method, err),
      ),
      writeShard: (
        call: ServerReadableStream<MaybeDecoded<ShardChunk>, ShardInfo>,
        callback: sendUnaryData<ShardInfo>,
      ) =>
        this.track(call, (signal) =>
          this.writeShard(call, signal).then(
            (info) => callback(null, info),
            (err: unknown) => {
              logCallFailure(this.logger, 'writeShard', err);
              callback(toGrpcError(err) as never);
            },
          ),
        ),
      readShard: (call: ServerWritableStream<MaybeDecoded<ReadShardRequest>, ShardData>) =>
        this.track(call, (signal) =>
          this.readShard(call, signal).then(
            () => {
              call.end();
            },
            (err: unknown) => {
              logCallFailure(this.logger, 'readShard', err);
              if (!call.cancelled) call.emit('error', toGrpcError(err));
            },
          ),
        ),
    };
  }

  private async begin(request: BeginRequest): Promise<BeginResponse> {
    this.checkOpen();
    const dir = checkpointDir(request.dir);
    const { worldSize, rank } = placement(request.worldSize, request.rank);
    const keepLast = optionalCount(request.keepLast, 'keep_last');
    const keepEvery = optionalCount(request.keepEvery, 'keep_every');
    if (keepEvery !== undefined && keepLast === undefined) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'keep_every needs keep_last: give keep_last too');
    }
    const step = checkpointStep(request.step);
    const saveId = optionalSaveId(request.saveId);
    if (this.saves.size >= AGENT_CHECKPOINT_SAVES_MAX) {
      throw new SpindleError(
        ErrorCode.BUSY,
        `this agent has ${this.saves.size} checkpoint saves open: Finish or Abort some before beginning more`,
      );
    }
    const checkpoints = await openCheckpoints(this.client, dir, { keepLast, keepEvery });
    const save = await checkpoints.begin(step, { worldSize, rank, saveId });
    const handle = randomBytes(16).toString('hex');
    this.saves.set(handle, save);
    this.logger.debug({ dir, step: save.step, rank, worldSize, saveId: save.saveId }, 'save begun');
    return { save: handle, stagingPath: `${save.stagingPath}/rank-${rank}`, saveId: save.saveId };
  }

  private async writeShard(
    call: ServerReadableStream<MaybeDecoded<ShardChunk>, ShardInfo>,
    signal: AbortSignal,
  ): Promise<ShardInfo> {
    // The chunks are read as they arrive; a cancelled call or a stopping agent ends the iteration
    // with an error, so a half-sent shard is never recorded as whole.
    const stop = () => call.destroy(this.stoppedError());
    signal.addEventListener('abort', stop, { once: true });
    try {
      const chunks = call[Symbol.asyncIterator]() as AsyncIterator<MaybeDecoded<ShardChunk>>;
      const first = await chunks.next();
      if (first.done) {
        throw new SpindleError(
          ErrorCode.INVALID_ARGUMENT,
          'WriteShard: the stream had no message; the first names save and name',
        );
      }
      const head = decoded(first.value, 'WriteShard');
      const save = this.saveOf(head.save);
      const name = required(head.name, 'name');
      async function* rest(): AsyncGenerator<Uint8Array> {
        if (head.data.length > 0) yield head.data;
        let last = head.last;
        while (!last) {
          const next = await chunks.next();
          if (next.done) {
            // HTTP/2 may end a cancelled stream like a finished one: only `last` says it is whole.
            throw new SpindleError(
              ErrorCode.CANCELLED,
              `WriteShard of ${name}: the stream ended without a message with last set (cancelled or the caller ` +
                'died): the shard is not recorded and the save failed; Abort it and save again',
            );
          }
          const chunk = decoded(next.value, 'WriteShard');
          if (chunk.save !== '' || chunk.name !== '') {
            throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'save and name go in the first ShardChunk only');
          }
          last = chunk.last;
          yield chunk.data;
        }
      }
      return shardInfo(await save.writeShard(name, rest()));
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  private async adoptShard(request: AdoptShardRequest): Promise<ShardInfo> {
    const save = this.saveOf(request.save);
    return shardInfo(await save.adoptShard(required(request.name, 'name')));
  }

  private async finish(request: FinishRequest): Promise<FinishResponse> {
    const save = this.saveOf(request.save);
    const metadata = userMetadata(request.userMetadataJson);
    // A failed finish keeps the handle, so that the caller can Abort the save it leaves behind.
    const result = await save.finish(metadata);
    this.saves.delete(request.save);
    return finishResponse(result);
  }

  private async abort(request: AbortRequest): Promise<AbortResponse> {
    const save = this.saveOf(request.save);
    this.saves.delete(request.save);
    await save.abort();
    return {};
  }

  private async list(request: ListRequest): Promise<ListResponse> {
    return { steps: await this.checkpointsAt(request.dir).list() };
  }

  private async load(request: LoadRequest): Promise<Manifest> {
    return manifestMessage(await this.checkpointsAt(request.dir).load(request.step ?? 'latest'));
  }

  private async delete(request: DeleteRequest): Promise<DeleteResponse> {
    await this.checkpointsAt(request.dir).delete(request.step);
    return {};
  }

  private async readShard(
    call: ServerWritableStream<MaybeDecoded<ReadShardRequest>, ShardData>,
    signal: AbortSignal,
  ): Promise<void> {
    const request = decoded(call.request, 'ReadShard');
    const checkpoints = this.checkpointsAt(request.dir);
    const name = required(request.name, 'name');
    const data = await checkpoints.readShard(request.step, request.rank, name, {
      offset: request.offset,
      length: request.length,
    });
    const chunks = shardChunks(data, request.offset ?? 0, AGENT_SHARD_CHUNK_BYTES);
    await pumpMessages(async () => chunks.next().value ?? undefined, call, signal);
  }

  /** Runs a streaming call, ended (its signal aborted) when the caller cancels or the agent closes. */
  private track(
    call: { cancelled: boolean; once(event: 'cancelled', listener: () => void): unknown },
    run: (signal: AbortSignal) => Promise<void>,
  ): void {
    const controller = new AbortController();
    if (this.closed || call.cancelled) controller.abort();
    call.once('cancelled', () => controller.abort());
    const done = run(controller.signal).finally(() => this.streams.delete(controller));
    this.streams.set(controller, done);
  }

  private checkpointsAt(dir: string): Checkpoints {
    return new Checkpoints(this.client, checkpointDir(dir), {});
  }

  private saveOf(handle: string): CheckpointSave {
    const save = this.saves.get(required(handle, 'save'));
    if (save === undefined) {
      throw new SpindleError(
        ErrorCode.NOT_FOUND,
        'save: this agent has no open save with that handle (it was finished or aborted, or began in another ' +
          'agent or before this agent restarted): Begin again',
      );
    }
    return save;
  }

  private checkOpen(): void {
    if (this.closed) throw this.stoppedError();
  }

  private stoppedError(): SpindleError {
    return new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'the agent is stopping; Begin again through a running agent');
  }

  /** Ends open streams and forgets open saves (aborting none); later calls are refused. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const controller of this.streams.keys()) controller.abort();
    await Promise.allSettled(this.streams.values());
    this.saves.clear();
  }
}
