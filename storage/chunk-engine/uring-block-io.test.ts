// The io_uring addon's error paths (bad fds, misaligned O_DIRECT requests, reads past the end, kernel
// errors) and the backend choice (choose-block-io.ts). The data paths run in block-files.test.ts and
// chunk-engine.test.ts against both backends.
import { constants, existsSync } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, isSpindleError } from '../../common/errors.js';
import { BLOCK_IO_ENV, parseBlockIoMode } from './block-io.js';
import { chooseBlockIo } from './choose-block-io.js';
import { blockIoBackendsUnderTest } from './testing/backends.js';
import { loadUringAddon, probeUring, UringBlockIo, type UringAddon } from './uring-block-io.js';

const uringSkip = blockIoBackendsUnderTest().find((b) => b.kind === 'uring')!.skip;
const ALIGN = 4096;

let dir: string;
const handles: FileHandle[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spindle-uring-'));
});

afterEach(async () => {
  await Promise.all(handles.splice(0).map((fh) => fh.close().catch(() => undefined)));
  await rm(dir, { recursive: true, force: true });
});

async function openFile(name: string, flags: number): Promise<FileHandle> {
  const fh = await open(join(dir, name), flags | constants.O_CREAT, 0o644);
  handles.push(fh);
  return fh;
}

/** Runs an addon call the way UringBlockIo does (throws become rejections, the batch is flushed). */
async function run(addon: UringAddon, call: () => Promise<number>): Promise<number> {
  return new UringBlockIo(addon).submit(call);
}

function expectNothingInFlight(addon: UringAddon): void {
  expect(addon.info()).toMatchObject({ inflight: 0, queued: 0 });
}

