// ReadCoalescer with a fake sender: batch limits (entries, bytes, batches in flight per node),
// large entries sent alone, cancellation of queued and in-flight entries, and close.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../common/errors.js';
import { ReadCoalescer, type CoalescedEntry } from './read-coalescer.js';
import { Semaphore } from './semaphore.js';

interface Entry extends CoalescedEntry {
  id: number;
  outcome?: string;
}

function entry(id: number, bytes = 10): Entry {
  return { id, bytes, abandoned: false };
}

/** A sender whose batches stay open until the test releases them. */
function harness(
  options: {
    itemsMax?: number;
    batchesPerNodeMax?: number;
    budgetBytes?: number;
    aloneMinBytes?: number;
    slots?: number;
  } = {},
) {
  const sent: Array<{ address: string; ids: number[]; signal: AbortSignal; finish: (error?: Error) => void }> = [];
  const closer = new AbortController();
  const coalescer = new ReadCoalescer<Entry>({
    send: (address, entries, signal) =>
      new Promise<void>((resolve, reject) => {
        sent.push({
          address,
          ids: entries.map((e) => e.id),
          signal,
          finish: (error) => {
            for (const e of entries) if (!e.abandoned) e.outcome = `read by ${address}`;
            if (error) reject(error);
            else resolve();
          },
        });
        signal.addEventListener('abort', () => reject(new Error('batch cancelled')), { once: true });
      }),
    budgetBytes: () => options.budgetBytes ?? 1_000,
    itemsMax: options.itemsMax ?? 100,
    batchesPerNodeMax: options.batchesPerNodeMax ?? 1,
    aloneMinBytes: options.aloneMinBytes ?? 500,
    slots: new Semaphore(options.slots ?? 16),
    signal: closer.signal,
  });
  return { coalescer, sent, closer };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ReadCoalescer', () => {
  it('sends the reads of one turn to one node as one batch, and queues the rest while it is busy', async () => {
    const { coalescer, sent } = harness();
    const first = [1, 2, 3].map((id) => coalescer.submit('a', entry(id)));
    const other = coalescer.submit('b', entry(9));
    await turn();
    expect(sent.map((s) => [s.address, s.ids])).toEqual([
      ['a', [1, 2, 3]],
      ['b', [9]],
    ]);
    // Node a has its one batch in flight: these wait and leave together when it ends.
    const second = [4, 5].map((id) => coalescer.submit('a', entry(id)));
    await turn();
    expect(sent).toHaveLength(2);
    expect(coalescer.queued).toBe(2);
    sent[0]!.finish();
    await Promise.all(first);
    await turn();
    expect(sent[2]!.ids).toEqual([4, 5]);
    sent[2]!.finish();
    sent[1]!.finish();
    await Promise.all([...second, other]);
    expect(coalescer.queued).toBe(0);
    expect(coalescer.batchesSent).toBe(3);
    expect(coalescer.entriesSent).toBe(6);
  });

  it('cuts batches at the entry and byte limits and sends large entries alone at once', async () => {
    const { coalescer, sent } = harness({ itemsMax: 2, batchesPerNodeMax: 8, budgetBytes: 25, aloneMinBytes: 100 });
    const all = [1, 2, 3, 4, 5].map((id) => coalescer.submit('a', entry(id, 10)));
    all.push(coalescer.submit('a', entry(6, 200)));
    // The large one does not wait for the end of the turn.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(sent.map((s) => s.ids)).toEqual([[6]]);
    await turn();
    expect(sent.map((s) => s.ids)).toEqual([[6], [1, 2], [3, 4], [5]]);
    for (const s of sent) s.finish();
    await Promise.all(all);
  });

  it('drops a cancelled queued read, and cancels a batch once every read in it was cancelled', async () => {
    const { coalescer, sent } = harness();
    const controllers = [new AbortController(), new AbortController(), new AbortController()];
    const entries = [entry(1), entry(2), entry(3)];
    const first = coalescer.submit('a', entries[0]!, controllers[0]!.signal);
    await turn();
    const queued = coalescer.submit('a', entries[1]!, controllers[1]!.signal);
    const kept = coalescer.submit('a', entries[2]!, controllers[2]!.signal);
    controllers[1]!.abort();
    await expect(queued).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
    expect(coalescer.queued).toBe(1);
    // Cancelling the only read of the batch in flight cancels the batch; the queued one goes next.
    controllers[0]!.abort();
    await expect(first).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
    expect(entries[0]!.abandoned).toBe(true);
    expect(sent[0]!.signal.aborted).toBe(true);
    await turn();
    expect(sent[1]!.ids).toEqual([3]);
    sent[1]!.finish();
    await kept;
    expect(entries[2]!.outcome).toBe('read by a');
    expect(entries[0]!.outcome).toBeUndefined();
  });

  it('fails every read of a batch whose sender threw, and refuses reads after close', async () => {
    const { coalescer, sent, closer } = harness();
    const reads = [1, 2].map((id) => coalescer.submit('a', entry(id)));
    await turn();
    sent[0]!.finish(new Error('node gone'));
    for (const read of reads) await expect(read).rejects.toThrow('node gone');
    const inflight = coalescer.submit('a', entry(3));
    await turn();
    closer.abort();
    await expect(inflight).rejects.toThrow('batch cancelled');
    await expect(coalescer.submit('a', entry(4))).rejects.toMatchObject({ errorCode: ErrorCode.CANCELLED });
  });
});
