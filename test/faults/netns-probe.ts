// A storage client that runs inside the isolated network namespace of test/faults/partition.test.ts
// (`ip netns exec NS node --import tsx netns-probe.ts '<json args>'`): the one client that can
// still reach the cut-off node — like a client stuck on the wrong side of the partition with an old
// routing. It prints {"ready":true}; on the line "go" (sent at the cut) it reads a committed chunk
// from the node as the chain's old head every `pollMs` until refused, then sends a conflicting write
// to it with the old chain version; prints one JSON line with the outcomes and exits.
import { createInterface } from 'node:readline';
import { crc32c } from '../../common/crc32c.js';
import { asSpindleError, ErrorCode } from '../../common/errors.js';
import { callUnary, CHANNEL_OPTIONS, insecureChannel } from '../../common/rpc.js';
import { StorageClient, UpdateType } from '../../proto/index.js';

interface Args {
  address: string;
  chainId: number;
  chainVersion: number;
  chunk: { ino: number; index: number };
  chunkSize: number;
  pollMs: number;
  maxMs: number;
}

const args = JSON.parse(process.argv[2]!) as Args;
const client = new StorageClient(args.address, insecureChannel(), CHANNEL_OPTIONS);
const codeOf = (err: unknown) => ErrorCode[asSpindleError(err).errorCode] ?? String(asSpindleError(err).errorCode);

async function read(): Promise<string> {
  try {
    const response = await callUnary(client, client.batchRead, {
      ios: [{ chainId: args.chainId, chainVersion: args.chainVersion, chunk: args.chunk, offset: 0, length: 4096 }],
    }, 'storage.BatchRead', { timeoutMs: 1_000 });
    const result = response.results[0]!;
    if (result.status !== undefined && result.status.code !== 0) return ErrorCode[result.status.code] ?? String(result.status.code);
    return 'ok';
  } catch (err) {
    return codeOf(err);
  }
}

async function main(): Promise<void> {
  // Connect (and warm up) before the cut.
  const warm = await read();
  process.stdout.write(`${JSON.stringify({ ready: true, warm })}\n`);
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  const goAt = Date.now();
  let readsOk = 0;
  let refusal = '';
  let refusedAt = 0;
  while (Date.now() - goAt < args.maxMs) {
    const outcome = await read();
    if (outcome !== 'ok') {
      refusal = outcome;
      refusedAt = Date.now();
      break;
    }
    readsOk++;
    await new Promise((resolve) => setTimeout(resolve, args.pollMs));
  }
  const bytes = Buffer.alloc(args.chunkSize, 0x5a);
  const write = await callUnary(client, client.write, {
    tag: { clientId: 'netns-probe', requestId: 1 }, chainId: args.chainId, chainVersion: args.chainVersion, chunk: args.chunk,
    type: UpdateType.WRITE, offset: 0, data: bytes, dataCrc32c: crc32c(bytes), chunkSizeBytes: args.chunkSize, channelId: 1, seqnum: 1,
  }, 'storage.Write', { timeoutMs: 5_000 }).then(() => 'acknowledged', codeOf);
  process.stdout.write(`${JSON.stringify({ goAt, refusedAt, readsOk, refusal, write, readAfter: await read() })}\n`);
  client.close();
  lines.close();
}

void main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
  process.exit(1);
});
