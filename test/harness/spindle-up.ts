// `spindle up` as a user runs it, for tests: spawn the real CLI in a scratch directory, wait for its
// JSON ready line, and keep every pid it reports so that a failing test still leaves no process
// behind. One UpRunner per test file; `cleanup()` in its afterAll.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../common/package-root.js';

export const SPINDLE_BIN = join(PACKAGE_ROOT, 'bin/spindle.mjs');

export interface RunningUp<Line> {
  child: ChildProcess;
  /** The ready line `spindle up` printed on stdout. */
  line: Line;
  stderr: () => string;
}

export class UpRunner {
  /** The scratch directory every `spindle up` of this runner starts in. */
  readonly work: string;
  private readonly children: ChildProcess[] = [];
  private readonly pids = new Set<number>();

  constructor(prefix: string) {
    this.work = mkdtempSync(join(tmpdir(), prefix));
  }

  /** Remembers a pid to kill at cleanup (one the supervisor restarted, say). */
  track(pid: number): void {
    this.pids.add(pid);
  }

  /** Starts `spindle up <args>` and resolves with its ready line; rejects if it exits first. */
  async start<Line>(args: string[]): Promise<RunningUp<Line>> {
    const child = spawn(process.execPath, [SPINDLE_BIN, 'up', ...args], {
      cwd: this.work,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // Every pid the supervisor reports is ours to clean up.
      for (const match of stderr.matchAll(/restarted \(pid (\d+)\)/g)) this.track(Number(match[1]));
    });
    const line = await new Promise<Line>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))) as Line);
      });
      child.once('exit', (code) => reject(new Error(`spindle up exited ${code}: ${stderr}`)));
    });
    return { child, line, stderr: () => stderr };
  }

  /** Ctrl-C, as a user stops it; resolves with the exit code. */
  stop(running: RunningUp<unknown>): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));
    running.child.kill('SIGINT');
    return exited;
  }

  cleanup(): void {
    for (const child of this.children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const pid of this.pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(this.work, { recursive: true, force: true });
  }
}
