// The end of a child's log file: what a failed start shows the user, so the reason a server gave
// on stderr reaches whoever started it. Reads at most `bytes` from the end and starts at a line
// boundary, so a long log never floods a terminal and a cut never shows half a line.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Bytes of a child's log shown when it fails to start. */
const LOG_TAIL_BYTES = 4096;

/** Reads the last `bytes` of a file (empty string when it does not exist). */
export function tailFile(path: string, bytes = LOG_TAIL_BYTES): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    let text = buffer.toString('utf8');
    if (length < size) text = text.slice(text.indexOf('\n') + 1);
    return text.trimEnd();
  } finally {
    closeSync(fd);
  }
}
