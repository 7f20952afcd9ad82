// Unit tests of the CLI's pure parts: exit codes, error lines, path and size formatting, and
// argument parsing (usage errors exit 2 without touching a cluster).
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { CliError, ExitCode, exitCodeFor, formatError } from './exit-codes.js';
import { spindlePath } from './file-commands.js';
import { formatBytes, formatBytesShort, formatMode, formatTable } from './format.js';
import { run } from './main.js';

describe('exit codes', () => {
  it('map POSIX codes of Spindle and node:fs errors to the documented exit codes', () => {
    expect(exitCodeFor(new SpindleError(ErrorCode.NOT_FOUND, 'x'))).toBe(ExitCode.NOT_FOUND);
    expect(exitCodeFor(new SpindleError(ErrorCode.EXISTS, 'x'))).toBe(ExitCode.EXISTS);
    expect(exitCodeFor(new SpindleError(ErrorCode.NOT_EMPTY, 'x'))).toBe(ExitCode.WRONG_TYPE);
    expect(exitCodeFor(new SpindleError(ErrorCode.IS_DIRECTORY, 'x'))).toBe(ExitCode.WRONG_TYPE);
    expect(exitCodeFor(new SpindleError(ErrorCode.NAME_TOO_LONG, 'x'))).toBe(ExitCode.USAGE);
    expect(exitCodeFor(new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'x'))).toBe(ExitCode.UNAVAILABLE);
    expect(exitCodeFor(new SpindleError(ErrorCode.INTERNAL, 'x'))).toBe(ExitCode.FAILURE);
    expect(exitCodeFor(Object.assign(new Error('no such file'), { code: 'ENOENT' }))).toBe(ExitCode.NOT_FOUND);
    expect(exitCodeFor(new Error('plain'))).toBe(ExitCode.FAILURE);
  });

  it('format errors as `spindle: <path>: <message> (CODE)` without repeating the path', () => {
    expect(formatError(new SpindleError(ErrorCode.NOT_FOUND, '"/a/b" does not exist'), '/a/b')).toBe(
      'spindle: /a/b: does not exist (ENOENT)',
    );
    expect(formatError(new SpindleError(ErrorCode.NOT_FOUND, '"/a" does not exist'), '/a/b')).toBe(
      'spindle: /a/b: "/a" does not exist (ENOENT)',
    );
    expect(
      formatError(Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT' }), 'x'),
    ).toBe("spindle: x: no such file or directory, open 'x' (ENOENT)");
    expect(formatError(new CliError('bad', ExitCode.USAGE))).toBe('spindle: bad');
  });
});

describe('paths and formatting', () => {
  it('takes relative Spindle paths from the root and drops trailing slashes', () => {
    expect(spindlePath('a/b')).toBe('/a/b');
    expect(spindlePath('/a/b/')).toBe('/a/b');
    expect(spindlePath('/')).toBe('/');
    expect(() => spindlePath('')).toThrow(CliError);
  });

  it('formats sizes, modes and tables', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(64 * 1024 * 1024)).toBe('64.0 MiB');
    expect(formatBytesShort(4 * 1024 * 1024)).toBe('4.0M');
    expect(formatBytesShort(17)).toBe('17');
    expect(formatMode('directory', 0o755)).toBe('drwxr-xr-x');
    expect(formatMode('file', 0o640)).toBe('-rw-r-----');
    expect(formatMode('symlink', 0o777)).toBe('lrwxrwxrwx');
    expect(
      formatTable(
        [
          ['a', '1', 'x'],
          ['bbb', '22', 'y'],
        ],
        [false, true],
      ),
    ).toEqual(['a    1 x', 'bbb 22 y']);
  });
});

describe('argument parsing', () => {
  it('usage errors exit 2 before any connection', async () => {
    const stderr = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      expect(await run([])).toBe(ExitCode.USAGE);
      expect(await run(['frobnicate'])).toBe(ExitCode.USAGE);
      expect(await run(['put', 'only-one'])).toBe(ExitCode.USAGE);
      expect(await run(['up', '--storage-nodes', 'zero'])).toBe(ExitCode.USAGE);
      expect(await run(['up', '--port', '70000'])).toBe(ExitCode.USAGE);
      expect(await run(['ls', '--meta', 'not-an-address'])).toBe(ExitCode.USAGE);
      expect(await run(['up', '--preset', 'fast'])).toBe(ExitCode.USAGE);
    } finally {
      process.stderr.write = stderr;
    }
  });
});
