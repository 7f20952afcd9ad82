// POSIX semantics of `spindle mount` that applications rely on beyond reading and writing (issue
// 17), through real kernel mounts: two `spindle mount` processes of one cluster, driven by
// python3 (the syscalls themselves: os.open with mode 0, renameat2, setxattr, mknod, bind), cp
// and other users' processes (setpriv). Each test names the gap it covers.
//
// Skipped only when the machine has no /dev/fuse; the sticky-directory test needs root (setpriv).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFuseMount } from '../../mount/index.js';
import { startCluster, type TestCluster } from '../harness/cluster.js';
import { skipUnlessAvailable } from '../setup/suite-requirements.js';
import { type MountProcess, ok, sh, startMount, stopMount } from './testing/mount-process.js';

const NO_FUSE = skipUnlessAvailable('fuse', existsSync('/dev/fuse') ? undefined : '/dev/fuse does not exist here');
const IS_ROOT = process.getuid?.() === 0;
/** The system python (readable by the unprivileged users the sticky test runs as). */
const PY = '/usr/bin/python3';
/** Two unprivileged users for the sticky-directory checks (no accounts needed: setpriv). */
const ALICE = 41_001;
const BOB = 41_002;

/** SIGKILL to a process group that may have exited already (a holder whose mount died under it). */
function killGroup(pgid: number | undefined): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // gone already
  }
}

