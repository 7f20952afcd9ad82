// Last-resort cleanup of the server processes this process started: if it goes away abruptly
// (an uncaught error, process.exit), a synchronous 'exit' hook SIGKILLs every child that still
// runs, so no orphaned server keeps a port or a data dir lock. Orderly stops go through
// ServiceProcess.stop(); this only covers what they never reached.
import type { ChildProcess } from 'node:child_process';

// Every live child of this process, so an abrupt exit can still kill them (sync, in 'exit').
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function killLiveChildren(): void {
  for (const child of liveChildren) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Registers a spawned child: it is SIGKILLed if this process exits while the child still runs. */
export function reapOnExit(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', killLiveChildren);
  }
}
