// A storage client that runs inside the isolated network namespace of test/faults/partition.test.ts
// (`ip netns exec NS node --import tsx netns-probe.ts '<json args>'`): the one client that can
// still reach the cut-off node — like a client stuck on the wrong side of the partition with an old
// routing. It prints {"ready":true}; from the line "go" (sent at the cut) to the line "stop" it reads
// a committed chunk from the node as the chain's old head every `pollMs`, recording when each read
// that succeeded was sent; at the first refusal it sends a conflicting write with the old chain
// version and prints {"refusal","write"}. At "stop" it prints one JSON line with the outcomes and exits.
import { createInterface } from 'node:readline';
import { crc32c } from '../../common/crc32c.js';
import { asSpindleError, ErrorCode } from '../../common/errors.js';
import { channelOptionsWithToken } from '../../common/auth/client-auth.js';
import { callUnary, insecureChannel } from '../../common/rpc.js';
import { StorageClient, UpdateType } from '../../proto/index.js';

interface Args {
  address: string;
  chainId: number;
  chainVersion: number;
  chunk: { ino: number; index: number };
  chunkSize: number;
  pollMs: number;
  maxMs: number;
  /** The cluster's client token (docs/security.md). */
  token?: string;
}

const args = JSON.parse(process.argv[2]!) as Args;
const client = new StorageClient(args.address, insecureChannel(), channelOptionsWithToken(args.token));
const codeOf = (err: unknown) => ErrorCode[asSpindleError(err).errorCode] ?? String(asSpindleError(err).errorCode);

async function read(): Promise<string> {
  try {
    const response = await callUnary(
      client,
      client.batchRead,
      {
        ios: [{ chainId: args.chainId, chainVersion: args.chainVersion, chunk: args.chunk, offset: 0, length: 4096 }],
      },
      'storage.BatchRead',
      { timeoutMs: 1_000 },
    );
    const result = response.results[0]!;
    if (result.status !== undefined && result.status.code !== 0)
      return ErrorCode[result.status.code] ?? String(result.status.code);
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
  const next = () => new Promise<void>((resolve) => lines.once('line', () => resolve()));
  await next();
  let stop = false;
  void next().then(() => {
    stop = true;
  });
  const goAt = Date.now();
  let readsOk = 0;
  let lastOkSentAt = 0;
  let readsRefused = 0;
  let refusal = '';
  let refusedAt = 0;
  let write = '';
  while (!stop && Date.now() - goAt < args.maxMs) {
    const sentAt = Date.now();
    const outcome = await read();
    if (outcome === 'ok') {
      readsOk++;
      lastOkSentAt = sentAt;
    } else {
      readsRefused++;
      if (refusal === '') {
        refusal = outcome;
        refusedAt = Date.now();
        // A conflicting write to the old head, with the old chain version.
        const bytes = Buffer.alloc(args.chunkSize, 0x5a);
        write = await callUnary(
          client,
          client.write,
          {
            tag: { clientId: 'netns-probe', requestId: 1 },
            chainId: args.chainId,
            chainVersion: args.chainVersion,
            chunk: args.chunk,
            type: UpdateType.WRITE,
            offset: 0,
            data: bytes,
            dataCrc32c: crc32c(bytes),
            chunkSizeBytes: args.chunkSize,
            channelId: 1,
            seqnum: 1,
          },
          'storage.Write',
          { timeoutMs: 5_000 },
        ).then(() => 'acknowledged', codeOf);
        process.stdout.write(`${JSON.stringify({ refusal, write })}\n`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, args.pollMs));
  }
  process.stdout.write(`${JSON.stringify({ goAt, refusedAt, readsOk, lastOkSentAt, readsRefused, refusal, write })}\n`);
  client.close();
  lines.close();
}

void main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
  process.exit(1);
});
