// A JSONL file as a pack source: one sample per non-blank line, the line's bytes without its
// newline ('\n' or '\r\n'). The key is the value of the line's top-level "__key__" field, else of
// its "key" field (a string or a number), else the line number (1-based, counting blank lines, as
// an editor shows it).
//
// Guarantees: sample bytes are exactly the line's bytes (not re-encoded); a line that is not JSON
// or is longer than a sample may be stops the pack with an error naming the file and line.
import { SAMPLE_BYTES_MAX } from '../../client/loader/dataset/constants.js';
import { fileChunks, usageError } from './local-files.js';
import type { PackSource, SourceSample } from './source.js';

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** Lines of a byte stream without their '\n' (or '\r\n'), the last one even without a newline. */
async function* lines(chunks: AsyncIterable<Buffer>, where: string): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = (tail: Buffer) => {
    const line = pending.length === 0 ? tail : Buffer.concat([...pending, tail]);
    pending = [];
    pendingBytes = 0;
    return line.length > 0 && line[line.length - 1] === CARRIAGE_RETURN ? line.subarray(0, -1) : line;
  };
  for await (const chunk of chunks) {
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      yield take(chunk.subarray(start, end));
      start = end + 1;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingBytes += chunk.length - start;
      if (pendingBytes > SAMPLE_BYTES_MAX) throw usageError(`${where} has a line longer than a sample may be`);
    }
  }
  if (pendingBytes > 0) yield take(Buffer.alloc(0));
}

function isBlank(line: Buffer): boolean {
  return line.every((byte) => byte === 0x20 || byte === 0x09 || byte === CARRIAGE_RETURN);
}

/** The key a parsed line names, if it names one. */
function keyField(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  for (const name of ['__key__', 'key']) {
    const key = (value as Record<string, unknown>)[name];
    if ((typeof key === 'string' && key !== '') || (typeof key === 'number' && Number.isFinite(key))) {
      return String(key);
    }
  }
  return undefined;
}

export function jsonlSource(path: string, sizeBytes: number): PackSource {
  return {
    kind: 'jsonl',
    path,
    encoding: 'raw',
    totalBytes: sizeBytes,
    async *samples(onBytesRead, signal): AsyncGenerator<SourceSample> {
      let lineNumber = 0;
      for await (const line of lines(fileChunks(path, onBytesRead, signal), path)) {
        lineNumber++;
        if (isBlank(line)) continue;
        let value: unknown;
        try {
          value = JSON.parse(line.toString('utf8'));
        } catch (err) {
          throw usageError(`${path}:${lineNumber} is not valid JSON (${(err as Error).message})`);
        }
        yield { data: line, key: keyField(value) ?? String(lineNumber), where: `${path}:${lineNumber}` };
      }
    },
  };
}
