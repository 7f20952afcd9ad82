// The 'parts' sample encoding: one sample made of named parts, as a WebDataset sample is made of
// the tar members that share a key (`a.jpg`, `a.cls` → parts "jpg" and "cls").
//
//   count u32 LE, then per part: name length u16 LE, name (UTF-8), data length u32 LE, data
//
// Guarantees: decodeParts(encodeParts(parts)) gives back the same names and bytes in the same
// order; encodeParts refuses names or data that do not fit their length fields and repeated names
// with INVALID_ARGUMENT; decodeParts refuses anything but an exact encoding with DATA_CORRUPTED.
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { SAMPLE_BYTES_MAX } from './constants.js';

/** Longest part name in UTF-8 bytes (a u16 length). */
const PART_NAME_BYTES_MAX = 0xffff;

/** One named part of a sample. */
export interface SamplePart {
  readonly name: string;
  readonly data: Uint8Array;
}

/** The record of a sample made of `parts` (at least one; names distinct). */
export function encodeParts(parts: readonly SamplePart[]): Buffer {
  if (!Array.isArray(parts) || parts.length === 0) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, 'parts must be a non-empty array of { name, data }');
  }
  const names = new Set<string>();
  const encodedNames: Buffer[] = [];
  let total = 4;
  for (const [i, part] of parts.entries()) {
    if (typeof part?.name !== 'string' || !(part.data instanceof Uint8Array)) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `parts[${i}] must be { name: string, data: Uint8Array }`);
    }
    if (names.has(part.name)) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `parts[${i}].name ${JSON.stringify(part.name)} appears twice in one sample`,
      );
    }
    names.add(part.name);
    const name = Buffer.from(part.name, 'utf8');
    if (name.length > PART_NAME_BYTES_MAX) {
      throw new SpindleError(
        ErrorCode.INVALID_ARGUMENT,
        `parts[${i}].name is ${name.length} bytes; at most ${PART_NAME_BYTES_MAX}`,
      );
    }
    encodedNames.push(name);
    total += 2 + name.length + 4 + part.data.length;
  }
  if (total > SAMPLE_BYTES_MAX) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `parts add up to a ${total}-byte sample; a sample is at most ${SAMPLE_BYTES_MAX} bytes`,
    );
  }
  const record = Buffer.allocUnsafe(total);
  record.writeUInt32LE(parts.length, 0);
  let at = 4;
  for (const [i, part] of parts.entries()) {
    const name = encodedNames[i]!;
    record.writeUInt16LE(name.length, at);
    name.copy(record, at + 2);
    at += 2 + name.length;
    record.writeUInt32LE(part.data.length, at);
    record.set(part.data, at + 4);
    at += 4 + part.data.length;
  }
  return record;
}

/** The parts of a 'parts' record by name, in record order; the buffers are views into `record`. */
export function decodeParts(record: Uint8Array): Map<string, Buffer> {
  const bytes = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  const malformed = (what: string) =>
    new SpindleError(ErrorCode.DATA_CORRUPTED, `a sample record is not a parts record: ${what}`);
  if (bytes.length < 4) throw malformed(`only ${bytes.length} bytes`);
  const count = bytes.readUInt32LE(0);
  const parts = new Map<string, Buffer>();
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 2 > bytes.length) throw malformed(`part ${i} of ${count} is cut off`);
    const nameLength = bytes.readUInt16LE(at);
    if (at + 2 + nameLength + 4 > bytes.length) throw malformed(`part ${i} of ${count} is cut off`);
    const name = bytes.toString('utf8', at + 2, at + 2 + nameLength);
    at += 2 + nameLength;
    const length = bytes.readUInt32LE(at);
    if (at + 4 + length > bytes.length) throw malformed(`part ${JSON.stringify(name)} is cut off`);
    if (parts.has(name)) throw malformed(`part ${JSON.stringify(name)} appears twice`);
    parts.set(name, bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (at !== bytes.length) throw malformed(`${bytes.length - at} bytes follow the last part`);
  return parts;
}
