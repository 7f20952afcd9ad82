// Whether a pid names a live process on this host: how staging collectors (packed datasets,
// checkpoints) tell a running writer from a crashed one.
//
// Guarantees: true for any existing process, ours or another user's (EPERM); false only when the
// kernel says no such process exists.

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
