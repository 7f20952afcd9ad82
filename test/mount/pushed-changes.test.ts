// Changes another client makes reach a mount at once, not when its cached attributes expire
// (issue 17: "the attributes the kernel sees for permission checks are current right after
// chown/chmod by another client"). Two `spindle mount` processes of one cluster, both told to let
// the kernel cache attributes and names for 60 s: without the pushed invalidation (Meta.PollChanges
// → the addon's inval_inode) the second mount would show the old mode, owner and size for a minute.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFuseMount } from '../../mount/index.js';
import { waitFor } from '../faults/support.js';
import { startCluster, type TestCluster } from '../harness/cluster.js';
import { skipUnlessAvailable } from '../setup/suite-requirements.js';
import { type MountProcess, ok, sh, startMount, stopMount } from './testing/mount-process.js';

const NO_FUSE = skipUnlessAvailable('fuse', existsSync('/dev/fuse') ? undefined : '/dev/fuse does not exist here');
const NOT_ROOT = skipUnlessAvailable(
  'root',
  process.getuid?.() === 0 ? undefined : 'chown and another user (setpriv) need root',
);
/** Far longer than the waits below: a change seen in time was pushed, not expired. */
const LONG_CACHE = ['--attr-timeout', '60'];
/** An unprivileged user (no account needed: setpriv). */
const BOB = 41_002;

describe.skipIf(NO_FUSE || NOT_ROOT)('spindle mount: changes of other clients are pushed (issue 17)', () => {
  let cluster: TestCluster;
  let work: string;
  let mnt: string;
  let mnt2: string;
  let mount: MountProcess | undefined;
  let mount2: MountProcess | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'spindle-pushed-changes-'));
    chmodSync(work, 0o755);
    mnt = join(work, 'mnt');
    mnt2 = join(work, 'mnt2');
    mkdirSync(mnt);
    mkdirSync(mnt2);
    cluster = await startCluster();
    [mount, mount2] = await Promise.all([
      startMount(mnt, cluster.metaAddress, LONG_CACHE),
      startMount(mnt2, cluster.metaAddress, LONG_CACHE),
    ]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([stopMount(mount, mnt), stopMount(mount2, mnt2)]);
    await cluster?.stop();
    if (work !== undefined && findFuseMount(mnt) === undefined && findFuseMount(mnt2) === undefined)
      rmSync(work, { recursive: true, force: true });
  }, 60_000);

  const statOf = async (path: string) => (await ok(`stat -c '%a %u %s' ${path}`)).trim();

  it('chmod, chown and a longer file made through one mount show in the other at once', async () => {
    await ok(`printf abc > ${mnt}/f && chmod 644 ${mnt}/f && chmod 755 ${mnt}`);
    // The second mount caches the attributes (for 60 s), and another user reads the file through it.
    expect(await statOf(`${mnt2}/f`)).toBe('644 0 3');
    expect((await ok(`setpriv --reuid=${BOB} --regid=${BOB} --clear-groups cat ${mnt2}/f`)).trim()).toBe('abc');

    await ok(`chmod 600 ${mnt}/f && chown 41001 ${mnt}/f && printf defg >> ${mnt}/f`);
    await waitFor(
      'the new attributes in the second mount',
      async () => (await statOf(`${mnt2}/f`)) === '600 41001 7',
      15_000,
    );
    // The kernel checks permissions against what it caches: the other user is refused now.
    const denied = await sh(`setpriv --reuid=${BOB} --regid=${BOB} --clear-groups cat ${mnt2}/f`);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/Permission denied/);
    expect((await ok(`cat ${mnt2}/f`)).trim()).toBe('abcdefg');
  }, 60_000);

  it('a file removed and created again under its name through one mount is the new file in the other', async () => {
    await ok(`printf old > ${mnt}/g`);
    expect(await statOf(`${mnt2}/g`)).toBe('644 0 3');
    await ok(`rm ${mnt}/g && printf brand-new > ${mnt}/g`);
    await waitFor('the new file in the second mount', async () => (await statOf(`${mnt2}/g`)) === '644 0 9', 15_000);
    expect((await ok(`cat ${mnt2}/g`)).trim()).toBe('brand-new');
  }, 60_000);
});
