// The simulation checker on small hand-made histories: each rule flags its violation, a clean
// history passes, and the known issue K1 is told apart from a lost acknowledged write.
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../common/crc32c.js';
import {
  checkHistory,
  type CommitRecord,
  type History,
  type ReadRecord,
  type RemovalRecord,
  type WriteRecord,
} from './checker.js';
import type { StoredChunk } from './sim-disk.js';

const KEY = '101:0';
const A = Buffer.from('aaaa');
const B = Buffer.from('aaaabbbb');

function chunk(version: number, content: Buffer): StoredChunk {
  return { version, chainVersion: 1, content, failsChecksum: false, recordedCrc: crc32c(content) };
}

function write(seqnum: number, version: number, content: Buffer, startStamp: number, endStamp: number): WriteRecord {
  return {
    client: 0,
    key: KEY,
    seqnum,
    what: 'w',
    startStamp,
    endStamp,
    ack: { version, length: content.length, crc: crc32c(content) },
    ackChainVersion: 1,
  };
}

function read(version: number, content: Buffer, startStamp: number, servedStamp: number): ReadRecord {
  return {
    client: 1,
    key: KEY,
    offset: 0,
    length: 100,
    startStamp,
    endStamp: servedStamp + 1,
    servedStamp,
    targetId: 2,
    result: { version, chunkLength: content.length, data: content },
  };
}

/** Three replicas (head first) that committed A at v1 (stamps 1-3) and B at v2 (stamps 11-13). */
function history(
  options: {
    final?: StoredChunk[];
    writes?: WriteRecord[];
    reads?: ReadRecord[];
    extraCommits?: CommitRecord[];
    commits?: CommitRecord[];
    removals?: RemovalRecord[];
  } = {},
): History {
  const commits: CommitRecord[] = options.commits ?? [
    { stamp: 1, targetId: 3, chunk: chunk(1, A) },
    { stamp: 2, targetId: 2, chunk: chunk(1, A) },
    { stamp: 3, targetId: 1, chunk: chunk(1, A) },
    { stamp: 11, targetId: 3, chunk: chunk(2, B) },
    { stamp: 12, targetId: 2, chunk: chunk(2, B) },
    { stamp: 13, targetId: 1, chunk: chunk(2, B) },
    ...(options.extraCommits ?? []),
  ];
  const final = options.final ?? [chunk(2, B), chunk(2, B), chunk(2, B)];
  return {
    commits: new Map([[KEY, commits]]),
    writes: options.writes ?? [write(1, 1, A, 0, 4), write(2, 2, B, 10, 14)],
    reads: options.reads ?? [],
    finalReplicas: new Map([[1, new Map(final.map((c, i) => [i + 1, new Map([[KEY, c]])]))]]),
    chainOf: new Map([[KEY, 1]]),
    servingAt: new Map([[1, new Map([[1, { sinceStamp: 0, serving: [1, 2, 3] }]])]]),
    removals: options.removals ?? [],
  };
}

