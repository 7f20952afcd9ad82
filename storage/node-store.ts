// The node's data directory: DATADIR/node.json holds the node id the manager assigned (written
// atomically: temp file, fsync, rename), DATADIR/targets/<i>/ are the target directories. The
// first start creates the requested number of targets; later starts reuse what exists.
import { mkdir, open, readFile, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { TARGETS_PER_NODE_MAX } from '../common/constants.js';

export interface NodeFile {
  nodeId: number;
}

export async function readNodeFile(dataDir: string): Promise<NodeFile | undefined> {
  let text: string;
  try {
    text = await readFile(join(dataDir, 'node.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `${join(dataDir, 'node.json')} is not valid JSON; restore it or start with an empty --data-dir`,
      { cause: err },
    );
  }
  const nodeId = (parsed as { nodeId?: unknown }).nodeId;
  if (typeof nodeId !== 'number' || !Number.isSafeInteger(nodeId) || nodeId < 1) {
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `${join(dataDir, 'node.json')} has no valid nodeId`);
  }
  return { nodeId };
}

export async function writeNodeFile(dataDir: string, file: NodeFile): Promise<void> {
  const path = join(dataDir, 'node.json');
  const temp = `${path}.tmp`;
  const fh = await open(temp, 'w');
  try {
    await fh.writeFile(`${JSON.stringify(file)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temp, path);
  const dir = await open(dataDir, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Target directories by local index, creating `count` of them when there are none yet. */
export async function targetDirectories(dataDir: string, count: number): Promise<string[]> {
  const root = join(dataDir, 'targets');
  await mkdir(root, { recursive: true });
  const existing = (await readdir(root, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory() && /^\d+$/.test(entry.name))
    .map((entry) => Number(entry.name))
    .sort((a, b) => a - b);
  if (existing.length > 0) {
    existing.forEach((index, position) => {
      if (index !== position) {
        throw new SpindleError(
          ErrorCode.CONFIG_INVALID,
          `${root} has target directories ${existing.join(', ')}; expected 0..${existing.length - 1} without gaps`,
        );
      }
    });
    return existing.map((index) => join(root, String(index)));
  }
  if (!Number.isSafeInteger(count) || count < 1 || count >= TARGETS_PER_NODE_MAX) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `--targets must be from 1 to ${TARGETS_PER_NODE_MAX - 1}, got ${count}`,
    );
  }
  const dirs: string[] = [];
  for (let i = 0; i < count; i++) {
    const dir = join(root, String(i));
    await mkdir(dir, { recursive: true });
    dirs.push(dir);
  }
  return dirs;
}