describe.skipIf(uringSkip !== undefined)('io_uring addon error paths', () => {
  it('rejects a bad fd with EBADF and queues nothing', async () => {
    const addon = loadUringAddon();
    const buf = Buffer.alloc(16);
    for (const fd of [-1, 1.5, 2 ** 31, 987_654]) {
      expect(() => addon.read(fd, buf, 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    }
    expect(() => addon.read('3' as unknown as number, buf, 0)).toThrow(TypeError);
    // An fd that was open once and is closed now.
    const fh = await open(join(dir, 'closed'), 'w+');
    const fd = fh.fd;
    await fh.close();
    await expect(run(addon, () => addon.write(fd, buf, 0))).rejects.toMatchObject({ code: 'EBADF' });
    // Right fd, wrong direction.
    const readOnly = await openFile('ro', constants.O_RDONLY);
    await expect(run(addon, () => addon.write(readOnly.fd, buf, 0))).rejects.toMatchObject({ code: 'EBADF' });
    expectNothingInFlight(addon);
  });

  it('rejects misaligned O_DIRECT requests with EINVAL before the kernel sees them', async () => {
    const addon = loadUringAddon();
    const fh = await openFile('direct', constants.O_RDWR | constants.O_DIRECT);
    const aligned = Buffer.from(addon.allocAligned(2 * ALIGN));
    expect(() => addon.write(fh.fd, aligned.subarray(0, ALIGN), 100)).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    ); // position
    // length
    expect(() => addon.write(fh.fd, aligned.subarray(0, 100), 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => addon.read(fh.fd, aligned.subarray(1, ALIGN + 1), 0)).toThrow(
      /O_DIRECT needs position, length and memory aligned/,
    ); // memory
    expect(() => addon.read(fh.fd, aligned, -ALIGN)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    // not a safe integer
    expect(() => addon.read(fh.fd, aligned, 2 ** 60)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => addon.read(fh.fd, 'x' as unknown as Uint8Array, 0)).toThrow(TypeError);
    expectNothingInFlight(addon);
    // The same request aligned goes through.
    aligned.fill(0x5a);
    expect(await run(addon, () => addon.write(fh.fd, aligned, ALIGN))).toBe(2 * ALIGN);
  });

  it('reads past the end of a file: 0 bytes at or after the end, the bytes up to it before', async () => {
    const addon = loadUringAddon();
    const buffered = await openFile('eof', constants.O_RDWR);
    const data = Buffer.from('0123456789');
    expect(await run(addon, () => addon.write(buffered.fd, data, 0))).toBe(10);
    const into = Buffer.alloc(100, 0xff);
    expect(await run(addon, () => addon.read(buffered.fd, into, 4))).toBe(6);
    expect(into.subarray(0, 6).toString()).toBe('456789');
    expect(await run(addon, () => addon.read(buffered.fd, into, 1 << 30))).toBe(0);
    // O_DIRECT: a short read ending unaligned is the end of the file, not an error.
    const direct = await openFile('eof', constants.O_RDWR | constants.O_DIRECT);
    const aligned = Buffer.from(addon.allocAligned(4 * ALIGN));
    expect(await run(addon, () => addon.read(direct.fd, aligned, 0))).toBe(10);
    expect(aligned.subarray(0, 10).toString()).toBe('0123456789');
    expect(await run(addon, () => addon.read(direct.fd, aligned, 1 << 30))).toBe(0);
    // The backend zero-fills what lies past the end.
    const file = await new UringBlockIo(addon).open(join(dir, 'eof'), { direct: true });
    try {
      const big = await file.read(0, 200_000);
      expect(big.subarray(0, 10).toString()).toBe('0123456789');
      expect(big.subarray(10).every((b) => b === 0)).toBe(true);
      const small = await file.read(5, 20);
      expect(small.subarray(0, 5).toString()).toBe('56789');
      expect(small.subarray(5).every((b) => b === 0)).toBe(true);
    } finally {
      await file.close();
    }
    expectNothingInFlight(addon);
  });

  it('turns a kernel error into a rejection with code, errno and syscall', async () => {
    const addon = loadUringAddon();
    const dirHandle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    handles.push(dirHandle);
    const err = await run(addon, () => addon.read(dirHandle.fd, Buffer.alloc(64), 0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'EISDIR', errno: -21, syscall: 'read' });
    expectNothingInFlight(addon);
  });

  it('submits a burst together and settles every operation', async () => {
    const addon = loadUringAddon();
    // One backend per target, one ring per process: the in-flight limit is shared.
    const ios = [new UringBlockIo(addon), new UringBlockIo(addon), new UringBlockIo(addon)];
    const io = ios[0]!;
    const fh = await openFile('burst', constants.O_RDWR | constants.O_DIRECT);
    const blocks = Array.from({ length: 600 }, (_, i) => Buffer.from(addon.allocAligned(ALIGN)).fill(i & 0xff));
    // More than URING_INFLIGHT_MAX, and more than the completion queue holds, at once: the rest
    // wait their turn instead of failing with EBUSY.
    expect(blocks.length).toBeGreaterThan(addon.info()!.cqEntries);
    await Promise.all(blocks.map((b, i) => ios[i % 3]!.submit(() => addon.write(fh.fd, b, i * ALIGN))));
    await io.submit(() => addon.datasync(fh.fd));
    const back = Buffer.from(addon.allocAligned(600 * ALIGN));
    expect(await io.submit(() => addon.read(fh.fd, back, 0))).toBe(600 * ALIGN);
    for (let i = 0; i < 600; i++) expect(back[i * ALIGN + 17]).toBe(i & 0xff);
    expectNothingInFlight(addon);
  });

  it('works in a worker thread (its own ring) and the worker exits cleanly with its ring', async () => {
    const { Worker } = await import('node:worker_threads');
    const { URING_ADDON_PATH } = await import('./uring-block-io.js');
    const source = `
      const { createRequire } = require('node:module');
      const fs = require('node:fs');
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = createRequire(workerData.addon)(workerData.addon);
      addon.setup(8);
      const fd = fs.openSync(workerData.path, 'w+');
      const done = addon.write(fd, Buffer.from('from a worker'), 0);
      addon.flush();
      done.then((n) => { fs.closeSync(fd); parentPort.postMessage(n); });
    `;
    const worker = new Worker(source, {
      eval: true,
      workerData: { addon: URING_ADDON_PATH, path: join(dir, 'worker') },
    });
    const written = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(written).toBe(13);
    expect(await new Promise((resolve) => worker.once('exit', resolve))).toBe(0);
    // The main thread's ring is unaffected.
    const addon = loadUringAddon();
    const fh = await openFile('worker', constants.O_RDONLY);
    const back = Buffer.alloc(13);
    expect(await run(addon, () => addon.read(fh.fd, back, 0))).toBe(13);
    expect(back.toString()).toBe('from a worker');
  });

  it('workers terminated with operations in flight end without harm to the process', async () => {
    // In a process of its own, so that memory corruption fails this test instead of killing the
    // test runner's worker. Each round: a worker thread submits 32 O_DIRECT reads of 1 MiB into
    // allocAligned() memory and is terminated at once; Node-API frees that memory before the
    // addon's cleanup hook has drained the ring, so the addon must keep it until the kernel is done
    // (the process aborted with "malloc(): unsorted double linked list corrupted" before), and its
    // poll handle must close without a callback into the unloaded addon (it segfaulted before).
    const { execFile } = await import('node:child_process');
    const { URING_ADDON_PATH } = await import('./uring-block-io.js');
    const path = join(dir, 'busy');
    const fh = await openFile('busy', constants.O_RDWR);
    await fh.write(Buffer.alloc(8 << 20, 0x61), 0, 8 << 20, 0);
    const workerSource = `
      const { createRequire } = require('node:module');
      const fs = require('node:fs');
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = createRequire(workerData.addon)(workerData.addon);
      addon.setup(64);
      const fd = fs.openSync(workerData.path, fs.constants.O_RDWR | fs.constants.O_DIRECT);
      for (let i = 0; i < 32; i++) addon.read(fd, new Uint8Array(addon.allocAligned(1 << 20)), (i % 8) << 20);
      addon.flush();
      parentPort.postMessage('submitted');
    `;
    const main = `
      const { Worker } = require('node:worker_threads');
      const { createRequire } = require('node:module');
      const fs = require('node:fs');
      const [addonPath, path, source] = process.argv.slice(1);
      (async () => {
        for (let round = 0; round < 10; round++) {
          const worker = new Worker(source, { eval: true, workerData: { addon: addonPath, path } });
          await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
          await worker.terminate();
          const churn = [];
          for (let j = 0; j < 2000; j++) churn.push(Buffer.allocUnsafe(1024 + j));
        }
        // The process's own ring still works.
        const addon = createRequire(addonPath)(addonPath);
        addon.setup();
        const fd = fs.openSync(path, fs.constants.O_RDONLY);
        const back = Buffer.alloc(16);
        const done = addon.read(fd, back, 0);
        addon.flush();
        console.log(JSON.stringify({ read: await done, text: back.toString() }));
      })();
    `;
    const result = await new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>(
      (resolve) => {
        execFile(
          process.execPath,
          ['-e', main, URING_ADDON_PATH, path, workerSource],
          { timeout: 60_000 },
          (err, stdout, stderr) =>
            resolve({
              code: err ? ((err as { code?: number }).code ?? null) : 0,
              signal: err ? ((err as { signal?: string }).signal ?? null) : null,
              stdout,
              stderr,
            }),
        );
      },
    );
    expect(result, result.stderr).toMatchObject({ code: 0, signal: null });
    expect(JSON.parse(result.stdout)).toEqual({ read: 16, text: 'a'.repeat(16) });
  });

  it('allocAligned gives page-aligned memory and refuses bad lengths', () => {
    const addon = loadUringAddon();
    const ab = addon.allocAligned(10_000);
    expect(ab.byteLength).toBe(10_000);
    expect(() => addon.allocAligned(-1)).toThrow(RangeError);
    expect(() => addon.allocAligned(2 ** 31)).toThrow(RangeError);
  });
});

describe('block I/O backend choice', () => {
  it('fs when asked, without probing; a bad mode is CONFIG_INVALID', async () => {
    const neverProbe = () => Promise.reject(new Error('fs must not probe'));
    const choice = await chooseBlockIo(dir, { mode: 'fs', probe: neverProbe });
    expect(choice).toMatchObject({ kind: 'fs', reason: 'fs asked for (option)' });
    expect((await chooseBlockIo(dir, { env: { [BLOCK_IO_ENV]: 'FS' }, probe: neverProbe })).reason).toBe(
      'fs asked for (SPINDLE_BLOCK_IO=FS)',
    );
    await expect(chooseBlockIo(dir, { env: { [BLOCK_IO_ENV]: 'spdk' } })).rejects.toSatisfy((e: unknown) =>
      isSpindleError(e, ErrorCode.CONFIG_INVALID),
    );
    expect(() => parseBlockIoMode('x', 'storage.blockIo')).toThrow(/storage.blockIo: unknown block I\/O backend "x"/);
  });

  it.skipIf(uringSkip !== undefined)(
    'auto takes uring where the probe passes and leaves no probe file behind',
    async () => {
      const choice = await chooseBlockIo(dir, { env: {} });
      expect(choice.kind).toBe('uring');
      expect(choice.reason).toMatch(/io_uring works/);
      const { readdir } = await import('node:fs/promises');
      expect(await readdir(dir)).toEqual([]);
    },
  );

  it('auto falls back to fs, with the reason, when the probe fails; uring asked for then fails the open', async () => {
    const refuse = async (d: string) => ({ ok: false, reason: `the file system of ${d} refuses O_DIRECT` });
    const choice = await chooseBlockIo(dir, { mode: 'auto', probe: refuse });
    expect(choice.kind).toBe('fs');
    expect(choice.reason).toBe(`fs: io_uring unusable (the file system of ${dir} refuses O_DIRECT)`);
    await expect(chooseBlockIo(dir, { mode: 'uring', probe: refuse })).rejects.toSatisfy(
      (e: unknown) => isSpindleError(e, ErrorCode.CONFIG_INVALID) && /refuses O_DIRECT/.test((e as Error).message),
    );
  });

  it.skipIf(uringSkip !== undefined || !existsSync('/dev/shm'))(
    'on tmpfs the probe and the choice agree (tmpfs has O_DIRECT since Linux 6.6)',
    async () => {
      const shm = await mkdtemp('/dev/shm/spindle-uring-');
      try {
        const probe = await probeUring(shm);
        const choice = await chooseBlockIo(shm, { mode: 'auto' });
        expect(choice.kind).toBe(probe.ok ? 'uring' : 'fs');
        if (!probe.ok) expect(probe.reason).toBe(`the file system of ${shm} refuses O_DIRECT`);
      } finally {
        await rm(shm, { recursive: true, force: true });
      }
    },
  );
});
