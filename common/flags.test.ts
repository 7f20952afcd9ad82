// The one integer-flag validator (common/flags.ts): what it reads, what it refuses and the exact
// messages every entry shows for a bad flag.
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from './errors.js';
import { checkIntegerFlag, parseIntegerFlag, parseIntegerListFlag, parsePortFlag } from './flags.js';

function refusal(call: () => unknown): SpindleError {
  try {
    call();
  } catch (err) {
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    return err as SpindleError;
  }
  throw new Error('expected a SpindleError');
}

describe('integer flags', () => {
  it('reads plain decimal integers within the range', () => {
    expect(parseIntegerFlag('--targets', '3', { min: 1, max: 999 })).toBe(3);
    expect(parseIntegerFlag('--targets', ' 999 ', { min: 1, max: 999 })).toBe(999);
    expect(parseIntegerFlag('--storage-nodes', '0', { min: 0 })).toBe(0);
    expect(parsePortFlag('--port', '0')).toBe(0);
    expect(parsePortFlag('--port', '65535')).toBe(65_535);
  });

  it('refuses anything else, naming the flag, the range and the value given', () => {
    for (const bad of ['', 'x', '1e3', '0x10', '3.0', '-1', '1000', '12abc']) {
      expect(refusal(() => parseIntegerFlag('--targets', bad, { min: 1, max: 999 })).message).toBe(
        `--targets must be an integer from 1 to 999, got ${JSON.stringify(bad)}`,
      );
    }
    expect(refusal(() => parseIntegerFlag('--replicas', '0', { min: 1 })).message).toBe(
      '--replicas must be an integer of at least 1, got "0"',
    );
    expect(refusal(() => parseIntegerFlag('--n', '9007199254740993', { min: 0 })).message).toMatch(/--n must be/);
  });

  it('ports: 0-65535, with a message that says 0 picks a free one', () => {
    for (const bad of ['70000', 'abc', '-1']) {
      expect(refusal(() => parsePortFlag('--port', bad)).message).toBe(
        `--port must be a port (integer 0-65535, 0 = pick a free one), got ${JSON.stringify(bad)}`,
      );
    }
  });

  it('checks numbers given as options with the same message', () => {
    expect(checkIntegerFlag('--replicas', 3, { min: 1, max: 16 })).toBe(3);
    for (const bad of [0, 17, 2.5, Number.NaN, '3']) {
      expect(refusal(() => checkIntegerFlag('--replicas', bad, { min: 1, max: 16 })).message).toBe(
        `--replicas must be an integer from 1 to 16, got ${typeof bad === 'string' ? `"${bad}"` : bad}`,
      );
    }
  });

  it('reads comma-separated lists without repeats', () => {
    expect(parseIntegerListFlag('--clients', '1,4, 2,4', { min: 1, max: 64 })).toEqual([1, 4, 2]);
    for (const bad of ['', '0', '1,,2', '1,x', '65']) {
      expect(refusal(() => parseIntegerListFlag('--clients', bad, { min: 1, max: 64 })).message).toBe(
        `--clients must be a comma-separated list of integers from 1 to 64, got ${JSON.stringify(bad)}`,
      );
    }
  });
});
