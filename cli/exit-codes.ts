// Exit codes of the `spindle` command (a contract: scripts rely on them; README lists them) and
// the one way errors are printed: `spindle: <path>: <message> (ENOENT)` on stderr.

export const ExitCode = {
  OK: 0,
  /** Anything not listed below. */
  FAILURE: 1,
  /** Bad command line, or an invalid argument (bad name, negative size, …). */
  USAGE: 2,
  /** No such file or directory (ENOENT). */
  NOT_FOUND: 3,
  /** The destination exists (EEXIST). */
  EXISTS: 4,
  /** Wrong kind of file: not a directory, is a directory, directory not empty (ENOTDIR, EISDIR, ENOTEMPTY). */
  WRONG_TYPE: 5,
  /** The cluster cannot be reached or did not answer in time. */
  UNAVAILABLE: 6,
  /** Interrupted by Ctrl-C (SIGINT) during a file command. */
  INTERRUPTED: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The help text that lists the codes (appended to `spindle --help`). */
export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    failure (anything not listed below)
  2    usage error or invalid argument (EINVAL, ENAMETOOLONG)
  3    not found (ENOENT)
  4    already exists (EEXIST)
  5    wrong file type: not a directory, is a directory, directory not empty (ENOTDIR, EISDIR, ENOTEMPTY)
  6    cluster unavailable (cannot reach meta or storage, timed out)
  130  interrupted (Ctrl-C)`;

/** The exit code for an error, from its POSIX code. */
export function exitCodeFor(err: unknown): ExitCodeValue {
  const code = (err as { code?: unknown } | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return ExitCode.NOT_FOUND;
    case 'EEXIST':
      return ExitCode.EXISTS;
    case 'ENOTDIR':
    case 'EISDIR':
    case 'ENOTEMPTY':
      return ExitCode.WRONG_TYPE;
    case 'EINVAL':
    case 'ENAMETOOLONG':
      return ExitCode.USAGE;
    case 'EHOSTUNREACH':
    case 'ECONNREFUSED':
    case 'ETIMEDOUT':
    case 'EAGAIN':
      return ExitCode.UNAVAILABLE;
    case 'ECANCELED':
      return ExitCode.INTERRUPTED;
    default:
      return ExitCode.FAILURE;
  }
}

/** An error the CLI reports as-is (usage problems found after parsing, local file problems). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.FAILURE,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** `spindle: <path>: <message> (CODE)` — the path is omitted when unknown. */
export function formatError(err: unknown, path?: string): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | undefined)?.code;
  const suffix = typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? ` (${code})` : '';
  // Node's own fs errors repeat the code and path in the message ("ENOENT: no such file…, open 'x'").
  let cleaned = message.replace(/^E[A-Z0-9]+: /, '');
  // Messages that start by naming the same path ('"/a" does not exist') need not say it twice.
  if (path !== undefined && cleaned.startsWith(`${JSON.stringify(path)} `))
    cleaned = cleaned.slice(JSON.stringify(path).length + 1);
  return `spindle: ${path !== undefined ? `${path}: ` : ''}${cleaned}${suffix}`;
}
