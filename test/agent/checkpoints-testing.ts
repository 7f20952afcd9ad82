// Helpers of test/agent/checkpoints.test.ts: a Checkpoints gRPC client of a real agent with promise
// methods (the shard stream as one call), and a real `spindle mount` process. Guarantees: the mount
// is stopped by pid (SIGTERM, then SIGKILL after 15 s) and detached if still attached.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { type ServiceError, credentials } from '@grpc/grpc-js';
import { AGENT_MESSAGE_MAX_BYTES } from '../../agent/constants.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { findFuseMount } from '../../mount/index.js';
import {
  type BeginRequest,
  CheckpointsClient,
  type FinishResponse,
  type Manifest,
  type ReadShardRequest,
  type ShardData,
  type ShardInfo,
} from '../../proto/index.js';
import { agentChannelOptions } from './agent-process.js';

type Callback<T> = (error: ServiceError | null, response: T) => void;

function promised<T>(call: (callback: Callback<T>) => unknown): Promise<T> {
  return new Promise((resolve, reject) => call((err, res) => (err ? reject(err) : resolve(res))));
}

/** The Checkpoints service of an agent, one promise per call. */
export class CheckpointsCaller {
  readonly raw: CheckpointsClient;

  constructor(address: string) {
    this.raw = new CheckpointsClient(address, credentials.createInsecure(), {
      ...agentChannelOptions(),
      'grpc.max_receive_message_length': AGENT_MESSAGE_MAX_BYTES,
      'grpc.max_send_message_length': AGENT_MESSAGE_MAX_BYTES,
    });
  }

  begin(request: Partial<BeginRequest> & Pick<BeginRequest, 'dir' | 'step'>) {
    return promised<{ save: string; stagingPath: string; saveId: string }>((cb) =>
      this.raw.begin({ worldSize: 1, rank: 0, ...request }, cb),
    );
  }

  /** WriteShard: the first message names save and shard, then one message per piece, the last marked. */
  writeShard(save: string, name: string, pieces: Buffer[]): Promise<ShardInfo> {
    return promised<ShardInfo>((cb) => {
      const stream = this.raw.writeShard(cb);
      stream.write({ save, name, data: Buffer.alloc(0), last: pieces.length === 0 });
      for (const [index, data] of pieces.entries()) {
        stream.write({ save: '', name: '', data, last: index === pieces.length - 1 });
      }
      stream.end();
    });
  }

  adoptShard(save: string, name: string) {
    return promised<ShardInfo>((cb) => this.raw.adoptShard({ save, name }, cb));
  }

  finish(save: string, userMetadataJson = ''): Promise<FinishResponse> {
    return promised((cb) => this.raw.finish({ save, userMetadataJson }, cb));
  }

  abort(save: string) {
    return promised((cb) => this.raw.abort({ save }, cb));
  }

  async list(dir: string): Promise<number[]> {
    return (await promised<{ steps: number[] }>((cb) => this.raw.list({ dir }, cb))).steps;
  }

  load(dir: string, step?: number): Promise<Manifest> {
    return promised((cb) => this.raw.load({ dir, step }, cb));
  }

  delete(dir: string, step: number) {
    return promised((cb) => this.raw.delete({ dir, step }, cb));
  }

  /** ReadShard's chunks joined; each chunk's offset is checked to follow the previous one. */
  readShard(request: ReadShardRequest): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let next = request.offset ?? 0;
      const call = this.raw.readShard(request);
      call.on('data', (chunk: ShardData) => {
        if (chunk.offset !== next) reject(new Error(`chunk at ${chunk.offset}, expected ${next}`));
        next += chunk.data.length;
        chunks.push(chunk.data);
      });
      call.on('end', () => resolve(Buffer.concat(chunks)));
      call.on('error', reject);
    });
  }

  close(): void {
    this.raw.close();
  }
}

export interface MountProcess {
  readonly dir: string;
  stop(): Promise<void>;
}

/** Runs `spindle mount DIR --meta META` and waits for its ready line. */
export async function startMountProcess(dir: string, meta: string): Promise<MountProcess> {
  const child: ChildProcess = spawn(process.execPath, ['bin/spindle.mjs', 'mount', dir, '--meta', meta], {
    cwd: PACKAGE_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string | undefined>((resolve) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    void exited.then(() => resolve(undefined));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    if (findFuseMount(dir) !== undefined) {
      await new Promise((resolve) => execFile('bash', ['-c', 'umount -l "$1"', 'umount', dir], resolve));
    }
  };
  if (line === undefined) {
    await stop();
    throw new Error(`spindle mount did not become ready:\n${stderr}`);
  }
  return { dir, stop };
}
