// Deliberate breaks of production code, for the test that proves the simulator's checker catches
// them (test/sim/sim.test.ts, docs/simulation.md "Breaks of production code"). Each one is a single
// guarded line on the path it breaks; all are off unless a test turns them on — in-process with
// setTestBreaks(), or for a process through SPINDLE_TEST_BREAKS=<name>[,<name>…]. Never set in
// production.

/** The breaks, each named after what it breaks. */
const TEST_BREAKS = [
  /** The head answers once its own commit is done, without waiting for its successor's. */
  'ack-before-forward',
  /** A node keeps serving after its lease with the manager ran out (split brain). */
  'serve-without-lease',
  /** RemoveChunks removes at this replica only, without forwarding. */
  'remove-skips-forward',
  /** Reads skip the segment checksums (corrupt bytes go to the client). */
  'read-skips-checksum',
  /** A target whose own apply fails while its successor committed stays in the chain (K3). */
  'failed-target-stays',
] as const;

export type TestBreak = (typeof TEST_BREAKS)[number];

const active = new Set<string>(
  (process.env.SPINDLE_TEST_BREAKS ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== ''),
);

/** Whether `name` is turned on (always false in production). */
export function isBroken(name: TestBreak): boolean {
  return active.size > 0 && active.has(name);
}

/** Turns exactly `names` on (an empty list turns every break off). For tests only. */
export function setTestBreaks(names: readonly TestBreak[]): void {
  active.clear();
  for (const name of names) active.add(name);
}
