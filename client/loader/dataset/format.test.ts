// The dataset format's encoders: exact inverses, malformed bytes refused with DATA_CORRUPTED;
// staging names parsed back; the parts encoding round-trips and refuses what it cannot hold.
import { describe, expect, it } from 'vitest';
import { ErrorCode, isSpindleError } from '../../../common/errors.js';
import {
  INDEX_ENTRY_BYTES,
  INDEX_HEADER_BYTES,
  INDEX_MAGIC,
  decodeIndexEntry,
  decodeIndexHeader,
  encodeIndexEntry,
  encodeIndexHeader,
  parseStagingDirName,
  stagingDirName,
} from './format.js';
import { decodeParts, encodeParts } from './parts.js';

function expectCode(fn: () => unknown, code: ErrorCode, text: string): void {
  try {
    fn();
  } catch (err) {
    expect(isSpindleError(err, code)).toBe(true);
    expect((err as Error).message).toContain(text);
    return;
  }
  expect.fail(`expected error code ${code}`);
}

describe('index encoding', () => {
  it('round-trips the header and entries', () => {
    const header = encodeIndexHeader(123_456_789);
    expect(header.length).toBe(INDEX_HEADER_BYTES);
    expect(header.subarray(0, 8).equals(INDEX_MAGIC)).toBe(true);
    expect(decodeIndexHeader(header, 'index.bin')).toBe(123_456_789);
    const entry = {
      shard: 7,
      offset: 2 ** 40 + 3,
      length: 0xffff_ffff,
      crc32c: 0xdead_beef,
      keyOffset: 2 ** 35,
      keyLength: 17,
    };
    const bytes = Buffer.alloc(2 * INDEX_ENTRY_BYTES);
    encodeIndexEntry(entry, bytes, INDEX_ENTRY_BYTES);
    expect(decodeIndexEntry(bytes, INDEX_ENTRY_BYTES)).toEqual(entry);
  });

  it('refuses a header of another kind or version', () => {
    expectCode(
      () => decodeIndexHeader(Buffer.alloc(INDEX_HEADER_BYTES), 'x/index.bin'),
      ErrorCode.DATA_CORRUPTED,
      'magic',
    );
    const newer = encodeIndexHeader(1);
    newer.writeUInt32LE(2, 8);
    expectCode(() => decodeIndexHeader(newer, 'x/index.bin'), ErrorCode.DATA_CORRUPTED, 'version 2');
    expectCode(() => decodeIndexHeader(newer.subarray(0, 10), 'x/index.bin'), ErrorCode.DATA_CORRUPTED, 'x/index.bin');
  });
});

describe('staging names', () => {
  it('parse back to the dataset name and pack id', () => {
    expect(parseStagingDirName(stagingDirName('train.v2', '00ff12'))).toEqual({ name: 'train.v2', id: '00ff12' });
    expect(parseStagingDirName('train')).toBeUndefined();
    expect(parseStagingDirName('.train.packing-')).toBeUndefined();
  });
});

describe('parts encoding', () => {
  it('round-trips names and bytes in order', () => {
    const parts = [
      { name: 'jpg', data: Buffer.from([1, 2, 3]) },
      { name: 'cls', data: Buffer.from('7') },
      { name: 'seg.png', data: Buffer.alloc(0) },
      { name: '', data: Buffer.from('no suffix') },
    ];
    const decoded = decodeParts(encodeParts(parts));
    expect([...decoded.keys()]).toEqual(['jpg', 'cls', 'seg.png', '']);
    for (const part of parts) expect(decoded.get(part.name)!.equals(part.data)).toBe(true);
  });

  it('refuses repeated names and names too long, and decodes only exact records', () => {
    const data = Buffer.from('x');
    expectCode(() => encodeParts([]), ErrorCode.INVALID_ARGUMENT, 'parts');
    expectCode(
      () =>
        encodeParts([
          { name: 'a', data },
          { name: 'a', data },
        ]),
      ErrorCode.INVALID_ARGUMENT,
      'parts[1].name',
    );
    expectCode(() => encodeParts([{ name: 'n'.repeat(70_000), data }]), ErrorCode.INVALID_ARGUMENT, 'parts[0].name');
    const record = encodeParts([{ name: 'a', data }]);
    expectCode(() => decodeParts(record.subarray(0, record.length - 1)), ErrorCode.DATA_CORRUPTED, 'cut off');
    expectCode(() => decodeParts(Buffer.concat([record, Buffer.from([0])])), ErrorCode.DATA_CORRUPTED, 'follow');
    expectCode(() => decodeParts(Buffer.from([1])), ErrorCode.DATA_CORRUPTED, 'only 1 bytes');
  });
});
