// POSIX semantics of `spindle mount` that applications rely on beyond reading and writing (issue
// 17), through real kernel mounts: two `spindle mount` processes of one cluster, driven by
// python3 (the syscalls themselves: os.open with mode 0, renameat2, setxattr, mknod, bind), cp
// and other users' processes (setpriv). Each test names the gap it covers.
//
// Skipped only when the machine has no /dev/fuse; the sticky-directory test needs root (setpriv).
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFuseMount } from '../../mount/index.js';
import { startCluster, type TestCluster } from '../harness/cluster.js';
import { type MountProcess, ok, startMount, stopMount } from './testing/mount-process.js';

const HAS_FUSE = existsSync('/dev/fuse');
const IS_ROOT = process.getuid?.() === 0;
/** The system python (readable by the unprivileged users the sticky test runs as). */
const PY = '/usr/bin/python3';
/** Two unprivileged users for the sticky-directory checks (no accounts needed: setpriv). */
const ALICE = 41_001;
const BOB = 41_002;

describe.skipIf(!HAS_FUSE)('spindle mount: POSIX semantics (issue 17)', () => {
  let cluster: TestCluster;
  let work: string;
  let mnt: string;
  let mnt2: string;
  let mount: MountProcess | undefined;
  let mount2: MountProcess | undefined;

  /** Runs a python script (written to a file) with args; as `uid` when given. */
  async function py(name: string, script: string, args: string[] = [], uid?: number): Promise<string> {
    const file = join(work, `${name}.py`);
    writeFileSync(file, script);
    const as = uid === undefined ? '' : `setpriv --reuid=${uid} --regid=${uid} --clear-groups `;
    return (await ok(`${as}${PY} ${file} ${args.map((a) => JSON.stringify(a)).join(' ')}`)).trim();
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'spindle-posix-test-'));
    chmodSync(work, 0o755); // other users reach the mount points below it
    mnt = join(work, 'mnt');
    mnt2 = join(work, 'mnt2');
    mkdirSync(mnt);
    mkdirSync(mnt2);
    cluster = await startCluster();
    [mount, mount2] = await Promise.all([startMount(mnt, cluster.metaAddress), startMount(mnt2, cluster.metaAddress)]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([stopMount(mount, mnt), stopMount(mount2, mnt2)]);
    await cluster?.stop();
    if (work !== undefined && findFuseMount(mnt) === undefined && findFuseMount(mnt2) === undefined)
      rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('open(O_CREAT) and mkdir take the mode as given: 0 stays 0, the umask applied by the kernel stays', async () => {
    const out = await py(
      'modes',
      [
        'import os, stat, sys',
        'd = sys.argv[1]',
        'os.umask(0)',
        'os.close(os.open(d + "/m0", os.O_CREAT | os.O_WRONLY, 0))',
        'os.mkdir(d + "/d0", 0)',
        'os.mknod(d + "/n0", stat.S_IFREG | 0)',
        'os.umask(0o027)',
        'os.close(os.open(d + "/m777", os.O_CREAT | os.O_WRONLY, 0o777))',
        'os.mkdir(d + "/d777", 0o777)',
        'print(" ".join(oct(os.lstat(d + "/" + n).st_mode) for n in ["m0", "d0", "n0", "m777", "d777"]))',
      ].join('\n'),
      [mnt],
    );
    expect(out).toBe('0o100000 0o40000 0o100000 0o100750 0o40750');
    // The same modes through the other mount: they are what meta stored.
    expect((await ok(`stat -c %a ${mnt2}/m0 ${mnt2}/d0 ${mnt2}/m777`)).trim().split('\n')).toEqual(['0', '0', '750']);
    await ok(`rm -r ${mnt}/m0 ${mnt}/d0 ${mnt}/n0 ${mnt}/m777 ${mnt}/d777`);
  }, 60_000);

  it('fstat of an open file after unlink (or after a rename over it) shows nlink 0', async () => {
    const out = await py(
      'nlink',
      [
        'import os, sys',
        'd = sys.argv[1]',
        'a = os.open(d + "/nl-a", os.O_CREAT | os.O_RDWR, 0o644)',
        'os.write(a, b"kept")',
        'os.unlink(d + "/nl-a")',
        'b = os.open(d + "/nl-b", os.O_CREAT | os.O_RDWR, 0o644)',
        'open(d + "/nl-c", "w").write("new")',
        'os.rename(d + "/nl-c", d + "/nl-b")',
        'os.lseek(a, 0, 0)',
        'print(os.fstat(a).st_nlink, os.fstat(b).st_nlink, os.read(a, 10).decode(), os.stat(d + "/nl-b").st_nlink)',
      ].join('\n'),
      [mnt],
    );
    expect(out).toBe('0 0 kept 1');
    await ok(`rm ${mnt}/nl-b`);
  }, 60_000);

  it('RENAME_NOREPLACE between two hard links of one file is EEXIST; RENAME_EXCHANGE swaps atomically', async () => {
    await ok(
      `mkdir -p ${mnt}/x/sub && echo one > ${mnt}/x/f && ln ${mnt}/x/f ${mnt}/x/g && echo dir > ${mnt}/x/sub/in`,
    );
    const out = await py(
      'exchange',
      [
        'import ctypes, errno, os, sys',
        'libc = ctypes.CDLL("libc.so.6", use_errno=True)',
        'd = sys.argv[1].encode()',
        'def r2(a, b, flags):',
        '    rc = libc.renameat2(-100, d + a, -100, d + b, flags)',
        '    return 0 if rc == 0 else errno.errorcode[ctypes.get_errno()]',
        'print(r2(b"/f", b"/g", 1))',
        'print(r2(b"/f", b"/sub", 2))', // file <-> directory
        'print(open(d + b"/sub").read().strip(), open(d + b"/f/in").read().strip())',
        'print(r2(b"/f", b"/missing", 2))',
        'print(r2(b"/f", b"/g", 3))',
      ].join('\n'),
      [`${mnt}/x`],
    );
    expect(out.split('\n')).toEqual(['EEXIST', '0', 'one dir', 'ENOENT', 'EINVAL']);
    // Seen the same way from the other mount (one metadata transaction; the directory moved along).
    expect((await ok(`cat ${mnt2}/x/sub ${mnt2}/x/f/in`)).trim().split('\n')).toEqual(['one', 'dir']);
    expect((await ok(`stat -c %F:%h ${mnt2}/x/f ${mnt2}/x/sub`)).trim().split('\n')).toEqual([
      'directory:2',
      'regular file:2',
    ]);
    expect((await ok(`ls -a ${mnt2}/x/f/.. | sort | tr '\\n' ' '`)).trim()).toBe('. .. f g sub');
    // The kernel answers RENAME_NOREPLACE onto a name it knows by itself; meta must agree for
    // names the kernel has not looked up (and for library clients).
    await ok(`ln ${mnt}/x/sub ${mnt}/x/sub2`);
    const client = await cluster.client();
    await expect(
      client.meta.rename({
        from: { parentIno: 1, path: '/x/sub' },
        to: { parentIno: 1, path: '/x/sub2' },
        noReplace: true,
      }),
    ).rejects.toMatchObject({ code: 'EEXIST' });
    await ok(`rm -r ${mnt}/x`);
  }, 60_000);

  it.skipIf(!IS_ROOT)(
    'sticky directories: only the owner of an entry or of the directory renames or removes it',
    async () => {
      const d = `${mnt}/sticky`;
      await ok(`mkdir ${d} && chmod 1777 ${d}`);
      const touch = 'import sys; open(sys.argv[1], "w").write("x")';
      await py('touch', touch, [`${d}/alice`], ALICE);
      await py('touch', touch, [`${d}/bob`], BOB);
      await ok(`mkdir ${d}/alice-dir && chown ${ALICE} ${d}/alice-dir`);
      const attempt = [
        'import errno, os, sys',
        'op, a = sys.argv[1], sys.argv[2]',
        'try:',
        '    {"rename": lambda: os.rename(a, sys.argv[3]), "unlink": lambda: os.unlink(a),',
        '     "rmdir": lambda: os.rmdir(a)}[op]()',
        '    print("ok")',
        'except OSError as e:',
        '    print(errno.errorcode[e.errno])',
      ].join('\n');
      const as = (uid: number, ...args: string[]) => py('attempt', attempt, args, uid);
      // Bob may not move, replace or remove Alice's entries (EPERM, as Linux answers).
      expect(await as(BOB, 'rename', `${d}/alice`, `${d}/mine`)).toBe('EPERM');
      expect(await as(BOB, 'rename', `${d}/bob`, `${d}/alice`)).toBe('EPERM');
      expect(await as(BOB, 'unlink', `${d}/alice`)).toBe('EPERM');
      expect(await as(BOB, 'rmdir', `${d}/alice-dir`)).toBe('EPERM');
      expect((await ok(`stat -c %u ${d}/alice`)).trim()).toBe(String(ALICE));
      // Through the other mount, Alice's file is given to Bob: right away the first mount lets Bob
      // remove it, and refuses Alice (meta checks the owner it stores, not a cached one).
      await ok(`chown ${BOB} ${mnt2}/sticky/alice && chown ${ALICE} ${mnt2}/sticky/bob`);
      expect(await as(ALICE, 'unlink', `${d}/alice`)).toBe('EPERM');
      expect(await as(BOB, 'rename', `${d}/bob`, `${d}/taken`)).toBe('EPERM');
      await new Promise((resolve) => setTimeout(resolve, 1_200)); // past ATTR_TIMEOUT_S: the kernel's copy too
      expect(await as(BOB, 'unlink', `${d}/alice`)).toBe('ok');
      // Owners and the directory's owner may.
      expect(await as(ALICE, 'rename', `${d}/bob`, `${d}/alice2`)).toBe('ok');
      expect(await as(ALICE, 'rmdir', `${d}/alice-dir`)).toBe('ok');
      await ok(`rm -r ${d}`);
    },
    60_000,
  );
});
