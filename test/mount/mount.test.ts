// `spindle mount` against a real cluster: the mount runs as its own process (`spindle mount DIR`)
// and ordinary tools — cp, diff, dd, sha256sum, mv, rm, ln, truncate, chmod, touch, git, python3, fio —
// work inside it (issue 5's acceptance list: a 300 MiB file in the cp -r tree and fio verify=crc32c
// on 512 MiB files and a 1 GiB dd bs=1M + sha256sum file, as the issue asks — see docs/mount.md).
//
// Skipped only when the machine has no /dev/fuse. Leaves nothing behind: afterAll stops the mount
// process by pid, detaches any mount still there, and stops the cluster.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFuseMount } from '../../mount/index.js';
import { pidAlive, startCluster, type TestCluster } from '../harness/cluster.js';
import { skipUnlessAvailable } from '../setup/suite-requirements.js';
import { type MountProcess, ok, sh, startMount, stopMount } from './testing/mount-process.js';

const NO_FUSE = skipUnlessAvailable(
  'fuse',
  existsSync('/dev/fuse')
    ? undefined
    : '/dev/fuse does not exist on this machine (no FUSE in this kernel or container)',
);

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const spindleBin = join(repoRoot, 'bin', 'spindle.mjs');
/** Size of the file written with dd bs=1M (issue 5: 1 GiB; 80–113 s on a loaded 2-core machine). */
const DD_MIB = 1024;
/** Size of the largest file of the cp -r tree (issue 5: 300 MiB). */
const TREE_BIG_MIB = 300;
const MiB = 1024 * 1024;
/** fio file sizes (issue 5: 512 MiB, sequential and random write then verify). */
const FIO_MIB = 512;
const FIO_RANDOM_MIB = 512;
/**
 * Block size of the random fio job: 1 MiB (64 KiB random writes over 512 MiB take over 4 minutes
 * here, see docs/mount.md).
 */
