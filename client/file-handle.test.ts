import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.js';
import { parseFlags } from './file-handle.js';

describe('parseFlags', () => {
  it('maps node:fs flags to open semantics', () => {
    expect(parseFlags('r')).toEqual({
      read: true,
      write: false,
      create: false,
      exclusive: false,
      truncate: false,
      append: false,
    });
    expect(parseFlags('r+')).toMatchObject({ read: true, write: true, create: false, truncate: false });
    expect(parseFlags('w')).toMatchObject({ read: false, write: true, create: true, truncate: true, exclusive: false });
    expect(parseFlags('wx')).toMatchObject({ create: true, exclusive: true, truncate: true });
    expect(parseFlags('xw')).toEqual(parseFlags('wx'));
    expect(parseFlags('w+')).toMatchObject({ read: true, write: true, truncate: true });
    expect(parseFlags('a')).toMatchObject({ read: false, write: true, create: true, append: true, truncate: false });
    expect(parseFlags('a+')).toMatchObject({ read: true, append: true });
    expect(parseFlags('ax')).toMatchObject({ exclusive: true, append: true });
  });

  it('refuses unknown flags with a list of the supported ones', () => {
    expect(() => parseFlags('rw')).toThrow(
      expect.objectContaining({ errorCode: ErrorCode.INVALID_ARGUMENT, code: 'EINVAL' }),
    );
    expect(() => parseFlags('q')).toThrow(/use one of r, r\+/);
  });
});
