// The log tail a failed start shows: the end of the file, from a line boundary.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tailFile } from './log-tail.js';

describe('tailFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-log-tail-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('returns a short log whole, without the trailing newline', () => {
    const path = join(dir, 'short.log');
    writeFileSync(path, 'one\ntwo\n');
    expect(tailFile(path)).toBe('one\ntwo');
  });

  it('cuts a long log to its end, starting at a whole line', () => {
    const path = join(dir, 'long.log');
    writeFileSync(path, `${'x'.repeat(30)}\nline-a\nline-b\n`);
    // The last 20 bytes start inside the first line: that partial line is dropped.
    expect(tailFile(path, 20)).toBe('line-a\nline-b');
  });

  it('is empty for a log that does not exist', () => {
    expect(tailFile(join(dir, 'missing.log'))).toBe('');
  });
});
