// FrameInbox on a ManualClock: the pairing paths the transports cannot steer deterministically
// (a receive taking over a frame that is half arrived, a receive giving up mid-frame, TTL expiry
// at an exact time, the byte bound, close).
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { ErrorCode, SpindleError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { expectCode, patternBytes } from './testing/conformance.js';
import { FrameInbox } from './frame-inbox.js';
import { NodeHeldBytes } from './node-held-bytes.js';
import { unavailable } from './options.js';

function makeInbox(
  clock = new ManualClock(1_000),
  overrides: { unclaimedMaxBytes?: number; unclaimedTtlMs?: number; nodeHeld?: NodeHeldBytes } = {},
  what = 'test session',
) {
  const inbox = new FrameInbox(what, {
    maxFrameBytes: 1024 * 1024,
    unclaimedMaxBytes: overrides.unclaimedMaxBytes ?? 1024 * 1024,
    unclaimedTtlMs: overrides.unclaimedTtlMs ?? 1_000,
    nodeHeld: overrides.nodeHeld,
    clock,
    logger: silentLogger(),
  });
  return { inbox, clock };
}

/** Delivers `payload` as one whole frame. */
function deliver(inbox: FrameInbox, requestId: number, payload: Buffer, crcOk = true): void {
  const sink = inbox.beginFrame(requestId, payload.length);
  sink.write(payload);
  inbox.endFrame(sink, crcOk, 0);
}

describe('FrameInbox', () => {
  it('moves a half-arrived unclaimed frame into the `into` of a receive that starts mid-frame', async () => {
    const { inbox } = makeInbox();
    const payload = patternBytes(1, 10_000);
    const sink = inbox.beginFrame(1, payload.length);
    sink.write(payload.subarray(0, 4_000));
    const into = Buffer.alloc(12_000);
    const receiving = inbox.receive(1, { into });
    expect(sink.target!.buffer).toBe(into.buffer);
    sink.write(payload.subarray(4_000));
    inbox.endFrame(sink, true, 0);
    const result = await receiving;
    expect(result.buffer).toBe(into.buffer);
    expect(result.equals(payload)).toBe(true);
  });

  it('fails a receive starting mid-frame when the frame is longer than it accepts; the frame is consumed', async () => {
    const { inbox } = makeInbox();
    const sink = inbox.beginFrame(1, 1000);
    sink.write(Buffer.alloc(10));
    await expectCode(inbox.receive(1, { maxBytes: 999 }), ErrorCode.INVALID_ARGUMENT);
    sink.write(Buffer.alloc(990));
    inbox.endFrame(sink, true, 0);
    expect(inbox.unclaimedCount).toBe(0);
  });

  it('a receive without `into` that gives up mid-frame leaves the frame to finish as unclaimed', async () => {
    const { inbox, clock } = makeInbox();
    const payload = patternBytes(2, 5_000);
    const sink = inbox.beginFrame(2, payload.length);
    const receiving = expectCode(inbox.receive(2, { timeoutMs: 10 }), ErrorCode.TIMEOUT);
    sink.write(payload.subarray(0, 1_000));
    await clock.advanceAsync(10);
    await receiving;
    sink.write(payload.subarray(1_000));
    inbox.endFrame(sink, true, 0);
    expect((await inbox.receive(2)).equals(payload)).toBe(true);
  });

  it('a receive with `into` that is aborted mid-frame gets no more bytes in `into`; the rest is skipped', async () => {
    const { inbox } = makeInbox();
    const into = Buffer.alloc(3_000);
    const controller = new AbortController();
    const receiving = expectCode(inbox.receive(3, { into, signal: controller.signal }), ErrorCode.CANCELLED);
    const sink = inbox.beginFrame(3, 3_000);
    sink.write(Buffer.alloc(1_000, 1));
    controller.abort();
    await receiving;
    sink.write(Buffer.alloc(2_000, 2));
    inbox.endFrame(sink, true, 0);
    expect(into.subarray(1_000).every((byte) => byte === 0)).toBe(true);
    expect(inbox.unclaimedCount).toBe(0);
  });

  it('expires unclaimed frames exactly at their TTL', async () => {
    const { inbox, clock } = makeInbox(new ManualClock(0), { unclaimedTtlMs: 1_000 });
    deliver(inbox, 1, Buffer.from('one'));
    await clock.advanceAsync(500);
    deliver(inbox, 2, Buffer.from('two'));
    await clock.advanceAsync(499);
    expect(inbox.unclaimedCount).toBe(2);
    await clock.advanceAsync(1);
    expect(inbox.unclaimedCount).toBe(1);
    await clock.advanceAsync(500);
    expect(inbox.unclaimedCount).toBe(0);
    expect(inbox.unclaimedTotalBytes).toBe(0);
  });

  it('bounds unclaimed bytes, drops frames larger than the bound, keeps a CRC failure for whoever asks', async () => {
    const { inbox } = makeInbox(undefined, { unclaimedMaxBytes: 100 });
    deliver(inbox, 1, Buffer.alloc(60));
    deliver(inbox, 2, Buffer.alloc(40));
    expect(inbox.unclaimedTotalBytes).toBe(100);
    deliver(inbox, 3, Buffer.alloc(1), false);
    expect(inbox.unclaimedCount).toBe(2); // 1 dropped
    deliver(inbox, 4, Buffer.alloc(101));
    expect(inbox.unclaimedCount).toBe(2);
    await expectCode(inbox.receive(3), ErrorCode.CHECKSUM_MISMATCH);
    expect((await inbox.receive(2)).length).toBe(40);
    expect(inbox.unclaimedTotalBytes).toBe(0);
  });

  it('close rejects waiting receives with its error and drops everything', async () => {
    const { inbox } = makeInbox();
    deliver(inbox, 1, Buffer.from('kept'));
    const waiting = inbox.receive(2);
    const sink = inbox.beginFrame(3, 10);
    inbox.close(unavailable('closed'));
    await expectCode(waiting, ErrorCode.RPC_UNAVAILABLE);
    await expectCode(inbox.receive(1), ErrorCode.RPC_UNAVAILABLE);
    sink.write(Buffer.alloc(10));
    inbox.endFrame(sink, true, 0);
    expect(inbox.unclaimedCount).toBe(0);
  });

  it('rejects bad arguments with INVALID_ARGUMENT', async () => {
    const { inbox } = makeInbox();
    await expectCode(inbox.receive(-1), ErrorCode.INVALID_ARGUMENT);
    await expectCode(inbox.receive(1.5), ErrorCode.INVALID_ARGUMENT);
    await expectCode(inbox.receive(1, { maxBytes: -1 }), ErrorCode.INVALID_ARGUMENT);
    await expectCode(inbox.receive(1, { timeoutMs: Number.NaN }), ErrorCode.INVALID_ARGUMENT);
  });

  it('times out receives at their own deadlines through one shared timer', async () => {
    const { inbox, clock } = makeInbox();
    const order: number[] = [];
    const timedOut = (id: number, ms: number) =>
      expectCode(inbox.receive(id, { timeoutMs: ms }), ErrorCode.TIMEOUT).then(() => order.push(id));
    const late = timedOut(1, 50);
    const early = timedOut(2, 10);
    const middle = timedOut(3, 30);
    const answered = inbox.receive(4, { timeoutMs: 20 });
    deliver(inbox, 4, Buffer.from('in time'));
    expect((await answered).toString()).toBe('in time');
    await clock.advanceAsync(9, 1);
    expect(order).toEqual([]);
    await clock.advanceAsync(1, 1);
    await early;
    expect(order).toEqual([2]);
    await clock.advanceAsync(25, 1);
    await middle;
    expect(order).toEqual([2, 3]);
    await clock.advanceAsync(15, 1);
    await late;
    expect(order).toEqual([2, 3, 1]);
    // A later receive with a shorter deadline than one already armed re-arms the timer earlier.
    const long = inbox.receive(5, { timeoutMs: 1_000 });
    const short = timedOut(6, 5);
    await clock.advanceAsync(5, 1);
    await short;
    expect(order).toEqual([2, 3, 1, 6]);
    inbox.close(unavailable('closed'));
    await expectCode(long, ErrorCode.RPC_UNAVAILABLE);
  });

  it('drops the late answer of a call that gave up (whole, mid-frame, or an error) instead of keeping it', async () => {
    const { inbox, clock } = makeInbox();
    const timedOut = expectCode(inbox.receive(1, { timeoutMs: 10 }, true), ErrorCode.TIMEOUT);
    await clock.advanceAsync(10, 1);
    await timedOut;
    deliver(inbox, 1, Buffer.from('late answer'));
    expect(inbox.unclaimedCount).toBe(0);

    const controller = new AbortController();
    const aborted = expectCode(inbox.receive(2, { signal: controller.signal }, true), ErrorCode.CANCELLED);
    controller.abort();
    await aborted;
    inbox.endWithError(2, new SpindleError(ErrorCode.CHUNK_NOT_FOUND, 'late error'));
    expect(inbox.unclaimedCount).toBe(0);

    // Gave up while its answer was arriving: the rest is skipped.
    const midFrame = expectCode(inbox.receive(3, { timeoutMs: 10 }, true), ErrorCode.TIMEOUT);
    const sink = inbox.beginFrame(3, 100);
    sink.write(Buffer.alloc(40));
    await clock.advanceAsync(10, 1);
    await midFrame;
    sink.write(Buffer.alloc(60));
    inbox.endFrame(sink, true, 0);
    expect(inbox.unclaimedCount).toBe(0);

    // A plain receive that gave up still leaves its late frame for whoever asks.
    await expectCode(inbox.receive(4, { signal: AbortSignal.abort() }), ErrorCode.CANCELLED);
    const gaveUp = expectCode(inbox.receive(5, { timeoutMs: 10 }), ErrorCode.TIMEOUT);
    await clock.advanceAsync(10, 1);
    await gaveUp;
    deliver(inbox, 5, Buffer.from('kept'));
    expect((await inbox.receive(5)).toString()).toBe('kept');
    // The id of an abandoned call answered once is forgotten: a frame under it later is kept.
    deliver(inbox, 1, Buffer.from('again'));
    expect(inbox.unclaimedCount).toBe(1);
  });

  it("allocates an unclaimed frame's buffer at its first byte, not at its header", () => {
    const { inbox } = makeInbox();
    const sink = inbox.beginFrame(1, 1000);
    expect(sink.target).toBeNull();
    expect(inbox.heldBytes).toBe(1000);
    sink.write(Buffer.alloc(10));
    expect(sink.target?.length).toBe(1000);
    sink.write(Buffer.alloc(990));
    inbox.endFrame(sink, true, 0);
    expect(inbox.heldBytes).toBe(1000);
  });

  it('charges frames and releases them when taken, dropped or closed', async () => {
    const nodeHeld = new NodeHeldBytes(10_000);
    const { inbox } = makeInbox(undefined, { nodeHeld });
    deliver(inbox, 1, Buffer.alloc(300));
    deliver(inbox, 2, Buffer.alloc(200));
    expect([inbox.heldBytes, nodeHeld.totalBytes]).toEqual([500, 500]);
    await inbox.receive(1);
    expect([inbox.heldBytes, nodeHeld.totalBytes]).toEqual([200, 200]);
    // A frame going into a receive's `into` is never charged.
    const into = Buffer.alloc(100);
    const receiving = inbox.receive(3, { into });
    deliver(inbox, 3, Buffer.alloc(100));
    await receiving;
    expect(inbox.heldBytes).toBe(200);
    inbox.close(unavailable('closed'));
    expect([inbox.heldBytes, nodeHeld.totalBytes]).toEqual([0, 0]);
  });

  it('closes a session whose frames in the making exceed its budget (complete ones are dropped first)', async () => {
    const { inbox } = makeInbox(undefined, { unclaimedMaxBytes: 1000 });
    deliver(inbox, 1, Buffer.alloc(600));
    const arriving = inbox.beginFrame(2, 600);
    expect(inbox.unclaimedCount, 'the complete frame made room').toBe(0);
    arriving.write(Buffer.alloc(1));
    const waiting = inbox.receive(9);
    inbox.beginFrame(3, 600);
    await expectCode(waiting, ErrorCode.RPC_UNAVAILABLE);
    expect(inbox.heldBytes).toBe(0);
  });

  it("makes room in the node's budget by closing the session that holds the most", async () => {
    const nodeHeld = new NodeHeldBytes(1000);
    const greedy = makeInbox(undefined, { nodeHeld }, 'greedy').inbox;
    const modest = makeInbox(undefined, { nodeHeld }, 'modest').inbox;
    deliver(greedy, 1, Buffer.alloc(700));
    deliver(modest, 1, Buffer.alloc(100));
    const greedyWaiting = greedy.receive(9);
    deliver(modest, 2, Buffer.alloc(300));
    await expectCode(greedyWaiting, ErrorCode.RPC_UNAVAILABLE);
    expect(nodeHeld.totalBytes).toBe(400);
    expect((await modest.receive(2)).length).toBe(300);
    // A session that would itself hold the most is the one closed.
    const other = makeInbox(undefined, { nodeHeld }, 'other').inbox;
    deliver(other, 1, Buffer.alloc(500));
    const otherWaiting = other.receive(9);
    deliver(other, 2, Buffer.alloc(500));
    await expectCode(otherWaiting, ErrorCode.RPC_UNAVAILABLE);
    expect(nodeHeld.totalBytes).toBe(100);
  });
});
