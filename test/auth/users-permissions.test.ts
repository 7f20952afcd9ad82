// Users from credentials, against real processes (issue 16): two client tokens of different users
// (alice 2001, bob 2002) and the cluster's admin token. The uid a client claims is ignored (its
// files belong to its token's user); bob cannot read alice's 0600 file, create in her 0755
// directory, remove or rename her files, or chown; alice cannot give her file away; the admin can
// do all of it.
import { describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { SpindleError } from '../../common/errors.js';
import { useCluster } from '../harness/cluster.js';
import { tokenMinter } from './testing/tokens.js';

const cluster = useCluster({ storageNodes: 3, replicas: 3 });

async function denied(promise: Promise<unknown>): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call must be refused').toBeInstanceOf(SpindleError);
  expect((err as SpindleError).codeName).toBe('PERMISSION_DENIED');
}

describe('users', () => {
  it("bob cannot read alice's 0600 file, write in her directory or chown; the admin can", async () => {
    const tokens = await tokenMinter(cluster().dataDir);
    // The admin makes alice's home, owned by her (an admin acts as any user).
    const admin: SpindleClient = await cluster().client({ token: cluster().adminToken, uid: 2001, gid: 2001 });
    await admin.mkdir('/home/alice', { recursive: true, mode: 0o755 });
    expect((await admin.stat('/home/alice')).uid).toBe(2001);
    await admin.mkdir('/shared', { mode: 0o1777 });
    await admin.chown('/shared', 0, 0);

    // Alice claims to be root in her requests: her token decides.
    const alice = await cluster().client({ token: tokens.client('alice', 2001), uid: 0, gid: 0 });
    const bob = await cluster().client({ token: tokens.client('bob', 2002), uid: 2001, gid: 2001 });
    await alice.writeFile('/home/alice/secret.txt', Buffer.from('only alice\n'));
    await alice.chmod('/home/alice/secret.txt', 0o600);
    await alice.writeFile('/home/alice/public.txt', Buffer.from('anyone\n'));
    expect((await alice.stat('/home/alice/secret.txt')).uid).toBe(2001);
    await denied(alice.writeFile('/alice-at-root.txt', Buffer.from('x')));

    // Bob: reads what others may read, nothing else.
    expect((await bob.readFile('/home/alice/public.txt')).toString()).toBe('anyone\n');
    await denied(bob.readFile('/home/alice/secret.txt'));
    await denied(bob.writeFile('/home/alice/bob.txt', Buffer.from('intruder')));
    await denied(bob.mkdir('/home/alice/bobdir'));
    await denied(bob.rm('/home/alice/public.txt'));
    await denied(bob.rename('/home/alice/secret.txt', '/shared/stolen.txt'));
    await denied(bob.chown('/home/alice/secret.txt', 2002, 2002));
    await denied(bob.chmod('/home/alice/secret.txt', 0o666));
    // Bob's files are his, whatever uid his client claims; in a sticky directory alice cannot remove them.
    await bob.writeFile('/shared/bob.txt', Buffer.from('bob'));
    expect((await bob.stat('/shared/bob.txt')).uid).toBe(2002);
    await denied(alice.rm('/shared/bob.txt'));

    // Alice may not give her file away (chown is root's); the admin may, and reads anything.
    await denied(alice.chown('/home/alice/secret.txt', 2002, 2002));
    expect((await admin.readFile('/home/alice/secret.txt')).toString()).toBe('only alice\n');
    await admin.chown('/home/alice/secret.txt', 2002, 2002);
    expect((await bob.readFile('/home/alice/secret.txt')).toString()).toBe('only alice\n');
  });
});
