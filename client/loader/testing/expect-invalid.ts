// The loader's bad-input assertion: `fn` throws INVALID_ARGUMENT whose message names `field`.
import { expect } from 'vitest';
import { ErrorCode, isSpindleError } from '../../../common/errors.js';

export function expectInvalid(fn: () => unknown, field: string): void {
  try {
    fn();
  } catch (err) {
    expect(isSpindleError(err, ErrorCode.INVALID_ARGUMENT)).toBe(true);
    expect((err as Error).message).toContain(field);
    return;
  }
  expect.fail(`expected INVALID_ARGUMENT naming ${field}`);
}
