// captureBytes: copies in pieces within the budget's permits, and gives every permit back whether
// the writer takes all pieces or stops early.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Semaphore } from '../semaphore.js';
import { captureBytes } from './capture.js';
import { CAPTURE_PIECE_BYTES } from './constants.js';

function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i += 4093) bytes[i] = i % 251;
  return bytes;
}

describe('captureBytes', () => {
  it('holds at most the budget in copies until the writer takes them, and copies every byte', async () => {
    const budget = new Semaphore(2);
    const data = pattern(5 * CAPTURE_PIECE_BYTES + 1);
    const capture = captureBytes(data, budget, Promise.resolve());
    let captured = false;
    void capture.captured.then(() => {
      captured = true;
    });
    await sleep(20);
    expect(captured).toBe(false);
    expect(budget.free).toBe(0);
    const pieces: Uint8Array[] = [];
    for await (const piece of capture.pieces) pieces.push(Buffer.from(piece));
    capture.discard();
    await capture.captured;
    expect(Buffer.concat(pieces).equals(data)).toBe(true);
    expect(budget.free).toBe(2);
  });

  it('gives the permits back when the writer stops early or never starts', async () => {
    const budget = new Semaphore(2);
    const capture = captureBytes(pattern(6 * CAPTURE_PIECE_BYTES), budget, Promise.resolve());
    for await (const _piece of capture.pieces) break;
    capture.discard();
    await capture.captured;
    expect(budget.free).toBe(2);
    const unread = captureBytes(pattern(4 * CAPTURE_PIECE_BYTES), budget, capture.captured);
    unread.discard();
    await unread.captured;
    await sleep(0);
    expect(budget.free).toBe(2);
  });
});
