// Human output of the file commands: sizes, modes, dates, `ls -l` rows. Machine output is --json.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> '1.50 KiB': three significant digits, exact below 1 KiB (config values: formatConfigBytes). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${UNITS[unit]}`;
}

/** Short human size for tables: '4.0M', '512K', '17'. */
export function formatBytesShort(bytes: number): string {
  if (bytes < 1024) return String(bytes);
  const letters = ['K', 'M', 'G', 'T', 'P'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < letters.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 ? value.toFixed(0) : value.toFixed(1)}${letters[unit]}`;
}

export type FileKind = 'file' | 'directory' | 'symlink' | 'other';

const TYPE_CHAR: Record<FileKind, string> = { file: '-', directory: 'd', symlink: 'l', other: '?' };

/** 'drwxr-xr-x' from a kind and permission bits. */
export function formatMode(kind: FileKind, mode: number): string {
  const bits = 'rwxrwxrwx';
  let text = TYPE_CHAR[kind];
  for (let i = 0; i < 9; i += 1) text += mode & (1 << (8 - i)) ? bits[i] : '-';
  return text;
}

/** '2026-11-27 10:41' in local time (ls-like, sortable). */
export function formatTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const day = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  return `${day} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Left-aligns the last column, right-aligns the others. */
export function formatTable(rows: string[][], rightAligned: boolean[] = []): string[] {
  if (rows.length === 0) return [];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((r) => (r[column] ?? '').length)));
  return rows.map((row) =>
    row
      .map((cell, column) => {
        if (column === row.length - 1) return cell;
        return rightAligned[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!);
      })
      .join(' '),
  );
}
