// MetaTxn's entry cache: within one transaction a directory entry is read once, and later reads
// see this transaction's own puts and deletes (never a stale cached value or a shared object).
import { describe, expect, it } from 'vitest';
import { InodeType } from '../../proto/index.js';
import { createMemoryEngine } from '../kv/index.js';
import { MetaTxn } from './store.js';

describe('MetaTxn entries', () => {
  it('caches reads, follows own writes and deletes, and hands out copies', async () => {
    const kv = createMemoryEngine();
    await kv.transaction(async (txn) => new MetaTxn(txn, 1).putEntry(5, 'a', { ino: 10, type: InodeType.FILE }));
    await kv.transaction(async (txn) => {
      let gets = 0;
      const counting = {
        ...txn,
        get: (key: Uint8Array) => (gets++, txn.get(key)),
        getRange: txn.getRange.bind(txn),
        put: txn.put.bind(txn),
        delete: txn.delete.bind(txn),
      };
      const mt = new MetaTxn(counting, 2);
      const first = await mt.getEntry(5, 'a');
      expect(first).toEqual({ ino: 10, type: InodeType.FILE });
      first!.ino = 99; // a caller's change does not leak into the cache
      expect(await mt.getEntry(5, 'a')).toEqual({ ino: 10, type: InodeType.FILE });
      expect(await mt.getEntry(5, 'missing')).toBeUndefined();
      expect(await mt.getEntry(5, 'missing')).toBeUndefined();
      expect(gets).toBe(2);
      mt.putEntry(5, 'missing', { ino: 11, type: InodeType.DIRECTORY });
      expect(await mt.getEntry(5, 'missing')).toEqual({ ino: 11, type: InodeType.DIRECTORY });
      mt.deleteEntry(5, 'a');
      expect(await mt.getEntry(5, 'a')).toBeUndefined();
      expect(gets).toBe(2);
      expect((await mt.listEntries(5, 10)).map((e) => [e.name, e.ino])).toEqual([['missing', 11]]);
    });
    await kv.close();
  });
});
