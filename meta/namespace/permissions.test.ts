// POSIX permission checks of the namespace for callers named by their credential (permissions.ts),
// on a real Namespace over the memory engine.
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../common/auth/principal.js';
import { InodeType } from '../../proto/index.js';
import { codeOf, createNamespaceFixture, p } from './testing/fixtures.js';

const alice: Principal = { role: 'client', user: 'alice', uid: 1001, gid: 1001 };
const bob: Principal = { role: 'client', user: 'bob', uid: 1002, gid: 1002 };
const carol: Principal = { role: 'client', user: 'carol', uid: 1003, gid: 1001 }; // alice's group
const admin: Principal = { role: 'admin', user: 'ops', uid: 0, gid: 0 };
const as = (principal: Principal) => ({ principal });

async function setUp() {
  const { ns } = await createNamespaceFixture();
  await ns.init();
  // The root is 0755 root:root; an admin makes alice a home she owns.
  await ns.mkdirs({ tag: undefined, at: p('/home/alice'), mode: 0o755, recursive: true, uid: 1001, gid: 1001 });
  const create = (path: string, mode: number, who: Principal) =>
    ns.open(
      { tag: undefined, at: p(path), create: true, exclusive: false, truncate: false, mode, uid: 0, gid: 0 },
      as(who),
    );
  return { ns, create };
}

describe('permissions', () => {
  it('a client acts as its own user: the uid/gid in the request are ignored, an admin sets them', async () => {
    const { ns } = await setUp();
    const made = await ns.open(
      {
        tag: undefined,
        at: p('/home/alice/f'),
        create: true,
        exclusive: true,
        truncate: false,
        mode: 0o644,
        uid: 0,
        gid: 0,
      },
      as(alice),
    );
    expect(made.inode).toMatchObject({ uid: 1001, gid: 1001 });
    const forAdmin = await ns.open(
      {
        tag: undefined,
        at: p('/home/alice/g'),
        create: true,
        exclusive: true,
        truncate: false,
        mode: 0o644,
        uid: 7,
        gid: 8,
      },
      as(admin),
    );
    expect(forAdmin.inode).toMatchObject({ uid: 7, gid: 8 });
  });

  it('another user cannot read a 0600 file, create in a 0755 directory, chown or chmod; group bits apply', async () => {
    const { ns, create } = await setUp();
    await create('/home/alice/secret', 0o600, alice);
    await create('/home/alice/shared', 0o640, alice);
    const openAs = (path: string, who: Principal, write = false) =>
      ns.open(
        { tag: undefined, at: p(path), create: false, exclusive: false, truncate: write, mode: 0, uid: 0, gid: 0 },
        as(who),
      );

    expect(await codeOf(openAs('/home/alice/secret', bob))).toBe('PERMISSION_DENIED');
    expect(await codeOf(create('/home/alice/intruder', 0o644, bob))).toBe('PERMISSION_DENIED');
    expect(
      await codeOf(
        ns.mkdirs({ tag: undefined, at: p('/home/alice/d'), mode: 0o755, recursive: false, uid: 0, gid: 0 }, as(bob)),
      ),
    ).toBe('PERMISSION_DENIED');
    expect(
      await codeOf(ns.setAttr({ tag: undefined, at: p('/home/alice/secret'), uid: 1002, noFollow: false }, as(bob))),
    ).toBe('PERMISSION_DENIED');
    expect(
      await codeOf(ns.setAttr({ tag: undefined, at: p('/home/alice/secret'), mode: 0o666, noFollow: false }, as(bob))),
    ).toBe('PERMISSION_DENIED');
    expect(
      await codeOf(
        ns.remove({ tag: undefined, at: p('/home/alice/secret'), directory: false, recursive: false }, as(bob)),
      ),
    ).toBe('PERMISSION_DENIED');
    expect(
      await codeOf(
        ns.rename({ tag: undefined, from: p('/home/alice/secret'), to: p('/stolen'), noReplace: false }, as(bob)),
      ),
    ).toBe('PERMISSION_DENIED');
    // Even the owner may not give a file away; root (an admin) may.
    expect(
      await codeOf(ns.setAttr({ tag: undefined, at: p('/home/alice/secret'), uid: 1002, noFollow: false }, as(alice))),
    ).toBe('PERMISSION_DENIED');
    await ns.setAttr({ tag: undefined, at: p('/home/alice/secret'), uid: 1002, noFollow: false }, as(admin));

    // Group members read what the group may read, not write it; others get nothing.
    expect((await openAs('/home/alice/shared', carol)).inode?.ino).toBeGreaterThan(0);
    expect(await codeOf(openAs('/home/alice/shared', carol, true))).toBe('PERMISSION_DENIED');
    expect(await codeOf(openAs('/home/alice/shared', bob))).toBe('PERMISSION_DENIED');
    // The owner reads and changes its own things.
    expect((await openAs('/home/alice/shared', alice, true)).inode?.type).toBe(InodeType.FILE);
    await ns.setAttr({ tag: undefined, at: p('/home/alice/shared'), mode: 0o600, noFollow: false }, as(alice));
  });

  it('a directory without search permission hides what is below it; without read it cannot be listed', async () => {
    const { ns, create } = await setUp();
    await ns.mkdirs(
      { tag: undefined, at: p('/home/alice/private'), mode: 0o700, recursive: false, uid: 0, gid: 0 },
      as(alice),
    );
    await create('/home/alice/private/f', 0o644, alice);
    expect(await codeOf(ns.stat({ at: p('/home/alice/private/f'), followSymlink: true }, as(bob)))).toBe(
      'PERMISSION_DENIED',
    );
    expect(
      await codeOf(
        ns.readDir({ at: p('/home/alice/private'), afterName: '', limit: 0, withAttributes: false }, as(bob)),
      ),
    ).toBe('PERMISSION_DENIED');
    expect((await ns.stat({ at: p('/home/alice/private/f'), followSymlink: true }, as(alice))).inode?.uid).toBe(1001);
    // uid 0 with a client credential passes, as root does.
    const root: Principal = { role: 'client', user: 'root', uid: 0, gid: 0 };
    expect((await ns.stat({ at: p('/home/alice/private/f'), followSymlink: true }, as(root))).inode?.uid).toBe(1001);
  });

  it('a sticky directory keeps other users from removing entries they do not own', async () => {
    const { ns, create } = await setUp();
    await ns.mkdirs(
      { tag: undefined, at: p('/tmp'), mode: 0o1777, recursive: false, uid: 0, gid: 0, exactMode: true },
      as(admin),
    );
    await create('/tmp/a', 0o644, alice);
    // The request's caller_uid is ignored for a client: bob cannot claim to be alice.
    const removeAs = (who: Principal) =>
      ns.remove({ tag: undefined, at: p('/tmp/a'), directory: false, recursive: false, callerUid: 1001 }, as(who));
    expect(await codeOf(removeAs(bob))).toBe('PERMISSION_DENIED');
    await removeAs(alice);
  });
});
