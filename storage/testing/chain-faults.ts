// Helpers for tests that damage one replica of a chain of real storage nodes (startTestCluster)
// and move its targets between states through the fake manager: flip a byte on disk behind a
// node's back, read a chunk from one replica, change a target's public state, and wait.
import { open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalTargetState, PublicTargetState, ReadResult, StorageClient } from '../../proto/index.js';
import { batchRead, readIO, settleRouting, type TestCluster } from './cluster.js';

export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The local state node `index` last reported for its (first) target. */
export function reportedState(cluster: TestCluster, index: number): LocalTargetState | undefined {
  const nodeId = cluster.nodes[index]!.nodeId;
  return cluster.mgmt.heartbeats.filter((h) => h.nodeId === nodeId).at(-1)?.targets[0]?.localState;
}

/**
 * Flips a byte of `needle`'s only occurrence in the block files under `dataDir`, behind the node's
 * back (the chunk's recorded checksums no longer match). Throws unless there is exactly one.
 */
export async function flipByteOf(dataDir: string, needle: Buffer): Promise<void> {
  const hits: { file: string; at: number }[] = [];
  for (const entry of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.dat')) continue;
    const file = join(entry.parentPath, entry.name);
    const bytes = await readFile(file);
    for (let at = bytes.indexOf(needle); at !== -1; at = bytes.indexOf(needle, at + 1)) hits.push({ file, at });
  }
  if (hits.length !== 1) throw new Error(`expected the bytes once in the block files, found them ${hits.length} times`);
  const handle = await open(hits[0]!.file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, hits[0]!.at + 10);
    byte[0] = byte[0]! ^ 0xff;
    await handle.write(byte, 0, 1, hits[0]!.at + 10);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Chunk 0 of `ino` on chain 1, read from the replica `client` talks to. */
export async function readChunk(client: StorageClient, chainVersion: number, ino: number): Promise<ReadResult> {
  const { results } = await batchRead(client, [readIO(1, chainVersion, { chunk: { ino, index: 0 } })]);
  return results[0]!;
}

/** Sets a target's public state, waits for every node to see it, returns chain 1's new version. */
export async function setTargetState(
  cluster: TestCluster,
  targetId: number,
  state: PublicTargetState,
): Promise<number> {
  cluster.mgmt.setTargetState(targetId, state);
  await settleRouting(cluster);
  return cluster.mgmt.chain(1).chainVersion;
}
