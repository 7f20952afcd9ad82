// One rank of a checkpoint save, as a separate process with its own client (checkpoints.test.ts):
//   node --import tsx rank-child.ts META DIR STEP WORLD_SIZE RANK SAVE_ID KEEP_LAST MODE
// Writes shards `model.bin` and `optim.bin` (deterministic bytes, shardBytes() below) and finishes,
// printing the finish result as one JSON line. MODE 'hang' writes the first shard, prints
// 'ready', and waits to be killed.
import { SpindleClient, openCheckpoints } from '../../client/index.js';
import { shardBytes } from './support.js';

const [meta, dir, stepArg, worldSizeArg, rankArg, saveId, keepLastArg, mode] = process.argv.slice(2);
if (mode === undefined) throw new Error('usage: rank-child.ts META DIR STEP WORLD_SIZE RANK SAVE_ID KEEP_LAST MODE');
const step = Number(stepArg);
const rank = Number(rankArg);
const client = await SpindleClient.connect({ meta: meta!, preset: 'test' });
try {
  const keepLast = Number(keepLastArg) > 0 ? Number(keepLastArg) : undefined;
  const checkpoints = await openCheckpoints(client, dir!, { keepLast });
  const save = await checkpoints.begin(step, { worldSize: Number(worldSizeArg), rank, saveId });
  await save.writeShard('model.bin', shardBytes(step, rank, 'model.bin'));
  if (mode === 'hang') {
    process.stdout.write('ready\n');
    await new Promise(() => undefined);
  }
  await save.writeShard('optim.bin', chunks(shardBytes(step, rank, 'optim.bin')));
  const result = await save.finish({ rank, loss: 0.5 });
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await client.close();
}

async function* chunks(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += 100_000) yield bytes.subarray(at, at + 100_000);
}
