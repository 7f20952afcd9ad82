// Integer command-line flags, checked in one place. The `spindle` CLI, meta/main.ts,
// storage/main.ts, `spindle bench` and the local-cluster launcher's options all use these, so one
// mistake gets one message everywhere: the flag, what it accepts and what it got, e.g.
// `--port must be a port (integer 0-65535, 0 = pick a free one), got "abc"`.
//
// Guarantees: only plain decimal integers are read ('1e3', '0x10', '3.0', '' are refused, not
// guessed at); every refusal is a SpindleError(INVALID_ARGUMENT). Callers that collect several
// problems, or whose parser library wants its own error type (commander), take the message.
import { ErrorCode, SpindleError } from './errors.js';

/** The values an integer flag accepts; `what` replaces the generic "an integer from min to max". */
export interface IntegerRange {
  readonly min: number;
  /** Inclusive; undefined = no upper bound (below 2^53). */
  readonly max?: number;
  readonly what?: string;
}

/** A listen port: 0 asks the system for a free one. */
export const PORT_RANGE: IntegerRange = {
  min: 0,
  max: 65_535,
  what: 'a port (integer 0-65535, 0 = pick a free one)',
};

const DECIMAL_INTEGER = /^-?\d+$/;

function describeRange(range: IntegerRange, plural: boolean): string {
  const noun = plural ? 'integers' : 'an integer';
  return range.max === undefined ? `${noun} of at least ${range.min}` : `${noun} from ${range.min} to ${range.max}`;
}

function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function inRange(n: number, range: IntegerRange): boolean {
  return Number.isSafeInteger(n) && n >= range.min && (range.max === undefined || n <= range.max);
}

function refused(flag: string, expected: string, got: unknown): SpindleError {
  return new SpindleError(ErrorCode.INVALID_ARGUMENT, `${flag} must be ${expected}, got ${shown(got)}`);
}

/** Checks an integer option that is already a number (an options object rather than argv). */
export function checkIntegerFlag(flag: string, value: unknown, range: IntegerRange): number {
  if (typeof value !== 'number' || !inRange(value, range)) {
    throw refused(flag, range.what ?? describeRange(range, false), value);
  }
  return value;
}

/** Reads the text of an integer flag, e.g. parseIntegerFlag('--targets', '3', { min: 1, max: 999 }). */
export function parseIntegerFlag(flag: string, text: string, range: IntegerRange): number {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  const n = DECIMAL_INTEGER.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!inRange(n, range)) throw refused(flag, range.what ?? describeRange(range, false), text);
  return n;
}

/** Reads a listen-port flag (0-65535, 0 = pick a free one). */
export function parsePortFlag(flag: string, text: string): number {
  return parseIntegerFlag(flag, text, PORT_RANGE);
}

/** Reads a comma-separated list of integers ('1,3'), without repeats, in the order given. */
export function parseIntegerListFlag(flag: string, text: string, range: IntegerRange): number[] {
  const parts = typeof text === 'string' ? text.split(',').map((part) => part.trim()) : [''];
  const values = parts.map((part) => (DECIMAL_INTEGER.test(part) ? Number(part) : Number.NaN));
  if (values.some((n) => !inRange(n, range))) {
    throw refused(flag, `a comma-separated list of ${describeRange(range, true)}`, text);
  }
  return [...new Set(values)];
}
