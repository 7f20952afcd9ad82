// Vitest global setup: test clusters store their admin and client tokens in a credentials file of
// this run (a fresh directory under $TMPDIR, not ~/.spindle nor a file shared with other runs), and
// the teardown removes it, so a run leaves no tokens behind. Set here, in the process that forks
// the test workers, so every worker and every CLI, mount or agent process a test starts inherits it.
// A run with SPINDLE_CREDENTIALS already set keeps that file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function credentialsFile(): (() => void) | undefined {
  if (process.env.SPINDLE_CREDENTIALS !== undefined) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'spindle-test-credentials-'));
  process.env.SPINDLE_CREDENTIALS = join(dir, 'credentials.json');
  return () => rmSync(dir, { recursive: true, force: true });
}
