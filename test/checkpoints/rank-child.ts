// One rank of a checkpoint save, as a separate process with its own client (checkpoints.test.ts,
// faults*.test.ts):
//   node --import tsx rank-child.ts META DIR STEP WORLD_SIZE RANK SAVE_ID KEEP_LAST MODE [SHARD_BYTES]
// Writes shards `model.bin` and `optim.bin` (deterministic bytes, support.ts) and finishes, printing
// the finish result as one JSON line. MODE:
// - 'normal': shardBytes() shards (about 1.5 MB each);
// - 'hang': writes the first shard, prints 'ready', and waits to be killed;
// - 'big': two bigShardBytes() shards of SHARD_BYTES / 2 each, 'half' printed between them, and
//   the result line carries `writeMs` and `finishMs`;
// - 'gate': like 'normal', but prints 'written' once both shards are synced, then waits for a line
//   'finish' on stdin and prints 'finishing' just before calling finish().
// A failure prints one line `failed <CODE>: <message>` and exits with 1.
import { createInterface } from 'node:readline';
import { SpindleClient, openCheckpoints } from '../../client/index.js';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { bigShardBytes, shardBytes } from './support.js';

const [meta, dir, stepArg, worldSizeArg, rankArg, saveId, keepLastArg, mode, shardBytesArg] = process.argv.slice(2);
if (mode === undefined) {
  throw new Error('usage: rank-child.ts META DIR STEP WORLD_SIZE RANK SAVE_ID KEEP_LAST MODE [SHARD_BYTES]');
}
const step = Number(stepArg);
const rank = Number(rankArg);
const client = await SpindleClient.connect({ meta: meta!, preset: 'test' });
try {
  const keepLast = Number(keepLastArg) > 0 ? Number(keepLastArg) : undefined;
  const checkpoints = await openCheckpoints(client, dir!, { keepLast });
  const save = await checkpoints.begin(step, { worldSize: Number(worldSizeArg), rank, saveId });
  const started = performance.now();
  if (mode === 'big') {
    const half = Number(shardBytesArg) / 2;
    await save.writeShard('model.bin', bigShardBytes(step, rank, 'model.bin', half));
    process.stdout.write('half\n');
    await save.writeShard('optim.bin', bigShardBytes(step, rank, 'optim.bin', half));
  } else {
    await save.writeShard('model.bin', shardBytes(step, rank, 'model.bin'));
    if (mode === 'hang') {
      process.stdout.write('ready\n');
      await new Promise(() => undefined);
    }
    await save.writeShard('optim.bin', chunks(shardBytes(step, rank, 'optim.bin')));
  }
  const written = performance.now();
  if (mode === 'gate') {
    process.stdout.write('written\n');
    await lineOnStdin('finish');
    process.stdout.write('finishing\n');
  }
  const result = await save.finish({ rank, loss: 0.5 });
  const finished = performance.now();
  const timings = mode === 'big' ? { writeMs: written - started, finishMs: finished - written } : {};
  process.stdout.write(`${JSON.stringify({ ...result, ...timings })}\n`);
} catch (err) {
  const code = isSpindleError(err) ? ErrorCode[err.errorCode] : 'NOT_A_SPINDLE_ERROR';
  process.stdout.write(`failed ${code}: ${(err as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await client.close();
}

async function* chunks(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += 100_000) yield bytes.subarray(at, at + 100_000);
}

async function lineOnStdin(expected: string): Promise<void> {
  try {
    for await (const line of createInterface({ input: process.stdin })) if (line === expected) return;
    throw new Error(`stdin closed before the line ${expected}`);
  } finally {
    // An open stdin would keep this process alive after finish.
    process.stdin.destroy();
  }
}
