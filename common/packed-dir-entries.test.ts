// The packed ReadDir page: what meta packs from names' bytes, the client unpacks to the same
// names, ids and types (non-ASCII and 255-byte names, ids up to 2^53 - 1); a page whose arrays
// disagree or whose names are not UTF-8 is refused, never guessed at.
import { describe, expect, it } from 'vitest';
import { DirEntryPacker, unpackDirEntries, type UnpackedDirEntry } from './packed-dir-entries.js';

function pack(entries: UnpackedDirEntry[]) {
  const packer = new DirEntryPacker(entries.length);
  // Each name inside a longer array, as in a stored key.
  for (const entry of entries) packer.add(Buffer.from(`key:${entry.name}`, 'utf8'), 4, entry.ino, entry.type);
  return packer.finish();
}

describe('packed dir entries', () => {
  it('round-trips names, ids and types', () => {
    const entries = [
      { name: 'a', ino: 2, type: 1 },
      { name: 'é-ünï-😀', ino: 2 ** 32, type: 2 },
      { name: 'n'.repeat(255), ino: Number.MAX_SAFE_INTEGER, type: 3 },
      { name: ' spaces and\ttabs ', ino: 2 ** 32 - 1, type: 7 },
    ];
    const page = pack(entries);
    expect(page.types).toHaveLength(4);
    expect(page.inos).toHaveLength(32);
    expect(unpackDirEntries(page)).toEqual(entries);
  });

  it('an empty page is empty', () => {
    expect(unpackDirEntries(pack([]))).toEqual([]);
  });

  it('refuses a page whose arrays disagree or whose names are not UTF-8', () => {
    const page = pack([
      { name: 'a', ino: 2, type: 1 },
      { name: 'b', ino: 3, type: 1 },
    ]);
    const malformed = /malformed page/;
    expect(() => unpackDirEntries({ ...page, types: page.types.subarray(0, 1) })).toThrow(malformed);
    expect(() => unpackDirEntries({ ...page, names: Buffer.from('a\0b\0c\0') })).toThrow(malformed);
    expect(() => unpackDirEntries({ ...page, names: Buffer.from('a\0b') })).toThrow(malformed);
    expect(() => unpackDirEntries({ ...page, names: Buffer.from([0x61, 0, 0xff, 0]) })).toThrow(malformed);
    expect(() =>
      unpackDirEntries({ names: Buffer.from('x\0'), inos: Buffer.alloc(0), types: Buffer.alloc(0) }),
    ).toThrow(malformed);
  });
});
