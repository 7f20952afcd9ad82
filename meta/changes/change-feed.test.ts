import { describe, expect, it } from 'vitest';
import { CHANGE_FEED_WINDOW, CHANGE_POLL_INODES_MAX, ChangeFeed } from './change-feed.js';

const first = (feed: ChangeFeed, clientId = 'reader') => feed.poll({ clientId, feedId: '', cursor: 0, waitMs: 0 });

describe('ChangeFeed', () => {
  it('a first poll starts now; later ones get others’ changes, each inode once, never the caller’s own', async () => {
    const feed = new ChangeFeed();
    feed.publish([1], 'writer');
    const start = await first(feed);
    expect(start).toMatchObject({ feedId: feed.feedId, inos: [], missed: false });
    feed.publish([5, 6], 'writer');
    feed.publish([7], 'reader');
    feed.publish([5], undefined);
    const next = await feed.poll({ clientId: 'reader', feedId: feed.feedId, cursor: start.cursor, waitMs: 0 });
    expect(next.inos).toEqual([5, 6]);
    expect(next.missed).toBe(false);
    const after = await feed.poll({ clientId: 'reader', feedId: feed.feedId, cursor: next.cursor, waitMs: 0 });
    expect(after.inos).toEqual([]);
  });

  it('a waiting poll wakes on another client’s change, waits past the caller’s own, ends at its deadline', async () => {
    const feed = new ChangeFeed();
    const start = await first(feed);
    const waiting = feed.poll({ clientId: 'reader', feedId: feed.feedId, cursor: start.cursor, waitMs: 10_000 });
    await new Promise((r) => setTimeout(r, 20));
    expect(feed.waiting).toBe(1);
    feed.publish([3], 'reader');
    await new Promise((r) => setTimeout(r, 20));
    expect(feed.waiting).toBe(1);
    feed.publish([4], 'other');
    expect((await waiting).inos).toEqual([4]);
    const began = Date.now();
    const empty = await feed.poll({
      clientId: 'reader',
      feedId: feed.feedId,
      cursor: (await first(feed)).cursor,
      waitMs: 50,
    });
    expect(empty.inos).toEqual([]);
    expect(Date.now() - began).toBeGreaterThanOrEqual(45);
  });

  it('an aborted poll ends at once', async () => {
    const feed = new ChangeFeed();
    const abort = new AbortController();
    const start = await first(feed);
    const waiting = feed.poll(
      { clientId: 'r', feedId: feed.feedId, cursor: start.cursor, waitMs: 30_000 },
      abort.signal,
    );
    abort.abort();
    expect((await waiting).inos).toEqual([]);
    expect(feed.waiting).toBe(0);
  });

  it('says `missed` for a cursor of another feed or one that fell out of the window, never a silent gap', async () => {
    const feed = new ChangeFeed();
    const other = await feed.poll({ clientId: 'r', feedId: 'a-restarted-meta', cursor: 12, waitMs: 0 });
    expect(other).toMatchObject({ feedId: feed.feedId, missed: true, inos: [] });
    const start = await first(feed);
    feed.publish(
      Array.from({ length: CHANGE_FEED_WINDOW + 10 }, (_, i) => 1_000 + (i % 100)),
      'w',
    );
    const behind = await feed.poll({ clientId: 'r', feedId: feed.feedId, cursor: start.cursor, waitMs: 0 });
    expect(behind.missed).toBe(true);
    expect(behind.inos).toHaveLength(100);
  });

  it('answers at most CHANGE_POLL_INODES_MAX inodes; the next poll gets the rest', async () => {
    const feed = new ChangeFeed();
    const start = await first(feed);
    feed.publish(
      Array.from({ length: CHANGE_POLL_INODES_MAX + 5 }, (_, i) => i + 2),
      'w',
    );
    const one = await feed.poll({ clientId: 'r', feedId: feed.feedId, cursor: start.cursor, waitMs: 0 });
    expect(one.inos).toHaveLength(CHANGE_POLL_INODES_MAX);
    const two = await feed.poll({ clientId: 'r', feedId: feed.feedId, cursor: one.cursor, waitMs: 0 });
    expect(two.inos).toHaveLength(5);
  });
});
