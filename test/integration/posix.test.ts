// POSIX namespace semantics through the client on a real cluster: the rename matrix (over
// files, over empty and non-empty directories, into its own subtree), unlink of an open file,
// rmdir of a non-empty directory, and O_EXCL races between clients.
import { describe, expect, it } from 'vitest';
import { useCluster } from '../harness/cluster.js';

const cluster = useCluster();

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

describe('rename', () => {
  it('file over file replaces the target atomically', async () => {
    const c = await cluster().client();
    await c.mkdir('/rn1', { recursive: true });
    await c.writeFile('/rn1/a', 'aaa');
    await c.writeFile('/rn1/b', 'bbbbbb');
    await c.rename('/rn1/a', '/rn1/b');
    expect(await codeOf(c.stat('/rn1/a'))).toBe('ENOENT');
    expect((await c.readFile('/rn1/b')).toString()).toBe('aaa');
    expect((await c.readdir('/rn1')).sort()).toEqual(['b']);
  });

  it('file over a directory is EISDIR; directory over a file is ENOTDIR; nothing changes', async () => {
    const c = await cluster().client();
    await c.mkdir('/rn2/dir', { recursive: true });
    await c.mkdir('/rn2/full/sub', { recursive: true });
    await c.writeFile('/rn2/file', 'x');
    expect(await codeOf(c.rename('/rn2/file', '/rn2/dir'))).toBe('EISDIR');
    expect(await codeOf(c.rename('/rn2/file', '/rn2/full'))).toBe('EISDIR');
    expect(await codeOf(c.rename('/rn2/dir', '/rn2/file'))).toBe('ENOTDIR');
    expect((await c.readdir('/rn2')).sort()).toEqual(['dir', 'file', 'full']);
    expect((await c.readFile('/rn2/file')).toString()).toBe('x');
  });

  it('directory over an empty directory replaces it; over a non-empty one is ENOTEMPTY', async () => {
    const c = await cluster().client();
    await c.mkdir('/rn3/src/inner', { recursive: true });
    await c.writeFile('/rn3/src/inner/f', 'f');
    await c.mkdir('/rn3/empty', { recursive: true });
    await c.mkdir('/rn3/full/x', { recursive: true });
    expect(await codeOf(c.rename('/rn3/src', '/rn3/full'))).toMatch(/^(ENOTEMPTY|EEXIST)$/);
    await c.rename('/rn3/src', '/rn3/empty');
    expect(await codeOf(c.stat('/rn3/src'))).toBe('ENOENT');
    expect((await c.readFile('/rn3/empty/inner/f')).toString()).toBe('f');
    expect((await c.readdir('/rn3')).sort()).toEqual(['empty', 'full']);
  });

  it('a directory into its own subtree is EINVAL', async () => {
    const c = await cluster().client();
    await c.mkdir('/rn4/a/b/c', { recursive: true });
    expect(await codeOf(c.rename('/rn4/a', '/rn4/a/b/c/a'))).toBe('EINVAL');
    expect(await codeOf(c.rename('/rn4/a', '/rn4/a/b'))).toMatch(/^(EINVAL|ENOTEMPTY|EEXIST)$/);
    expect((await c.stat('/rn4/a/b/c')).isDirectory()).toBe(true);
  });

  it('rename onto itself is a no-op; a missing source or target parent is ENOENT', async () => {
    const c = await cluster().client();
    await c.mkdir('/rn5', { recursive: true });
    await c.writeFile('/rn5/same', 'same');
    await c.rename('/rn5/same', '/rn5/same');
    expect((await c.readFile('/rn5/same')).toString()).toBe('same');
    expect(await codeOf(c.rename('/rn5/missing', '/rn5/x'))).toBe('ENOENT');
    expect(await codeOf(c.rename('/rn5/same', '/rn5/nodir/x'))).toBe('ENOENT');
    expect((await c.readdir('/rn5')).sort()).toEqual(['same']);
  });

  it('moves across directories, and hard links keep the file when one name is replaced', async () => {
    const c = await cluster().client();
    await c.mkdir('/rn6/from', { recursive: true });
    await c.mkdir('/rn6/to', { recursive: true });
    await c.writeFile('/rn6/from/f', 'moved');
    await c.rename('/rn6/from/f', '/rn6/to/g');
    expect((await c.readFile('/rn6/to/g')).toString()).toBe('moved');
    expect(await c.readdir('/rn6/from')).toEqual([]);
    await c.link('/rn6/to/g', '/rn6/to/h');
    await c.writeFile('/rn6/to/other', 'other');
    await c.rename('/rn6/to/other', '/rn6/to/g');
    expect((await c.readFile('/rn6/to/h')).toString()).toBe('moved');
    expect((await c.stat('/rn6/to/h')).nlink).toBe(1);
  });
});

