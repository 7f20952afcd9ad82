// Rename is one transaction (issue 15: a rename run as two transactions passed every test). While a
// file is renamed back and forth between two names, observers listing its directory (one range
// read, one snapshot) must always find it at exactly one of the names; and after meta is killed
// (kill -9) in the middle of such renames and restarted, the file is at one name or the other,
// with its inode and bytes intact (real meta and storage processes).
import { describe, expect, it } from 'vitest';
import type { SpindleClient } from '../../client/index.js';
import { useCluster } from '../harness/cluster.js';

const cluster = useCluster({ storageNodes: 1, replicas: 1, targetsPerNode: 1 });
const RENAMES = 300;

/**
 * Renames dir/<at> to the other name and back until `rounds` renames were done or `stop()` is true;
 * returns how many ran.
 */
async function renameBackAndForth(client: SpindleClient, dir: string, at: string, rounds: number, stop: () => boolean) {
  let done = 0;
  let from = at;
  for (; done < rounds && !stop(); done++) {
    const to = from === 'a' ? 'b' : 'a';
    await client.rename(`${dir}/${from}`, `${dir}/${to}`);
    from = to;
  }
  return done;
}

/** Which of dir's two names the file is at, in one listing. */
async function namesOf(client: SpindleClient, dir: string): Promise<string[]> {
  return (await client.readdir(dir)).filter((name) => name === 'a' || name === 'b');
}

describe('rename', () => {
  it('is seen by concurrent observers at exactly one of its names, every time', async () => {
    const c = cluster();
    const renamer = await c.client();
    await renamer.mkdir('/watched');
    await renamer.writeFile('/watched/a', Buffer.from('moving'));
    let finished = false;
    const seen: string[][] = [];
    const observe = async () => {
      const observer = await c.client();
      let looks = 0;
      while (!finished || looks === 0) {
        const names = await namesOf(observer, '/watched');
        if (names.length !== 1) seen.push(names);
        looks++;
      }
      return looks;
    };
    const observers = [observe(), observe()];
    const renamed = await renameBackAndForth(renamer, '/watched', 'a', RENAMES, () => false).finally(() => {
      finished = true;
    });
    const looks = await Promise.all(observers);
    expect(renamed).toBe(RENAMES);
    expect(seen, 'listings that did not show the file at exactly one name').toEqual([]);
    expect(looks.every((n) => n > 0)).toBe(true);
  }, 180_000);

  it('interrupted by kill -9 of meta leaves the file at one name or the other, intact', async () => {
    const c = cluster();
    const client = await c.client();
    await client.mkdir('/interrupted');
    const data = Buffer.from('bytes that must survive');
    await client.writeFile('/interrupted/a', data);
    const ino = (await client.stat('/interrupted/a')).ino;
    let at = 'a';
    for (let attempt = 0; attempt < 3; attempt++) {
      let killed = false;
      const renamer = await c.client({ config: { retryDeadlineMs: 2_000 } });
      const renames = renameBackAndForth(renamer, '/interrupted', at, 1e9, () => killed).catch(() => -1);
      await new Promise((resolve) => setTimeout(resolve, 150 + attempt * 97));
      await c.killMeta('SIGKILL');
      killed = true;
      await renames;
      await c.restartMeta();
      const after = await c.client();
      const names = await namesOf(after, '/interrupted');
      expect(names, `attempt ${attempt}`).toHaveLength(1);
      at = names[0]!;
      const path = `/interrupted/${at}`;
      expect((await after.stat(path)).ino).toBe(ino);
      expect((await after.readFile(path)).equals(data)).toBe(true);
    }
  }, 240_000);
});