describe('simulation checker', () => {
  it('passes a clean history', () => {
    const result = checkHistory(history({ reads: [read(2, B, 15, 16), read(1, A, 5, 6)] }));
    expect(result).toEqual({ violations: [], known: [], lost: [] });
  });

  it('flags an acknowledgement before any replica committed', () => {
    const result = checkHistory(history({ writes: [write(1, 1, A, 0, 4), write(2, 2, B, 10, 10.5)] }));
    expect(result.violations.join('\n')).toMatch(/no replica had committed that result before the acknowledgement/);
  });

  it('flags an acknowledgement before every serving replica committed (the head alone is not enough)', () => {
    const result = checkHistory(
      history({
        commits: [
          { stamp: 1, targetId: 1, chunk: chunk(1, A) },
          { stamp: 5, targetId: 2, chunk: chunk(1, A) },
          { stamp: 6, targetId: 3, chunk: chunk(1, A) },
        ],
        writes: [write(1, 1, A, 0, 4)],
        final: [chunk(1, A), chunk(1, A), chunk(1, A)],
      }),
    );
    expect(result.violations.join('\n')).toMatch(/before serving target\(s\) 2, 3 of chain 1 v1 committed it/);
  });

  it('flags a write that ran twice (a version above the writes issued)', () => {
    const result = checkHistory(
      history({
        extraCommits: [3, 2, 1].map((targetId, i) => ({ stamp: 21 + i, targetId, chunk: chunk(3, B) })),
        final: [chunk(3, B), chunk(3, B), chunk(3, B)],
      }),
    );
    expect(result.violations.join('\n')).toMatch(/v3 of chunk 101:0, but only 2 write\(s\).*exactly-once broken/);
  });

  it('allows a chunk damaged on every replica only after a double fault, and no read of its bytes', () => {
    const damaged = Buffer.from('aaaaxbbb');
    const bad = (): StoredChunk => ({ ...chunk(2, damaged), failsChecksum: true, recordedCrc: crc32c(B) });
    const everywhere = history({
      final: [bad(), bad(), bad()],
      extraCommits: [{ stamp: 30, targetId: 2, chunk: bad() }],
      reads: [read(2, damaged, 31, 32)],
    });
    const unexplained = checkHistory(everywhere);
    expect(unexplained.violations.join('\n')).toMatch(/chunk 101:0 fails its checksum on every replica/);
    everywhere.doubleFaulted = new Set([KEY]);
    const lost = checkHistory(everywhere);
    expect(lost.lost).toEqual([KEY]);
    // The damaged copy (stamp 30) is no lost write, but a read returning its bytes is a violation.
    expect(lost.violations.join('\n')).toMatch(/returned v2 .*uncommitted data/);
    expect(lost.violations.every((v) => v.startsWith('read by client 1'))).toBe(true);
  });

  it('takes a damaged copy under the acknowledged checksum as the result only after a double fault', () => {
    // v2 appended onto a damaged copy: every replica holds bytes that fail B's recorded checksum.
    const damaged = Buffer.from('aaaaxbbb');
    const bad = (): StoredChunk => ({ ...chunk(2, damaged), failsChecksum: true, recordedCrc: crc32c(B) });
    const onDamaged = () =>
      history({
        commits: [
          ...[3, 2, 1].map((targetId, i) => ({ stamp: 1 + i, targetId, chunk: chunk(1, A) })),
          ...[3, 2, 1].map((targetId, i) => ({ stamp: 11 + i, targetId, chunk: bad() })),
        ],
        final: [bad(), bad(), bad()],
      });
    const unexplained = checkHistory(onDamaged());
    expect(unexplained.violations.join('\n')).toMatch(/v2: no replica had committed that result/);
    const faulted = onDamaged();
    faulted.doubleFaulted = new Set([KEY]);
    expect(checkHistory(faulted)).toEqual({ violations: [], known: [], lost: [KEY] });
    // Another checksum than the acknowledged one is still no commit of the result.
    const other = onDamaged();
    other.doubleFaulted = new Set([KEY]);
    for (const c of other.commits.get(KEY)!) if (c.chunk?.version === 2) c.chunk.recordedCrc = crc32c(A);
    expect(checkHistory(other).violations.join('\n')).toMatch(/v2: no replica had committed that result/);
  });

  it('flags a chunk that survives its acknowledged removal', () => {
    const removal: RemovalRecord = { client: 1, key: KEY, startStamp: 20, endStamp: 25, acked: true };
    const kept = checkHistory(history({ removals: [removal] }));
    expect(kept.violations.join('\n')).toMatch(/was removed .* target 1 ends with v2.*removal lost/);
    const removed = history({ removals: [removal] });
    removed.finalReplicas = new Map([[1, new Map([1, 2, 3].map((id) => [id, new Map()]))]]);
    expect(checkHistory(removed).violations).toEqual([]);
  });

  it('flags an acknowledged write missing after healing', () => {
    const result = checkHistory(history({ final: [chunk(1, A), chunk(1, A), chunk(1, A)] }));
    expect(result.violations.join('\n')).toMatch(/acknowledged write .* → v2 lost/);
  });

  it('flags other bytes committed under an acknowledged version', () => {
    const result = checkHistory(
      history({ extraCommits: [{ stamp: 20, targetId: 1, chunk: chunk(2, Buffer.from('zzzz')) }] }),
    );
    expect(result.violations.join('\n')).toMatch(/committed other bytes under v2/);
  });

  it('flags a stale read and a read of uncommitted data', () => {
    const stale = checkHistory(history({ reads: [read(1, A, 15, 16)] }));
    expect(stale.violations.join('\n')).toMatch(/stale read/);
    const dirty = checkHistory(history({ reads: [read(2, B, 9, 10.5)] }));
    expect(dirty.violations.join('\n')).toMatch(/uncommitted data/);
    const absent = checkHistory(history({ reads: [{ ...read(0, A, 15, 16), result: undefined }] }));
    expect(absent.violations.join('\n')).toMatch(/found no chunk/);
  });

  it('tells K1 (successors ahead with an unacknowledged write) from a lost write', () => {
    const C = Buffer.from('cc');
    const unacked: WriteRecord = { ...write(3, 3, C, 20, 30), ack: undefined, failure: 'RETRIES_EXHAUSTED' };
    const k1 = checkHistory(
      history({
        writes: [write(1, 1, A, 0, 4), write(2, 2, B, 10, 14), unacked],
        extraCommits: [
          { stamp: 21, targetId: 3, chunk: chunk(3, C) },
          { stamp: 22, targetId: 2, chunk: chunk(3, C) },
        ],
        final: [chunk(2, B), chunk(3, C), chunk(3, C)],
      }),
    );
    expect(k1.violations).toEqual([]);
    expect(k1.known.length).toBe(2);
    expect(k1.known[0]).toMatch(/^K1: /);
    // The head ahead of a successor is no K1: the successor lost an acknowledged write.
    const lost = checkHistory(history({ final: [chunk(2, B), chunk(1, A), chunk(2, B)] }));
    expect(lost.violations.length).toBeGreaterThan(0);
    expect(lost.known).toEqual([]);
  });
});
