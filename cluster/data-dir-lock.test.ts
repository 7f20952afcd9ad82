// One launcher per data dir: a live holder is refused (BUSY, with what to do), a dead one taken over.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { acquireDataDirLock } from './data-dir-lock.js';

describe('acquireDataDirLock', () => {
  const root = mkdtempSync(join(tmpdir(), 'spindle-lock-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses a data dir whose launcher still runs, and names it', () => {
    const dir = join(root, 'held');
    const other = process.ppid; // alive for as long as this test runs
    acquireDataDirLock(dir).release();
    writeFileSync(join(dir, 'up.pid'), `${other}\n`);
    let err: unknown;
    try {
      acquireDataDirLock(dir);
    } catch (caught) {
      err = caught;
    }
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.BUSY);
    expect((err as SpindleError).message).toContain(`already running on ${dir} (launcher pid ${other})`);
    expect((err as SpindleError).message).toContain('use another --data-dir');
  });

  it('takes over the lock of a launcher that is gone, and release removes only its own lock', () => {
    const dir = join(root, 'stale');
    acquireDataDirLock(dir).release();
    writeFileSync(join(dir, 'up.pid'), '999999999\n');
    const lock = acquireDataDirLock(dir);
    expect(readFileSync(join(dir, 'up.pid'), 'utf8').trim()).toBe(String(process.pid));
    lock.release();
    lock.release();
    expect(existsSync(join(dir, 'up.pid'))).toBe(false);
  });
});
