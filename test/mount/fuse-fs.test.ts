// The FUSE operations (mount/fuse-fs.ts) driven in-process with a recording reply table
// instead of the kernel: what each request answers, including the errno of refused ones and the
// readdir cookies the kernel resumes from. Needs no /dev/fuse, so it runs everywhere.
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { SpindleFuseFs } from '../../mount/fuse-fs.js';
import { FuseOp, SetAttrBits } from '../../mount/native.js';
import { useCluster } from '../harness/cluster.js';
import { recordingFuse } from './testing/recording-replies.js';

const E = osConstants.errno;
const S_IFREG = 0o100000;
const S_IFIFO = 0o010000;

describe('SpindleFuseFs operations', () => {
  const cluster = useCluster({ storageNodes: 3 });

  it('maps file, directory and link operations onto meta and the chunk store', async () => {
    // The mount acts for every local user: it runs with the admin credential (cli/mount-commands.ts).
    const client = await cluster().client({ token: cluster().adminToken });
    const call = recordingFuse((replies) => new SpindleFuseFs({ client, replies, nowUs: () => 1_700_000_000_000_000 }));

    expect(await call(FuseOp.LOOKUP, { parent: 1, name: 'missing' })).toEqual({ method: 'replyErr', args: [E.ENOENT] });

    const mkdir = await call(FuseOp.MKDIR, { parent: 1, name: 'd', mode: 0o750 });
    expect(mkdir.method).toBe('replyEntry');
    const dirIno = (mkdir.args[0] as { ino: number }).ino;

    const created = await call(FuseOp.CREATE, {
      parent: dirIno,
      name: 'f',
      mode: S_IFREG | 0o640,
      flags: fsConstants.O_WRONLY | fsConstants.O_CREAT,
      uid: 42,
      gid: 43,
    });
    expect(created.method).toBe('replyCreate');
    const [entry, fh] = created.args as [{ ino: number; attr: { mode: number; uid: number } }, number];
    expect(entry.attr.mode).toBe(S_IFREG | 0o640);
    expect(entry.attr.uid).toBe(42);

    expect(await call(FuseOp.WRITE, { ino: entry.ino, fh, offset: 0, data: Buffer.from('hello world') })).toEqual({
      method: 'replyWrite',
      args: [11],
    });
    // Buffered, not yet in meta: getattr still reports the written length.
    const attr = await call(FuseOp.GETATTR, { ino: entry.ino });
    expect((attr.args[0] as { size: number }).size).toBe(11);
    expect(await call(FuseOp.FLUSH, { ino: entry.ino, fh })).toEqual({ method: 'replyErr', args: [0] });
    expect((await client.stat('/d/f')).size).toBe(11);
    expect(await call(FuseOp.RELEASE, { ino: entry.ino, fh })).toEqual({ method: 'replyErr', args: [0] });

    const opened = await call(FuseOp.OPEN, { ino: entry.ino, flags: fsConstants.O_RDONLY });
    const readFh = opened.args[0] as number;
    const read = await call(FuseOp.READ, { ino: entry.ino, fh: readFh, offset: 6, size: 100 });
    expect(read.method).toBe('replyBuf');
    expect(Buffer.from(read.args[0] as Uint8Array).toString()).toBe('world');
    expect(await call(FuseOp.WRITE, { ino: entry.ino, fh: readFh, offset: 0, data: Buffer.from('x') })).toEqual({
      method: 'replyErr',
      args: [E.EBADF],
    });
    await call(FuseOp.RELEASE, { ino: entry.ino, fh: readFh });

    const set = await call(FuseOp.SETATTR, {
      ino: entry.ino,
      valid: SetAttrBits.SIZE | SetAttrBits.MODE | SetAttrBits.MTIME_NOW,
      attr: { mode: 0o600, uid: 0, gid: 0, size: 5, atimeUs: 0, mtimeUs: 0 },
    });
    expect(set.method).toBe('replyAttr');
    expect(set.args[0]).toMatchObject({ size: 5, mode: S_IFREG | 0o600, mtimeUs: 1_700_000_000_000_000 });

    const link = await call(FuseOp.LINK, { ino: entry.ino, newParent: 1, newName: 'hard' });
    expect(link.args[0]).toMatchObject({ ino: entry.ino, attr: { nlink: 2 } });
    const symlink = await call(FuseOp.SYMLINK, { link: 'd/f', parent: 1, name: 'sym' });
    expect(await call(FuseOp.READLINK, { ino: (symlink.args[0] as { ino: number }).ino })).toEqual({
      method: 'replyReadlink',
      args: ['d/f'],
    });

    await client.writeFile('/d/other', 'x');
    expect(
      await call(FuseOp.RENAME, { parent: 1, name: 'hard', newParent: dirIno, newName: 'other', flags: 1 }),
    ).toEqual({ method: 'replyErr', args: [E.EEXIST] });
    // RENAME_EXCHANGE needs both names; RENAME_WHITEOUT is not supported.
    expect(await call(FuseOp.RENAME, { parent: 1, name: 'hard', newParent: dirIno, newName: 'g', flags: 2 })).toEqual({
      method: 'replyErr',
      args: [E.ENOENT],
    });
    expect(await call(FuseOp.RENAME, { parent: 1, name: 'hard', newParent: dirIno, newName: 'g', flags: 4 })).toEqual({
      method: 'replyErr',
      args: [E.EINVAL],
    });
    expect(await call(FuseOp.RENAME, { parent: 1, name: 'hard', newParent: dirIno, newName: 'g', flags: 0 })).toEqual({
      method: 'replyErr',
      args: [0],
    });

    const fifo = await call(FuseOp.MKNOD, { parent: 1, name: 'fifo', mode: S_IFIFO | 0o644 });
    expect(fifo.method).toBe('replyEntry');
    expect((fifo.args[0] as { attr: { mode: number } }).attr.mode).toBe(S_IFIFO | 0o644);
    expect(await call(FuseOp.MKNOD, { parent: 1, name: 'odd', mode: 0o644 })).toEqual({
      method: 'replyErr',
      args: [E.EINVAL],
    });
    expect(await call(FuseOp.RMDIR, { parent: 1, name: 'd' })).toEqual({ method: 'replyErr', args: [E.ENOTEMPTY] });
    expect(await call(FuseOp.UNLINK, { parent: 1, name: 'd' })).toEqual({ method: 'replyErr', args: [E.EISDIR] });
    expect(await call(FuseOp.READ, { ino: entry.ino, fh: 999_999, offset: 0, size: 1 })).toEqual({
      method: 'replyErr',
      args: [E.EBADF],
    });
    expect(await call(999, {})).toEqual({ method: 'replyErr', args: [E.ENOSYS] });

    const statfs = await call(FuseOp.STATFS, { ino: 1 });
    expect(statfs.method).toBe('replyStatfs');
    expect((statfs.args[0] as { namemax: number }).namemax).toBe(255);
  }, 60_000);

  it('readdir resumes from the cookie of the last entry the kernel took', async () => {
    // The mount acts for every local user: it runs with the admin credential (cli/mount-commands.ts).
    const client = await cluster().client({ token: cluster().adminToken });
    await client.mkdir('/list');
    const names = Array.from({ length: 120 }, (_, i) => `entry-${String(i).padStart(3, '0')}`);
    await Promise.all(names.map((name) => client.writeFile(`/list/${name}`, '')));
    const dir = await client.stat('/list');
    const call = recordingFuse((replies) => new SpindleFuseFs({ client, replies }));
    const fh = (await call(FuseOp.OPENDIR, { ino: dir.ino })).args[0] as number;
    for (const plus of [false, true]) {
      const seen: string[] = [];
      let offset = 0;
      for (let round = 0; round < 100; round++) {
        const reply = await call(FuseOp.READDIR, { ino: dir.ino, fh, offset, size: 1024, plus });
        const [, , entries, packed] = reply.args as [
          number,
          boolean,
          Array<{ name: string; off: number; entry?: unknown }>,
          number,
        ];
        if (packed === 0) break;
        const taken = entries.slice(0, packed);
        if (plus) for (const e of taken) if (e.name !== '.' && e.name !== '..') expect(e.entry).toBeDefined();
        seen.push(...taken.map((e) => e.name));
        offset = taken[taken.length - 1]!.off;
      }
      expect(seen).toEqual(['.', '..', ...names]);
    }
    expect(await call(FuseOp.RELEASEDIR, { ino: dir.ino, fh })).toEqual({ method: 'replyErr', args: [0] });
    expect(await call(FuseOp.READDIR, { ino: dir.ino, fh, offset: 0, size: 1024 })).toEqual({
      method: 'replyErr',
      args: [E.EBADF],
    });
  }, 60_000);
});
