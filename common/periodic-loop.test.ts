import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock, flushMicrotasks, systemClock } from './clock.js';
import { ErrorCode, SpindleError } from './errors.js';
import { silentLogger } from './logger.js';
import { PeriodicLoop, type PeriodicLoopOptions } from './periodic-loop.js';

interface LogLine {
  level: number;
  msg: string;
  err?: { message: string };
}

/** A pino logger whose lines land in `lines`. */
function capturingLogger() {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'trace', base: null }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

/** A promise the test resolves by hand. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Settles once `promise` has, or reports that it has not (after letting continuations run). */
async function settledYet(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await flushMicrotasks();
  return settled;
}

function loopOn<T>(
  clock: ManualClock,
  options: Partial<PeriodicLoopOptions<T>> & Pick<PeriodicLoopOptions<T>, 'pass'>,
) {
  return new PeriodicLoop<T>({
    intervalMs: 100,
    clock,
    logger: silentLogger(),
    failureMessage: 'pass failed',
    ...options,
  });
}

describe('PeriodicLoop', () => {
  it('runs the first pass one interval after start, then every interval; start twice is one loop', async () => {
    const clock = new ManualClock(1_000);
    const passesAtMs: number[] = [];
    const loop = loopOn(clock, { pass: () => void passesAtMs.push(clock.nowMs()) });
    expect(loop.state).toBe('new');
    loop.start();
    loop.start();
    expect(loop.state).toBe('running');
    await flushMicrotasks();
    expect(passesAtMs).toEqual([]);
    await clock.advanceAsync(350, 50);
    expect(passesAtMs).toEqual([1_100, 1_200, 1_300]);
    await loop.stop();
  });

  it('with passAtStart runs the first pass inside start()', async () => {
    const clock = new ManualClock(0);
    let passes = 0;
    const loop = loopOn(clock, { passAtStart: true, pass: () => void passes++ });
    loop.start();
    expect(passes).toBe(1);
    await flushMicrotasks();
    await clock.advanceAsync(100);
    expect(passes).toBe(2);
    await loop.stop();
  });

  it('never overlaps passes: a slow pass holds up the loop, and runNow shares it', async () => {
    const clock = new ManualClock(0);
    const slow = gate();
    let started = 0;
    const loop = loopOn(clock, {
      pass: async () => {
        const n = ++started;
        if (n === 1) await slow.promise;
        return n;
      },
    });
    loop.start();
    await clock.advanceAsync(100);
    expect(started).toBe(1);
    const shared = loop.runNow();
    await clock.advanceAsync(1_000, 50);
    expect(started).toBe(1);
    slow.open();
    expect(await shared).toBe(1);
    // The next pass comes one interval after the slow one ended, not at once.
    await flushMicrotasks();
    expect(started).toBe(1);
    await clock.advanceAsync(100);
    expect(started).toBe(2);
    expect(await loop.runNow()).toBe(3);
    await loop.stop();
  });

  it('fixed-delay waits the interval after a pass ends; fixed-rate counts it from the pass start', async () => {
    for (const [schedule, secondAtMs] of [
      ['fixed-delay', 230],
      ['fixed-rate', 200],
    ] as const) {
      const clock = new ManualClock(0);
      const passesAtMs: number[] = [];
      const loop = loopOn(clock, {
        schedule,
        pass: async () => {
          passesAtMs.push(clock.nowMs());
          // The pass takes 30 ms of the clock's time.
          if (passesAtMs.length === 1) await clock.sleep(30);
        },
      });
      loop.start();
      for (let i = 0; i < 40 && passesAtMs.length < 2; i++) await clock.advanceAsync(10);
      expect(passesAtMs, schedule).toEqual([100, secondAtMs]);
      await loop.stop();
    }
  });

  it('logs a failing pass at the chosen level and goes on', async () => {
    const clock = new ManualClock(0);
    const { logger, lines } = capturingLogger();
    let passes = 0;
    const loop = loopOn(clock, {
      logger,
      failureLevel: 'error',
      failureMessage: 'check failed; retrying next interval',
      pass: () => {
        passes++;
        if (passes === 1) throw new SpindleError(ErrorCode.RPC_UNAVAILABLE, 'manager unreachable');
      },
    });
    loop.start();
    await clock.advanceAsync(300, 100);
    expect(passes).toBe(3);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 50,
      msg: 'check failed; retrying next interval',
      err: { message: 'manager unreachable' },
    });
    // runNow hands its failure to the caller.
    const failing = loopOn(clock, {
      pass: () => Promise.reject(new SpindleError(ErrorCode.IO_ERROR, 'disk')),
    });
    await expect(failing.runNow()).rejects.toMatchObject({ errorCode: ErrorCode.IO_ERROR });
    await loop.stop();
  });

  it('stop aborts the signal, waits for the pass in flight, and is idempotent; nothing runs after it', async () => {
    const clock = new ManualClock(0);
    const { logger, lines } = capturingLogger();
    const slow = gate();
    let passes = 0;
    let seen: AbortSignal | undefined;
    const loop = loopOn(clock, {
      logger,
      pass: async (signal) => {
        passes++;
        seen = signal;
        await slow.promise;
        // A pass that fails because it was stopped is not reported.
        if (signal.aborted) throw new SpindleError(ErrorCode.CANCELLED, 'stopping');
      },
    });
    loop.start();
    await clock.advanceAsync(100);
    expect(passes).toBe(1);
    const first = loop.stop();
    const second = loop.stop();
    expect(seen?.aborted).toBe(true);
    expect(loop.state).toBe('stopped');
    expect(await settledYet(first)).toBe(false);
    expect(await settledYet(second)).toBe(false);
    slow.open();
    await first;
    await second;
    await loop.stop();
    expect(lines).toEqual([]);
    loop.start();
    await expect(loop.runNow()).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
    await clock.advanceAsync(1_000, 100);
    expect(passes).toBe(1);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('stop waits for a runNow pass when the loop never started', async () => {
    const clock = new ManualClock(0);
    const slow = gate();
    const loop = loopOn(clock, { pass: () => slow.promise });
    const pass = loop.runNow();
    const stopped = loop.stop();
    expect(await settledYet(stopped)).toBe(false);
    slow.open();
    await pass;
    await stopped;
  });

  it('a stop before start leaves nothing to run', async () => {
    const clock = new ManualClock(0);
    let passes = 0;
    const loop = loopOn(clock, { passAtStart: true, pass: () => void passes++ });
    await loop.stop();
    loop.start();
    expect(passes).toBe(0);
    expect(clock.pendingSleeps).toBe(0);
  });

  it('on the system clock a parked loop holds no timer that keeps the process alive', async () => {
    // getActiveResourcesInfo lists ref'd timers only; start() parks the loop in its sleep at once.
    const refTimers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const loop = new PeriodicLoop({
      intervalMs: 60_000,
      clock: systemClock,
      logger: silentLogger(),
      failureMessage: 'pass failed',
      pass: () => undefined,
    });
    const before = refTimers();
    loop.start();
    expect(refTimers()).toBe(before);
    await loop.stop();
  });
});