const FIO_RANDOM_BS = '1M';
/** Size of the dd during which a storage node is killed. */
const KILL_DD_MIB = 128;

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe.skipIf(NO_FUSE)('spindle mount (FUSE)', () => {
  let cluster: TestCluster;
  let work: string;
  let mnt: string;
  let mount: MountProcess | undefined;
  let mnt2: string;
  let daemonPid: number | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'spindle-mount-test-'));
    mnt = join(work, 'mnt');
    mnt2 = join(work, 'mnt2');
    mkdirSync(mnt);
    mkdirSync(mnt2);
    cluster = await startCluster({ preset: 'production' });
    mount = await startMount(mnt, cluster.metaAddress);
  }, 180_000);

  afterAll(async () => {
    await stopMount(mount, mnt);
    if (daemonPid !== undefined && pidAlive(daemonPid)) process.kill(daemonPid, 'SIGKILL');
    if (mnt2 !== undefined) await stopMount(undefined, mnt2);
    await cluster?.stop();
    if (work !== undefined && findFuseMount(mnt) === undefined && findFuseMount(mnt2) === undefined)
      rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('cp -r of a mixed tree in and out gives a clean diff -r', async () => {
    const src = join(work, 'tree');
    mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(src, 'empty'), '');
    writeFileSync(join(src, 'one'), 'x');
    for (const size of [4095, 4096, 4097]) writeFileSync(join(src, 'sub', `k${size}`), randomBytes(size));
    writeFileSync(join(src, 'sub', 'deeper', 'ten-mib'), randomBytes(10 * MiB));
    await ok(`head -c ${TREE_BIG_MIB * MiB + 123} /dev/urandom > ${src}/sub/deeper/big`);
    await ok(`ln -s sub/k4096 ${src}/link`);
    const long = { timeoutMs: 300_000 };
    await ok(`cp -r ${src} ${mnt}/tree`, long);
    await ok(`diff -r ${src} ${mnt}/tree`, long);
    await ok(`cp -r ${mnt}/tree ${work}/back`, long);
    await ok(`diff -r ${src} ${work}/back`, long);
    expect((await ok(`stat -c %s ${mnt}/tree/sub/deeper/big`)).trim()).toBe(String(TREE_BIG_MIB * MiB + 123));
    expect((await ok(`readlink ${mnt}/tree/link`)).trim()).toBe('sub/k4096');
    // The same bytes through the client library: the mount wrote real Spindle files.
    const client = await cluster.client();
    expect((await client.stat('/tree/sub/deeper/ten-mib')).size).toBe(10 * MiB);
    expect(Buffer.compare(await client.readFile('/tree/sub/k4097'), readFileSync(join(src, 'sub', 'k4097')))).toBe(0);
    // Free the temp space (local copies and the cluster's chunks) before the next test.
    rmSync(src, { recursive: true, force: true });
    rmSync(join(work, 'back'), { recursive: true, force: true });
    await ok(`rm -r ${mnt}/tree`);
  }, 600_000);

  it(`sha256sum of a ${DD_MIB} MiB file written with dd bs=1M matches`, async () => {
    const local = join(work, 'dd-src');
    await ok(`head -c ${DD_MIB * MiB} /dev/urandom > ${local}`);
    await ok(`dd if=${local} of=${mnt}/dd.bin bs=1M status=none`, { timeoutMs: 300_000 });
    const inside = (await ok(`sha256sum ${mnt}/dd.bin`, { timeoutMs: 300_000 })).split(' ')[0];
    expect(inside).toBe((await ok(`sha256sum ${local}`, { timeoutMs: 300_000 })).split(' ')[0]);
    expect((await ok(`stat -c %s ${mnt}/dd.bin`)).trim()).toBe(String(DD_MIB * MiB));
    rmSync(local);
    await ok(`rm ${mnt}/dd.bin`);
  }, 600_000);

  it('mv over an existing file, rm -r, ln -s, ln, truncate, chmod, touch -d behave as POSIX says', async () => {
    const d = `${mnt}/posix`;
    await ok(`mkdir -p ${d}/a/b/c && echo old > ${d}/target && echo new > ${d}/source`);
    await ok(`mv ${d}/source ${d}/target`);
    expect(await ok(`cat ${d}/target`)).toBe('new\n');
    expect((await sh(`ls ${d}/source`)).code).not.toBe(0);

    await ok(`ln -s target ${d}/sym && ln ${d}/target ${d}/hard`);
    expect((await ok(`readlink ${d}/sym`)).trim()).toBe('target');
    expect(await ok(`cat ${d}/sym`)).toBe('new\n');
    expect((await ok(`stat -c %h ${d}/target`)).trim()).toBe('2');
    expect((await ok(`stat -c %i ${d}/hard`)).trim()).toBe((await ok(`stat -c %i ${d}/target`)).trim());

    await ok(`truncate -s 2 ${d}/hard`);
    expect(await ok(`cat ${d}/target`)).toBe('ne');
    await ok(`truncate -s 5000 ${d}/target`);
    expect((await ok(`stat -c %s ${d}/hard`)).trim()).toBe('5000');
    expect(await ok(`tail -c 4998 ${d}/target | tr -d '\\0' | wc -c`)).toBe('0\n');

    await ok(`chown 1234:5678 ${d}/target`);
    expect((await ok(`stat -c %u:%g ${d}/hard`)).trim()).toBe('1234:5678');
    await ok(`chmod 640 ${d}/target`);
    expect((await ok(`stat -c %a ${d}/hard`)).trim()).toBe('640');
    await ok(`touch -d '2001-02-03 04:05:06 UTC' ${d}/target`);
    expect((await ok(`stat -c %Y ${d}/target`)).trim()).toBe(String(Date.UTC(2001, 1, 3, 4, 5, 6) / 1000));
    await ok(`touch ${d}/fresh && test -f ${d}/fresh && test ! -s ${d}/fresh`);

    await ok(`echo deep > ${d}/a/b/c/file && rm -r ${d}/a`);
    expect((await sh(`ls ${d}/a`)).code).not.toBe(0);
    expect((await sh(`rmdir ${d}`)).stderr).toMatch(/not empty/i);
    expect((await sh(`cat ${d}/missing`)).stderr).toMatch(/No such file/);
    await ok(`rm -r ${d}`);
  }, 120_000);

  it('rename with RENAME_NOREPLACE refuses an existing target (EEXIST)', async () => {
    await ok(`echo a > ${mnt}/nr-a && echo b > ${mnt}/nr-b`);
    const script = [
      'import ctypes, ctypes.util, errno, os, sys',
      'libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)',
      `a, b, c = b"${mnt}/nr-a", b"${mnt}/nr-b", b"${mnt}/nr-c"`,
      'r = libc.renameat2(-100, a, -100, b, 1)',
      'assert r == -1 and ctypes.get_errno() == errno.EEXIST, (r, ctypes.get_errno())',
      'assert libc.renameat2(-100, a, -100, c, 1) == 0',
      'print(open(c).read().strip(), open(b).read().strip())',
    ].join('\n');
    expect((await ok(`python3 -c '${script}'`)).trim()).toBe('a b');
    await ok(`rm ${mnt}/nr-b ${mnt}/nr-c`);
  }, 60_000);

  it('git init, add and commit inside the mount', async () => {
    const repo = `${mnt}/repo`;
    await ok(`mkdir ${repo}`);
    const git = `git -c user.name=Spindle -c user.email=spindle@example.invalid -c init.defaultBranch=main`;
    await ok(`${git} init -q`, { cwd: repo });
    writeFileSync(join(repo, 'README.md'), '# hello\n');
    mkdirSync(join(repo, 'src'));
    writeFileSync(join(repo, 'src', 'main.py'), 'print("hi")\n');
    await ok(`${git} add -A && ${git} commit -q -m first`, { cwd: repo });
    writeFileSync(join(repo, 'README.md'), '# hello\nworld\n');
    await ok(`${git} commit -q -am second`, { cwd: repo });
    expect((await ok(`${git} log --format=%s`, { cwd: repo })).trim().split('\n')).toEqual(['second', 'first']);
    expect((await ok(`${git} status --porcelain`, { cwd: repo })).trim()).toBe('');
    await ok(`${git} fsck --no-progress`, { cwd: repo });
    await ok(`rm -rf ${repo}`);
  }, 120_000);

  it('python3 writes, seeks, appends and reads; the length is right right after close', async () => {
    const path = `${mnt}/py.bin`;
    const script = [
      'import os',
      `p = "${path}"`,
      'with open(p, "wb") as f:',
      '    f.write(b"a" * 10000)',
      '    f.seek(5000)',
      '    f.write(b"B" * 10)',
      '    f.seek(20000)',
      '    f.write(b"end")',
      'assert os.stat(p).st_size == 20003, os.stat(p).st_size',
      'with open(p, "ab") as f:',
      '    f.write(b"+tail")',
      'with open(p, "r+b") as f:',
      '    f.seek(1)',
      '    f.write(b"Z")',
      '    f.flush()',
      '    f.seek(0)',
      '    head = f.read(3)',
      'data = open(p, "rb").read()',
      'assert head == b"aZa", head',
      'assert len(data) == 20008, len(data)',
      'assert data[5000:5010] == b"B" * 10',
      'assert data[10000:20000] == b"\\0" * 10000',
      'assert data.endswith(b"end+tail")',
      'print(len(data))',
    ].join('\n');
    writeFileSync(join(work, 'py-test.py'), script);
    expect((await ok(`python3 ${work}/py-test.py`)).trim()).toBe('20008');
    // Another client sees the length meta recorded at close.
    const client = await cluster.client();
    expect((await client.stat('/py.bin')).size).toBe(20008);
  }, 60_000);

  it('O_DIRECT reads and writes, and a shared writable mmap', async () => {
    const local = join(work, 'direct-src');
    writeFileSync(local, randomBytes(8 * MiB));
    await ok(`dd if=${local} of=${mnt}/direct.bin bs=1M oflag=direct status=none`);
    await ok(`dd if=${mnt}/direct.bin of=${work}/direct-back bs=1M iflag=direct status=none`);
    expect(sha256File(join(work, 'direct-back'))).toBe(sha256File(local));
    const script = [
      'import mmap',
      `p = "${mnt}/mm.bin"`,
      'open(p, "wb").write(bytes(100000))',
      'with open(p, "r+b") as f:',
      '    m = mmap.mmap(f.fileno(), 0)',
      '    m[10:15] = b"hello"',
      '    m[99990:99995] = b"world"',
      '    m.flush()',
      '    m.close()',
      'd = open(p, "rb").read()',
      'assert len(d) == 100000 and d[10:15] == b"hello" and d[99990:99995] == b"world"',
      'print("ok")',
    ].join('\n');
    writeFileSync(join(work, 'shared-mmap-test.py'), script);
    expect((await ok(`python3 ${work}/shared-mmap-test.py`)).trim()).toBe('ok');
    await ok(`rm ${mnt}/direct.bin ${mnt}/mm.bin`);
  }, 60_000);

  it('an open file keeps its data after unlink or after being replaced by rename', async () => {
    const d = `${mnt}/keepopen`;
    await ok(`mkdir ${d}`);
    const script = [
      'import os',
      `d = "${d}"`,
      'f = open(d + "/tmp", "w+b")',
      'f.write(b"x" * 300000)',
      'f.flush()',
      'os.unlink(d + "/tmp")',
      'assert not os.path.exists(d + "/tmp")',
      'f.seek(0)',
      'assert f.read() == b"x" * 300000',
      'f.close()',
      'open(d + "/ckpt", "wb").write(b"old" * 1000)',
      'open(d + "/ckpt.new", "wb").write(b"new")',
      'r = open(d + "/ckpt", "rb")',
      'os.rename(d + "/ckpt.new", d + "/ckpt")',
      'assert open(d + "/ckpt", "rb").read() == b"new"',
      'assert r.read() == b"old" * 1000',
      'r.close()',
      'print(sorted(os.listdir(d)))',
    ].join('\n');
    writeFileSync(join(work, 'keep-open.py'), script);
    expect((await ok(`python3 ${work}/keep-open.py`)).trim()).toBe("['ckpt']");
    // The hidden names go away with the last release (FUSE release is asynchronous to close).
    let names = '';
    for (let i = 0; i < 50; i++) {
      names = (await ok(`ls -A ${d}`)).trim();
      if (names === 'ckpt') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(names).toBe('ckpt');
    await ok(`rm -r ${d}`);
  }, 60_000);

  it('a file unlinked while open leaves no name behind: its directory lists empty and can be removed', async () => {
    const script = [
      'import os, sys',
      'mnt = sys.argv[1]',
      'd = mnt + "/rmdir-open"',
      'os.mkdir(d)',
      'f = open(d + "/t", "w+b")',
      'f.write(b"y" * 5000)',
      'f.flush()',
      'os.unlink(d + "/t")',
      'assert os.listdir(d) == [], os.listdir(d)',
      'os.rmdir(d)',
      // The open file still does everything a file does (it keeps a name where the application does not look).
      'f.truncate(100)',
      'f.seek(0)',
      'assert f.read() == b"y" * 100',
      'os.fchmod(f.fileno(), 0o600)',
      'st = os.fstat(f.fileno())',
      'assert (st.st_nlink, st.st_size, st.st_mode & 0o777) == (0, 100, 0o600), st',
      'assert ".spindle-open" not in os.listdir(mnt), os.listdir(mnt)',
      'f.close()',
      'print("ok")',
    ].join('\n');
    writeFileSync(join(work, 'rmdir-open.py'), script);
    expect((await ok(`python3 ${work}/rmdir-open.py ${mnt}`)).trim()).toBe('ok');
    // The held name goes with the last release (FUSE release is asynchronous to close).
    let held = 'not listed yet';
    for (let i = 0; i < 50 && held !== ''; i++) {
      held = (await ok(`ls -A ${mnt}/.spindle-open`)).trim();
      if (held !== '') await new Promise((r) => setTimeout(r, 100));
    }
    expect(held).toBe('');
  }, 60_000);

  it('many processes read and write different files at once', async () => {
    const jobs = Array.from({ length: 6 }, (_, i) => i);
    for (const i of jobs) writeFileSync(join(work, `par-${i}`), randomBytes(3 * MiB + i * 7919));
    await ok(`${jobs.map((i) => `dd if=${work}/par-${i} of=${mnt}/par-${i} bs=256k status=none &`).join(' ')} wait`, {
      timeoutMs: 180_000,
    });
    const sums = await ok(`${jobs.map((i) => `sha256sum ${mnt}/par-${i} &`).join(' ')} wait`);
    for (const i of jobs) expect(sums).toContain(`${sha256File(join(work, `par-${i}`))}  ${mnt}/par-${i}`);
    await ok(`rm ${mnt}/par-*`);
  }, 240_000);

  it('statfs, errors for unsupported operations, readdir of a large directory', async () => {
    expect(await ok(`df -P ${mnt} | tail -1`)).toMatch(/^spindle@/);
    // More names than one meta ReadDir page (1000), created through the library (quicker than a shell loop).
    const client = await cluster.client();
    await client.mkdir('/many');
    const names = Array.from({ length: 1100 }, (_, i) => `f${i}`);
    for (let i = 0; i < names.length; i += 50)
      await Promise.all(names.slice(i, i + 50).map((name) => client.writeFile(`/many/${name}`, '')));
    await ok(`for i in $(seq 1100 1149); do : > ${mnt}/many/f$i; done`);
    expect((await ok(`ls ${mnt}/many | wc -l`)).trim()).toBe('1150');
    expect((await ok(`find ${mnt}/many -type f | wc -l`)).trim()).toBe('1150');
    expect((await ok(`ls -l ${mnt}/many | grep -c '^-rw'`)).trim()).toBe('1150');
    // Still unsupported: fallocate (FIFOs and xattrs work since issue 17: test/mount/posix.test.ts).
    expect((await sh(`fallocate -l 1M ${mnt}/many/f1`)).stderr).toMatch(/not supported/i);
    await ok(`rm -r ${mnt}/many`);
  }, 180_000);

  it('fio with verify=crc32c: sequential and random writes, then verify', async () => {
    const common = `--ioengine=psync --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 --minimal`;
    const seq = await ok(`fio --name=seq --filename=${mnt}/fio-seq --size=${FIO_MIB}M --bs=1M --rw=write ${common}`, {
      cwd: work,
      timeoutMs: 300_000,
    });
    const rnd = await ok(
      `fio --name=rnd --filename=${mnt}/fio-rnd --size=${FIO_RANDOM_MIB}M --bs=${FIO_RANDOM_BS} ` +
        `--rw=randwrite ${common}`,
      { cwd: work, timeoutMs: 300_000 },
    );
    // Terse output: field 5 is the job's error number.
    expect(seq.split(';')[4]).toBe('0');
    expect(rnd.split(';')[4]).toBe('0');
    await ok(`rm ${mnt}/fio-seq ${mnt}/fio-rnd`);
  }, 600_000);

  it('a storage node killed during a long dd: the copy completes and the bytes are right', async () => {
    const local = join(work, 'kill-src');
    await ok(`head -c ${KILL_DD_MIB * MiB} /dev/urandom > ${local}`);
    const copy = sh(`dd if=${local} of=${mnt}/kill.bin bs=1M status=none`, { timeoutMs: 300_000 });
    const started = Date.now();
    while (
      (statSync(`${mnt}/kill.bin`, { throwIfNoEntry: false })?.size ?? 0) < 16 * MiB &&
      Date.now() - started < 120_000
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const victim = cluster.nodes[1]!;
    await cluster.killNode(victim.id);
    const result = await copy;
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((await ok(`sha256sum ${mnt}/kill.bin`, { timeoutMs: 300_000 })).split(' ')[0]).toBe(sha256File(local));
    rmSync(local);
    await ok(`rm ${mnt}/kill.bin`);
  }, 600_000);

  it('mount --daemon --read-only returns once the mount serves; umount stops the background process', async () => {
    const out = await ok(
      `node ${spindleBin} mount ${mnt2} --meta ${cluster.metaAddress} --daemon --read-only ` +
        `--log-file ${work}/daemon.log`,
      { cwd: repoRoot },
    );
    const info = JSON.parse(out.trim()) as { mount: string; pid: number; logFile: string };
    daemonPid = info.pid;
    expect(info.mount).toBe(mnt2);
    expect(pidAlive(info.pid)).toBe(true);
    await ok(`echo via-first-mount > ${mnt}/daemon.txt`);
    expect(await ok(`cat ${mnt2}/daemon.txt`)).toBe('via-first-mount\n');
    expect((await sh(`echo no > ${mnt2}/daemon.txt`)).stderr).toMatch(/Read-only file system/);
    expect((await sh(`mkdir ${mnt2}/nope`)).stderr).toMatch(/Read-only file system/);
    expect(await ok(`cat ${mnt}/daemon.txt`)).toBe('via-first-mount\n');
    await ok(`node ${spindleBin} umount ${mnt2}`, { cwd: repoRoot });
    for (let i = 0; i < 100 && pidAlive(info.pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(pidAlive(info.pid)).toBe(false);
    expect(findFuseMount(mnt2)).toBeUndefined();
    expect(readFileSync(info.logFile, 'utf8')).toMatch(/unmounted/);
  }, 120_000);

  it('a crashed mount leaves a stale mount that the next mount clears', async () => {
    await ok(`echo survives > ${mnt}/keep`);
    mount!.child.kill('SIGKILL');
    await mount!.exited;
    expect((await sh(`ls ${mnt}`)).stderr).toMatch(/not connected/i);
    mount = await startMount(mnt, cluster.metaAddress);
    expect(mount.stderr()).toMatch(/stale mount/);
    expect(await ok(`cat ${mnt}/keep`)).toBe('survives\n');
  }, 120_000);

  it('spindle umount detaches the mount and the mount process exits 0', async () => {
    const result = await sh(`node ${spindleBin} umount ${mnt}`, { cwd: repoRoot });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(await mount!.exited).toBe(0);
    expect(findFuseMount(mnt)).toBeUndefined();
    expect((await sh(`node ${spindleBin} umount ${mnt}`, { cwd: repoRoot })).code).toBe(2);
  }, 60_000);

  it('SIGTERM flushes, unmounts cleanly and exits 0', async () => {
    mount = await startMount(mnt, cluster.metaAddress);
    await ok(`echo last > ${mnt}/last`);
    mount.child.kill('SIGTERM');
    expect(await mount.exited).toBe(0);
    expect(findFuseMount(mnt)).toBeUndefined();
    const client = await cluster.client();
    expect(await client.readFile('/last', 'utf8')).toBe('last\n');
  }, 60_000);
});
