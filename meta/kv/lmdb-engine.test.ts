// The lmdb engine passes the KvEngine conformance suite (with reopen), survives kill -9 without
// losing an acknowledged transaction, and refuses a second owner of its directory.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { entryArgv } from '../../cluster/index.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { runKvConformance } from './testing/conformance.js';
import { LMDB_LOCK_FILE, createLmdbEngine, type LmdbEngine } from './lmdb-engine.js';

/** Key format of test/fixtures/kv-kill-child.ts. */
function ackKey(loop: number, index: number): Buffer {
  const key = Buffer.alloc(12);
  key.write('ack/', 0, 'latin1');
  key.writeUInt32BE(loop, 4);
  key.writeUInt32BE(index, 8);
  return key;
}
const tempDirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-kv-'));
  tempDirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

runKvConformance('lmdb', async () => {
  const dir = tempDir();
  const engine = await createLmdbEngine({ path: dir });
  return {
    engine,
    cleanup: async () => {
      await engine.close();
    },
    reopen: () => createLmdbEngine({ path: dir }),
  };
});

describe('lmdb engine', () => {
  const engines: LmdbEngine[] = [];
  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.close();
  });

  it('keeps every acknowledged transaction when the process is killed with SIGKILL', async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, entryArgv('test/fixtures/kv-kill-child.ts', [dir, '16']), {
      cwd: PACKAGE_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acked = new Map<number, number>(); // loop -> highest acknowledged index
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? code)),
    );
    let ackCount = 0;
    let pending = '';
    await new Promise<void>((resolve, reject) => {
      child.on('exit', () => reject(new Error(`child exited early: ${stderr}`)));
      child.stdout.on('data', (chunk: Buffer) => {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop()!;
        for (const line of lines) {
          const match = /^ack (\d+) (\d+)$/.exec(line);
          if (match === null) continue;
          acked.set(Number(match[1]), Math.max(acked.get(Number(match[1])) ?? -1, Number(match[2])));
          ackCount++;
        }
        if (ackCount >= 1500 && child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    expect(await exited).toBe('SIGKILL');

    // The lock file of the dead process does not block the next owner.
    const engine = await createLmdbEngine({ path: dir });
    engines.push(engine);
    const missing: string[] = [];
    await engine.transaction(
      async (txn) => {
        for (const [loop, highest] of acked) {
          const counter = await txn.get(Buffer.from(`counter/${loop}`));
          const durable = counter === undefined ? -1 : Buffer.from(counter).readUInt32BE(0);
          if (durable < highest) missing.push(`loop ${loop}: acked ${highest}, found ${durable}`);
          for (let index = 0; index <= durable + 1; index++) {
            const present = (await txn.get(ackKey(loop, index))) !== undefined;
            // Every committed index is there (atomic with its counter), and nothing beyond it.
            if (present !== index <= durable)
              missing.push(`loop ${loop} index ${index}: present=${present}, counter=${durable}`);
          }
        }
      },
      { readOnly: true },
    );
    expect(acked.size).toBe(16);
    expect(missing).toEqual([]);
  }, 60_000);

  it('refuses a second engine on the same directory until the first closes', async () => {
    const dir = tempDir();
    const first = await createLmdbEngine({ path: dir });
    engines.push(first);
    const error = await createLmdbEngine({ path: dir }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(SpindleError);
    expect((error as SpindleError).errorCode).toBe(ErrorCode.BUSY);
    await first.transaction(async (txn) => txn.put(Buffer.from('k'), Buffer.from('v')));
    await first.close();
    const second = await createLmdbEngine({ path: dir });
    engines.push(second);
    expect(
      Buffer.from((await second.transaction((txn) => txn.get(Buffer.from('k')), { readOnly: true }))!).toString(),
    ).toBe('v');
  });

  it('takes over a lock file left by a process that no longer exists', async () => {
    const dir = tempDir();
    // pid 2^22 + 1 is above Linux's pid_max ceiling, so no live process has it.
    writeFileSync(join(dir, LMDB_LOCK_FILE), `${2 ** 22 + 1}\n`);
    const engine = await createLmdbEngine({ path: dir });
    engines.push(engine);
    await engine.transaction(async (txn) => txn.put(Buffer.from('k'), Buffer.from('v')));
  });

  it('rejects bad options with CONFIG_INVALID', async () => {
    const dir = tempDir();
    await expect(createLmdbEngine({ path: dir, txnRetriesMax: -1 })).rejects.toMatchObject({
      errorCode: ErrorCode.CONFIG_INVALID,
    });
    await expect(createLmdbEngine({ path: dir, mapSizeBytes: 10 })).rejects.toMatchObject({
      errorCode: ErrorCode.CONFIG_INVALID,
    });
    // Neither attempt left the directory locked.
    const engine = await createLmdbEngine({ path: dir });
    engines.push(engine);
  });
});