describe('unlink and rmdir', () => {
  it('an open file stays readable through its handle after unlink; its name is gone', async () => {
    const c = await cluster().client();
    const data = Buffer.alloc(300_000, 7);
    await c.writeFile('/open-unlinked', data);
    const handle = await c.open('/open-unlinked', 'r');
    try {
      await c.unlink('/open-unlinked');
      expect(await codeOf(c.stat('/open-unlinked'))).toBe('ENOENT');
      expect(await c.readdir('/')).not.toContain('open-unlinked');
      // Give the garbage collector (200 ms interval in the test preset) time to run.
      await new Promise((r) => setTimeout(r, 1_000));
      const buffer = Buffer.alloc(data.length);
      const { bytesRead } = await handle.read(buffer, 0, data.length, 0);
      expect(bytesRead).toBe(data.length);
      expect(buffer.equals(data)).toBe(true);
    } finally {
      await handle.close();
    }
    // A new file under the old name is a different file.
    await c.writeFile('/open-unlinked', 'new');
    expect((await c.readFile('/open-unlinked')).toString()).toBe('new');
  });

  it('rmdir of a non-empty directory is ENOTEMPTY and changes nothing; rm -r removes it', async () => {
    const c = await cluster().client();
    await c.mkdir('/rd/sub', { recursive: true });
    await c.writeFile('/rd/sub/f', 'f');
    expect(await codeOf(c.rmdir('/rd'))).toBe('ENOTEMPTY');
    expect(await codeOf(c.rmdir('/rd/sub'))).toBe('ENOTEMPTY');
    expect((await c.readFile('/rd/sub/f')).toString()).toBe('f');
    expect(await codeOf(c.rmdir('/rd/sub/f'))).toBe('ENOTDIR');
    expect(await codeOf(c.unlink('/rd/sub'))).toMatch(/^(EISDIR|EPERM)$/);
    await c.rm('/rd', { recursive: true });
    expect(await codeOf(c.stat('/rd'))).toBe('ENOENT');
  });
});

describe('O_EXCL', () => {
  it('of many clients creating one file with wx exactly one wins, the others get EEXIST', async () => {
    const clients = await Promise.all(Array.from({ length: 6 }, () => cluster().client()));
    for (let round = 0; round < 3; round += 1) {
      const path = `/excl-${round}`;
      const outcomes = await Promise.all(
        clients.map(async (c, i) => {
          try {
            const handle = await c.open(path, 'wx');
            await handle.write(Buffer.from(`winner ${i}`));
            await handle.close();
            return `won ${i}`;
          } catch (err) {
            return (err as { code?: string }).code ?? String(err);
          }
        }),
      );
      const winners = outcomes.filter((o) => o.startsWith('won'));
      expect(winners).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'EEXIST')).toHaveLength(clients.length - 1);
      expect((await clients[0]!.readFile(path)).toString()).toBe(`winner ${winners[0]!.slice(4)}`);
    }
  });
});