describe.skipIf(NO_FUSE)('spindle mount: POSIX semantics (issue 17)', () => {
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

  it('a read through one descriptor sees what another descriptor of this mount wrote, before any fsync', async () => {
    const out = await py(
      'unsynced',
      [
        'import os, sys',
        'p = sys.argv[1] + "/unsynced"',
        'w = os.open(p, os.O_CREAT | os.O_WRONLY, 0o644)',
        'os.write(w, b"x" * 100000)',
        'r = os.open(p, os.O_RDONLY)',
        'data = os.pread(r, 200000, 0)',
        'print(len(data), data == b"x" * 100000)',
        'os.write(w, b"y" * 10)',
        'print(os.pread(r, 200000, 0)[-11:])',
        'os.close(w)',
        'os.close(r)',
        'os.unlink(p)',
      ].join('\n'),
      [mnt],
    );
    expect(out).toBe("100000 True\nb'xyyyyyyyyyy'");
  }, 60_000);

  it('a name that is not UTF-8 is refused (EINVAL), never rewritten into another name', async () => {
    const out = await py(
      'not-utf8',
      [
        'import errno, os, sys',
        'd = os.fsencode(sys.argv[1])',
        'codes = []',
        'for name in [b"bad\\xff", b"bad\\xc0\\xaf", b"bad\\xed\\xa0\\x80"]:',
        '    try:',
        '        os.close(os.open(d + b"/" + name, os.O_CREAT | os.O_WRONLY, 0o644))',
        '        codes.append("created")',
        '    except OSError as e:',
        '        codes.append(errno.errorcode[e.errno])',
        'open(d + "/good-é".encode(), "w").close()',
        'print(" ".join(codes), sorted(n for n in os.listdir(d) if n.startswith(b"bad") or n.startswith(b"good")))',
        'os.unlink(d + "/good-é".encode())',
      ].join('\n'),
      [mnt],
    );
    expect(out).toBe("EINVAL EINVAL EINVAL [b'good-\\xc3\\xa9']");
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

  it('special files: FIFOs, devices and Unix sockets are inodes of their own, seen from the other mount', async () => {
    const d = `${mnt}/special`;
    await ok(`mkdir ${d} && mkfifo -m 640 ${d}/fifo && mknod ${d}/null c 1 3 && mknod ${d}/loop b 7 200`);
    // A FIFO and a socket work as such (the kernel provides the pipe and the socket).
    const out = await py(
      'special',
      [
        'import os, socket, sys, threading',
        'd = sys.argv[1]',
        'def writer():',
        '    with open(d + "/fifo", "w") as f: f.write("through the pipe")',
        't = threading.Thread(target=writer); t.start()',
        'with open(d + "/fifo") as f: print(f.read())',
        't.join()',
        'server = socket.socket(socket.AF_UNIX); server.bind(d + "/sock"); server.listen(1)',
        'client = socket.socket(socket.AF_UNIX); client.connect(d + "/sock")',
        'conn, _ = server.accept(); client.sendall(b"over the socket"); print(conn.recv(100).decode())',
      ].join('\n'),
      [d],
    );
    expect(out.split('\n')).toEqual(['through the pipe', 'over the socket']);
    const types = `stat -c '%n %F %a %t:%T %s' fifo null loop sock`;
    const expected = [
      'fifo fifo 640 0:0 0',
      'null character special file 644 1:3 0',
      'loop block special file 644 7:c8 0',
      'sock socket 755 0:0 0',
    ];
    expect((await ok(types, { cwd: `${mnt2}/special` })).trim().split('\n')).toEqual(expected);
    // rename, link, chmod, chown, utimens and unlink as for files; seen from the other mount.
    await ok(
      `cd ${d} && mv fifo fifo2 && ln fifo2 fifo3 && chmod 600 fifo2 && chown 7:8 null && touch -d @1000000000 loop`,
    );
    await ok(`cd ${d} && rm sock`);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the other mount's cached attributes expire (1 s)
    const after = `stat -c '%n %F %a %u:%g %h %Y' fifo2 fifo3 null loop`;
    expect((await ok(after, { cwd: `${mnt2}/special` })).trim().split('\n')).toEqual([
      `fifo2 fifo 600 0:0 2 ${(await ok(`stat -c %Y ${d}/fifo2`)).trim()}`,
      `fifo3 fifo 600 0:0 2 ${(await ok(`stat -c %Y ${d}/fifo3`)).trim()}`,
      `null character special file 644 7:8 1 ${(await ok(`stat -c %Y ${d}/null`)).trim()}`,
      'loop block special file 644 0:0 1 1000000000',
    ]);
    expect((await ok(`ls ${mnt2}/special`)).trim().split('\n')).toEqual(['fifo2', 'fifo3', 'loop', 'null']);
    // Nothing on storage: the cluster's used bytes stay 0 for them.
    await ok(`rm -r ${d}`);
  }, 60_000);

  it('extended attributes: set/get/list/remove, flags, limits, errors; cp --preserve=all keeps them', async () => {
    await ok(`echo data > ${mnt}/xa`);
    const out = await py(
      'xattr',
      [
        'import ctypes, errno, os, sys',
        'libc = ctypes.CDLL("libc.so.6", use_errno=True)',
        'p = sys.argv[1]',
        'def err(f):',
        '    try: f(); return "ok"',
        '    except OSError as e: return errno.errorcode[e.errno]',
        'os.setxattr(p, "user.tag", b"blue")',
        'print(err(lambda: os.setxattr(p, "user.tag", b"red", os.XATTR_CREATE)))',
        'print(err(lambda: os.setxattr(p, "user.none", b"x", os.XATTR_REPLACE)))',
        'os.setxattr(p, "user.tag", b"green", os.XATTR_REPLACE)',
        'os.setxattr(p, "user.empty", b"")',
        'os.setxattr(p, "user.big", b"v" * 65536)',
        'print(err(lambda: os.setxattr(p, "user.huge", b"v" * 65537)))',
        'print(err(lambda: os.getxattr(p, "user.none")))',
        'buf = ctypes.create_string_buffer(2)',
        'rc = libc.getxattr(p.encode(), b"user.tag", buf, 2)',
        'print(rc, errno.errorcode[ctypes.get_errno()])',
        'print(libc.getxattr(p.encode(), b"user.tag", None, 0))',
        'print(os.getxattr(p, "user.tag").decode(), len(os.getxattr(p, "user.big")), os.getxattr(p, "user.empty"))',
        'print(sorted(os.listxattr(p)))',
        'print(err(lambda: os.setxattr(p, "system.spindle", b"x")))',
        'os.removexattr(p, "user.empty")',
        'print(err(lambda: os.removexattr(p, "user.empty")))',
      ].join('\n'),
      [`${mnt}/xa`],
    );
    expect(out.split('\n')).toEqual([
      'EEXIST',
      'ENODATA',
      'E2BIG',
      'ENODATA',
      '-1 ERANGE',
      '5',
      "green 65536 b''",
      "['user.big', 'user.empty', 'user.tag']",
      'ENOTSUP', // python's name for EOPNOTSUPP (95 on Linux)
      'ENODATA',
    ]);
    const read = (path: string) =>
      py(
        'xattr-read',
        'import os, sys; p = sys.argv[1]; print(sorted((n, os.getxattr(p, n)[:8]) for n in os.listxattr(p)))',
        [path],
      );
    // The other mount sees them; cp --preserve=all copies them in and out (with mode, owner, times).
    expect(await read(`${mnt2}/xa`)).toBe("[('user.big', b'vvvvvvvv'), ('user.tag', b'green')]");
    writeFileSync(join(work, 'local'), 'local');
    await py('xattr-set', 'import os, sys; os.setxattr(sys.argv[1], "user.origin", b"ext4")', [join(work, 'local')]);
    await ok(`cp --preserve=all ${join(work, 'local')} ${mnt}/copied && cp --preserve=all ${mnt}/xa ${mnt}/xa-copy`);
    await ok(`cp --preserve=all ${mnt2}/copied ${join(work, 'back')}`);
    expect(await read(`${mnt2}/copied`)).toBe("[('user.origin', b'ext4')]");
    expect(await read(`${mnt2}/xa-copy`)).toBe("[('user.big', b'vvvvvvvv'), ('user.tag', b'green')]");
    expect(await read(join(work, 'back'))).toBe("[('user.origin', b'ext4')]");
    // Removing the file removes its attributes with it (a new file under the name has none).
    await ok(`rm ${mnt}/xa && echo again > ${mnt}/xa`);
    expect(await read(`${mnt}/xa`)).toBe('[]');
    await ok(`rm ${mnt}/xa ${mnt}/xa-copy ${mnt}/copied`);
  }, 60_000);

  it('flock and fcntl byte-range locks are coherent across two mounts, blocking and non-blocking', async () => {
    await ok(`echo data > ${mnt}/lk`);
    // flock: a holder on the first mount blocks the second one until it lets go.
    const holder = sh(`flock -x ${mnt}/lk -c 'echo held; sleep 3'`);
    await ok(`for i in $(seq 100); do flock -n ${mnt2}/lk true || exit 0; sleep 0.05; done; exit 1`);
    expect((await sh(`flock -n ${mnt2}/lk true`)).code).toBe(1);
    const started = Date.now();
    await ok(`flock -w 20 ${mnt2}/lk true`);
    expect(Date.now() - started).toBeGreaterThan(500);
    expect((await holder).stdout).toBe('held\n');
    // fcntl: byte ranges, shared and exclusive, F_GETLK reports the other mount's lock.
    const script = [
      'import fcntl, os, struct, sys, time',
      'path, role = sys.argv[1], sys.argv[2]',
      'fd = os.open(path, os.O_RDWR)',
      'if role == "hold":',
      '    fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)',
      '    fcntl.lockf(fd, fcntl.LOCK_SH, 10, 20)',
      '    print("held", flush=True)',
      '    open(sys.argv[3], "w").close()',
      '    time.sleep(4)',
      '    sys.exit(0)',
      'def try_lock(kind, length, start):',
      '    try: fcntl.lockf(fd, kind | fcntl.LOCK_NB, length, start); return "ok"',
      '    except OSError as e: return "EAGAIN" if e.errno == 11 else str(e)',
      'out = [try_lock(fcntl.LOCK_EX, 10, 0), try_lock(fcntl.LOCK_SH, 5, 22), try_lock(fcntl.LOCK_EX, 5, 22),',
      '       try_lock(fcntl.LOCK_EX, 10, 40)]',
      'got = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 5, 0))',
      'kind, _, start, length, _ = struct.unpack("hhqqi", got)',
      'out.append(f"{kind == fcntl.F_WRLCK}:{start}:{length}")',
      't = time.time(); fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0); out.append(str(time.time() - t > 0.5))',
      'print(" ".join(out))',
    ].join('\n');
    writeFileSync(join(work, 'fcntl.py'), script);
    const marker = join(work, 'fcntl-held');
    const hold = sh(`${PY} ${work}/fcntl.py ${mnt}/lk hold ${marker}`);
    await ok(`for i in $(seq 400); do test -e ${marker} && exit 0; sleep 0.05; done; exit 1`);
    expect((await ok(`${PY} ${work}/fcntl.py ${mnt2}/lk try`)).trim()).toBe('EAGAIN ok EAGAIN ok True:0:10 True');
    expect((await hold).stdout).toBe('held\n');
    await ok(`rm ${mnt}/lk`);
  }, 60_000);

  it('a lock held through a mount that is killed (kill -9) is released within the lease', async () => {
    const mnt3 = join(work, 'mnt3');
    mkdirSync(mnt3);
    const mount3 = await startMount(mnt3, cluster.metaAddress);
    let holderGroup: number | undefined;
    try {
      await ok(`echo x > ${mnt3}/dead-lock`);
      // The holder (flock and its sleep) is a process group of its own, stopped by its id below.
      const holder = spawn('bash', ['-c', `exec flock -x ${mnt3}/dead-lock sleep 60`], {
        detached: true,
        stdio: 'ignore',
      });
      holderGroup = holder.pid;
      await ok(`for i in $(seq 100); do flock -n ${mnt}/dead-lock true || exit 0; sleep 0.05; done; exit 1`);
      mount3.child.kill('SIGKILL');
      await mount3.exited;
      const started = Date.now();
      await ok(`flock -w 20 ${mnt}/dead-lock true`);
      const waitedMs = Date.now() - started;
      // Held until the dead mount's lease ran out (5 s after its last renewal), not longer.
      expect(waitedMs).toBeGreaterThan(2_000);
      expect(waitedMs).toBeLessThan(8_000);
    } finally {
      killGroup(holderGroup);
      await stopMount(undefined, mnt3);
      await ok(`rm -f ${mnt}/dead-lock`);
    }
  }, 60_000);

  it('SQLite: two processes inserting at once keep every row and integrity, via one mount and two', async () => {
    const rows = 30;
    // One transaction per insert; SQLite's busy timeout covers waiting for the other writer's lock.
    const insert = (db: string, who: string) =>
      `for i in $(seq ${rows}); do echo "INSERT INTO t VALUES('${who}', $i);"; done | ` +
      `sqlite3 -cmd '.timeout 30000' ${db}`;
    for (const [name, second] of [
      ['one', mnt],
      ['two', mnt2],
    ] as const) {
      const db = `${mnt}/${name}.db`;
      await ok(`sqlite3 ${db} 'CREATE TABLE t (who TEXT, n INTEGER)'`);
      const started = Date.now();
      const results = await Promise.all([
        sh(insert(db, 'a'), { timeoutMs: 240_000 }),
        sh(insert(`${second}/${name}.db`, 'b'), { timeoutMs: 240_000 }),
      ]);
      for (const result of results) expect(result.stderr).toBe('');
      console.log(`sqlite through ${name} mount(s): ${2 * rows} inserts in ${Date.now() - started} ms`);
      for (const check of [db, `${second}/${name}.db`]) {
        expect((await ok(`sqlite3 ${check} 'SELECT who, count(*), sum(n) FROM t GROUP BY who'`)).trim()).toBe(
          `a|${rows}|${(rows * (rows + 1)) / 2}\nb|${rows}|${(rows * (rows + 1)) / 2}`,
        );
        expect((await ok(`sqlite3 ${check} 'PRAGMA integrity_check'`)).trim()).toBe('ok');
      }
      await ok(`rm ${db}`);
    }
  }, 600_000);

  it('a Python virtual environment on the mount: venv, pip install --no-index of a local wheel, import', async () => {
    const pkg = join(work, 'tinypkg');
    mkdirSync(join(pkg, 'tinypkg'), { recursive: true });
    writeFileSync(join(pkg, 'tinypkg', '__init__.py'), 'ANSWER = 42\n');
    writeFileSync(
      join(pkg, 'setup.py'),
      "from setuptools import setup\nsetup(name='tinypkg', version='1.0', packages=['tinypkg'])\n",
    );
    await ok(`cd ${pkg} && ${PY} -m pip wheel -q --no-deps --no-build-isolation --no-index -w ${work}/wheels .`, {
      timeoutMs: 120_000,
    });
    // --without-pip: ensurepip unpacking pip into the venv (~1,000 small files) alone took 100 s here;
    // the system pip installs into the venv instead (`pip --python`; the full venv was checked by hand).
    await ok(`${PY} -m venv --without-pip ${mnt}/venv`, { timeoutMs: 120_000 });
    await ok(`${PY} -m pip --python ${mnt}/venv/bin/python install -q --no-index --find-links ${work}/wheels tinypkg`, {
      timeoutMs: 120_000,
    });
    expect((await ok(`${mnt2}/venv/bin/python -c 'import tinypkg; print(tinypkg.ANSWER)'`)).trim()).toBe('42');
    expect((await ok(`${PY} -m pip --python ${mnt2}/venv/bin/python list --format=freeze`)).trim()).toMatch(
      /^tinypkg==1\.0$/m,
    );
    await ok(`rm -r ${mnt}/venv`);
  }, 180_000);
});
