// The removal order of a namespace's pages found on disk: children before parents, whatever order
// the scan found them in, so replicas stay prefix-closed at every step of `spindle kv rm`.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { childrenFirst, type FoundPage } from './page-scan.js';
import { pageKeyId } from './request-checks.js';

const keyOf = (path: string) => createHash('sha256').update(path).digest();

function page(path: string): FoundPage {
  const parent = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : undefined;
  return {
    header: {
      name: 'ns',
      fingerprint: '0'.repeat(32),
      key: keyOf(path),
      parentKey: parent === undefined ? undefined : keyOf(parent),
      valueBytes: 16 * 1024,
      expiresAtMs: Infinity,
    },
    location: { ino: 2 ** 52, index: 0 },
  };
}

describe('childrenFirst', () => {
  it('puts every page after all of its descendants (a forest, scanned parents first)', () => {
    const paths = ['a', 'a.1', 'a.1.1', 'a.1.1.1', 'a.2', 'b', 'b.1', 'c'];
    const ordered = childrenFirst(paths.map(page)).map((p) => pageKeyId(p.header.key));
    const at = (path: string) => ordered.indexOf(pageKeyId(keyOf(path)));
    expect(ordered).toHaveLength(paths.length);
    for (const path of paths) {
      for (const other of paths) if (other.startsWith(`${path}.`)) expect(at(other)).toBeLessThan(at(path));
    }
  });

  it('takes an orphan (its parent not among the pages) as a root of its own subtree', () => {
    const ordered = childrenFirst(['x.1', 'x.1.1'].map(page)).map((p) => pageKeyId(p.header.key));
    expect(ordered).toEqual([pageKeyId(keyOf('x.1.1')), pageKeyId(keyOf('x.1'))]);
  });
});
