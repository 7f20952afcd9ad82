// Small file operations checkpoints need: a synced small file written once, a bounded JSON read.
//
// Guarantees: writeSyncedFile refuses an existing file (EXISTS) and resolves only once the bytes
// are synced; readSmallFile refuses a file over its limit with DATA_CORRUPTED instead of loading it.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import type { SpindleClient } from '../spindle-client.js';

export async function writeSyncedFile(client: SpindleClient, path: string, text: string): Promise<void> {
  const handle = await client.open(path, 'wx');
  try {
    await handle.writeBytes(Buffer.from(text, 'utf8'), 0);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function readSmallFile(client: SpindleClient, path: string, bytesMax: number): Promise<string> {
  const size = (await client.stat(path)).size;
  if (size > bytesMax) {
    throw new SpindleError(ErrorCode.DATA_CORRUPTED, `${path} is ${size} bytes; at most ${bytesMax} are expected`);
  }
  return client.readFile(path, 'utf8');
}
