import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from './errors.js';
import { CLIENT_ID_MAX_BYTES } from './constants.js';
import { formatPath, isValidName, joinPath, splitPath, validateClientId, validateName } from './names.js';

function codeOf(call: () => unknown): ErrorCode | undefined {
  try {
    call();
  } catch (err) {
    expect(err).toBeInstanceOf(SpindleError);
    return (err as SpindleError).errorCode;
  }
  return undefined;
}

describe('validateName', () => {
  it('accepts ordinary and unicode names up to 255 bytes', () => {
    for (const name of ['a', 'file.txt', '.hidden', '...', 'a b', 'ü'.repeat(127), 'x'.repeat(255)]) {
      expect(codeOf(() => validateName(name))).toBeUndefined();
    }
  });

  it('rejects empty, slash, NUL, dot and dot-dot with INVALID_NAME', () => {
    for (const name of ['', 'a/b', '/', 'a\0b', '.', '..']) {
      expect(codeOf(() => validateName(name))).toBe(ErrorCode.INVALID_NAME);
      expect(isValidName(name)).toBe(false);
    }
  });

  it('measures length in UTF-8 bytes', () => {
    expect(codeOf(() => validateName('x'.repeat(256)))).toBe(ErrorCode.NAME_TOO_LONG);
    expect(codeOf(() => validateName('ü'.repeat(128)))).toBe(ErrorCode.NAME_TOO_LONG); // 256 bytes
    expect(() => validateName('x'.repeat(300))).toThrow(/300 bytes; the limit is 255/);
  });

  it('carries the POSIX code', () => {
    try {
      validateName('x'.repeat(256));
    } catch (err) {
      expect((err as SpindleError).code).toBe('ENAMETOOLONG');
    }
  });
});

describe('splitPath', () => {
  it('splits and collapses slashes', () => {
    expect(splitPath('/')).toEqual({ absolute: true, names: [] });
    expect(splitPath('//a///b/')).toEqual({ absolute: true, names: ['a', 'b'] });
    expect(splitPath('a/b')).toEqual({ absolute: false, names: ['a', 'b'] });
    expect(splitPath('.hidden/x')).toEqual({ absolute: false, names: ['.hidden', 'x'] });
  });

  it('rejects empty paths, NUL and dot components', () => {
    expect(codeOf(() => splitPath(''))).toBe(ErrorCode.INVALID_NAME);
    expect(codeOf(() => splitPath('/a\0/b'))).toBe(ErrorCode.INVALID_NAME);
    expect(codeOf(() => splitPath('/a/../b'))).toBe(ErrorCode.INVALID_NAME);
    expect(codeOf(() => splitPath('./a'))).toBe(ErrorCode.INVALID_NAME);
    expect(() => splitPath('/a/../b')).toThrow(/'\.\.'/);
  });

  it('keeps dot components when asked', () => {
    expect(splitPath('/a/./../b', { allowDots: true })).toEqual({ absolute: true, names: ['a', '.', '..', 'b'] });
  });

  it('enforces NAME_MAX per component and PATH_MAX overall', () => {
    expect(codeOf(() => splitPath(`/a/${'x'.repeat(256)}`))).toBe(ErrorCode.NAME_TOO_LONG);
    const long = `/${Array.from({ length: 20 }, () => 'y'.repeat(250)).join('/')}`;
    expect(codeOf(() => splitPath(long))).toBe(ErrorCode.NAME_TOO_LONG);
    const hugeName = `/${'z'.repeat(4095)}`;
    expect(codeOf(() => splitPath(hugeName))).toBe(ErrorCode.NAME_TOO_LONG); // one 4095-byte name
    expect(splitPath(`/${Array.from({ length: 16 }, () => 'w'.repeat(255)).join('/')}`).names).toHaveLength(16);
  });
});

describe('joinPath / formatPath', () => {
  it('joins with single slashes', () => {
    expect(joinPath('/')).toBe('/');
    expect(joinPath('/a/', '/b', 'c')).toBe('/a/b/c');
    expect(joinPath('a', 'b')).toBe('a/b');
    expect(joinPath()).toBe('');
  });

  it('formatPath inverts splitPath up to normalization', () => {
    expect(formatPath(splitPath('//x//y/'))).toBe('/x/y');
    expect(formatPath(splitPath('x'))).toBe('x');
  });
});

describe('validateClientId', () => {
  it('accepts 1..CLIENT_ID_MAX_BYTES UTF-8 bytes and names the field otherwise', () => {
    expect(() => validateClientId('host-1-abc')).not.toThrow();
    expect(() => validateClientId('é'.repeat(CLIENT_ID_MAX_BYTES / 2))).not.toThrow();
    expect(() => validateClientId('é'.repeat(CLIENT_ID_MAX_BYTES / 2 + 1))).toThrow(
      /tag.client_id is \d+ bytes; the limit is/,
    );
    expect(() => validateClientId('', 'clientId')).toThrow(/clientId must be a non-empty string/);
  });
});
