// Suite `kvcache` (bench/kvcache.ts): its pure parts (the RESP parser, the trace, the plan), and
// the whole suite with tiny sizes on a real cluster and a real redis-server — every row produced,
// bytes moved = pages × size, hit rates in [0, 1], every get checked page by page by its worker,
// and the bench's redis-server gone afterwards. No timing assertions: figures only have to exist.
import { describe, expect, it } from 'vitest';
import { BenchContext, MiB } from './context.js';
import { KIB, type TracePlan, isPage, keyChain, pageBuffers, stampPage } from './kvcache-tasks.js';
import { TraceKeys, traceRequests, workingSetPages } from './kvcache-trace.js';
import { type KvcachePlan, kvcachePlan, kvcacheSideBySide, kvcacheSteps, runKvcacheSuite } from './kvcache.js';
import { parseBenchArgs } from './options.js';
import { ProgressLine } from './progress.js';
import { RespError, RespParser, type RespReply } from './resp-client.js';

function parseAll(bytes: Buffer, cut: number): RespReply[] {
  const replies: RespReply[] = [];
  const parser = new RespParser((r) => replies.push(r));
  for (let at = 0; at < bytes.length; at += cut) parser.push(bytes.subarray(at, at + cut));
  return replies;
}

const TINY_TRACE: TracePlan = {
  seed: 3,
  systemPrompts: 2,
  systemPages: 2,
  conversations: 6,
  turns: 2,
  pagesPerTurn: 1,
  activeConversations: 3,
  zipfExponent: 1,
  pageBytes: 64 * KIB,
  leaseMs: 500,
};

describe('bench kvcache: pure parts', () => {
  it('parses RESP replies cut anywhere: bulk values, nulls, nested arrays, errors, integers', () => {
    const value = Buffer.alloc(70_000, 7);
    value[69_999] = 13; // a CR inside a value is data
    const wire = Buffer.concat([
      Buffer.from('+OK\r\n:42\r\n-ERR nope\r\n$-1\r\n*3\r\n$70000\r\n'),
      value,
      Buffer.from('\r\n$-1\r\n*2\r\n:1\r\n$0\r\n\r\n*0\r\n'),
    ]);
    for (const cut of [1, 2, 3, 7, 4096, wire.length]) {
      const replies = parseAll(wire, cut);
      expect(replies.slice(0, 2)).toEqual(['OK', 42]);
      expect(replies[2]).toBeInstanceOf(RespError);
      expect(replies[3]).toBeNull();
      const [got, missing, nested] = replies[4] as RespReply[];
      expect((got as Buffer).equals(value)).toBe(true);
      expect(missing).toBeNull();
      expect(nested).toEqual([1, Buffer.alloc(0)]);
      expect(replies[5]).toEqual([]);
      expect(replies).toHaveLength(6);
    }
  });

  it("reads bulk strings into the caller's buffers when they are large enough, else allocates", () => {
    const wire = Buffer.from('*3\r\n$5\r\nhello\r\n$-1\r\n$6\r\nworld!\r\n');
    for (const cut of [1, 3, wire.length]) {
      const targets = [Buffer.alloc(8), Buffer.alloc(4)];
      let next = 0;
      const replies: RespReply[] = [];
      const parser = new RespParser(
        (r) => replies.push(r),
        () => targets[next++],
      );
      for (let at = 0; at < wire.length; at += cut) parser.push(wire.subarray(at, at + cut));
      const [hello, missing, world] = replies[0] as Buffer[];
      expect(hello!.toString()).toBe('hello');
      expect(hello!.buffer).toBe(targets[0]!.buffer); // a view of the caller's buffer, no copy
      expect(missing).toBeNull();
      expect(world!.toString()).toBe('world!'); // its buffer was too small: allocated
      expect(world!.buffer).not.toBe(targets[1]!.buffer);
    }
  });

  it('pages carry their key: a get of another page, a short or damaged value fails the check', () => {
    const [a, b] = keyChain('test', 2);
    expect(a!.length).toBe(32);
    expect(keyChain('test', 2)[1]!.equals(b!)).toBe(true); // deterministic: a get rebuilds the keys
    const [page] = pageBuffers(1, 64 * KIB);
    stampPage(page!, a!);
    expect(isPage(page, 64 * KIB, a!)).toBe(true);
    expect(isPage(page, 64 * KIB, b!)).toBe(false);
    expect(isPage(page!.subarray(0, 32 * KIB), 64 * KIB, a!)).toBe(false);
    expect(isPage(undefined, 64 * KIB, a!)).toBe(false);
    const damaged = Buffer.from(page!);
    damaged[64 * KIB - 1]! ^= 1;
    expect(isPage(damaged, 64 * KIB, a!)).toBe(false);
  });

  it('the trace: same seed, same requests; turns grow the prompt; working set counts distinct pages', () => {
    const requests = traceRequests(TINY_TRACE);
    expect(traceRequests(TINY_TRACE)).toEqual(requests);
    expect(requests).toHaveLength(12); // 6 conversations × 2 turns
    for (const r of requests) expect(r.pages).toBe(2 + (r.turn + 1));
    const keys = new TraceKeys(TINY_TRACE, 'run');
    const distinct = new Set(requests.flatMap((r) => keys.keys(r).map((k) => k.toString('hex'))));
    expect(workingSetPages(TINY_TRACE, requests)).toBe(distinct.size);
    // A second turn's prompt extends its first: one chain under the system prompt.
    const first = requests.find((r) => r.turn === 0)!;
    const second = requests.find((r) => r.turn === 1 && r.conversation === first.conversation)!;
    expect(keys.keys(second).slice(0, first.pages)).toEqual(keys.keys(first));
  });

  it('plans every case on both stores, Spindle first; --quick drops batches of 64', () => {
    const full = kvcacheSteps(kvcachePlan(false));
    expect(full.filter((s) => s.kind === 'throughput')).toHaveLength(2 * 3 * 2 * 2 * 2);
    expect(kvcacheSteps(kvcachePlan(true)).filter((s) => s.kind === 'throughput')).toHaveLength(2 * 2 * 2 * 2 * 2);
    expect(full.slice(0, 4).map((s) => (s.kind === 'throughput' ? `${s.op} ${s.system}` : s.kind))).toEqual([
      'put spindle',
      'put redis',
      'get spindle',
      'get redis',
    ]);
  });
});

/** Tiny: 64 KiB pages in batches of 1 and 4, 1 and 2 clients, 200-key chains, a dozen-prompt trace. */
const TINY: KvcachePlan = {
  pageSizes: [64 * KIB],
  batches: [1, 4],
  clients: [1, 2],
  phaseSeconds: 0.2,
  caseBytes: 2 * MiB,
  minGetBatches: 2,
  matchChains: 2,
  matchChainKeys: 200,
  matchQueries: 6,
  matchLeaseMs: 1_000,
  trace: TINY_TRACE,
};

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('bench kvcache: the suite', () => {
  it('runs with tiny sizes against a real cluster and redis-server, then stops Redis', {
    timeout: 120_000,
  }, async () => {
    const options = parseBenchArgs(['kvcache', '--quick', '--silent']);
    const ctx = new BenchContext('kvcache', options, new ProgressLine(false));
    let redisPid = -1;
    try {
      ({ redisPid } = await runKvcacheSuite(ctx, TINY));
    } finally {
      await ctx.close();
    }
    expect(redisPid).toBeGreaterThan(0);
    expect(processGone(redisPid)).toBe(true);
    const cases = ctx.rows.map((r) => r.case);
    const expected: string[] = [];
    for (const batch of [1, 4])
      for (const clients of [1, 2])
        for (const op of ['put', 'get'])
          expected.push(`${op}.64KiB.b${batch}.c${clients}.redis`, `${op}.64KiB.b${batch}.c${clients}.spindle`);
    expected.push('match-prefix.200.redis', 'match-prefix.200.spindle', 'match-prefix.200.lease.spindle');
    expected.push('trace.redis', 'trace.spindle');
    expect(cases).toEqual(expected);

    for (const row of ctx.rows.filter((r) => r.case.startsWith('put.') || r.case.startsWith('get.'))) {
      expect(row.unit).toBe('GB/s');
      expect(row.ops).toBeGreaterThan(0);
      expect(row.bytes).toBe(row.ops * Number(row.config.batch) * 64 * KIB); // pages × page size
      expect(row.throughput).toBeGreaterThan(0);
      expect(row.p50Ms).toBeGreaterThan(0);
      expect(row.p99Ms).toBeGreaterThanOrEqual(row.p50Ms!);
    }
    for (const spindle of ctx.rows.filter((r) => r.config.store === 'spindle')) {
      const redis = ctx.rows.find((r) => r.case === spindle.case.replace(/(\.lease)?\.spindle$/, '.redis'))!;
      expect(redis).toMatchObject({ ratio: null, limitName: null });
      expect(spindle.limitValue).toBe(redis.throughput);
      expect(spindle.ratio).toBeCloseTo(spindle.throughput / redis.throughput, 9);
    }
    for (const match of ctx.rows.filter((r) => r.case.startsWith('match-prefix.'))) {
      expect(match).toMatchObject({ unit: 'ops/s', ops: 6, bytes: 0 });
    }
    for (const trace of ctx.rows.filter((r) => r.case.startsWith('trace.'))) {
      const hitRate = Number(trace.config.hitRate);
      expect(hitRate).toBeGreaterThanOrEqual(0);
      expect(hitRate).toBeLessThanOrEqual(1);
      expect(trace.ops).toBe(12);
      expect(trace.bytes % (64 * KIB)).toBe(0); // bytes read: whole pages
      expect(trace.bytes).toBe(trace.config.bytesRead);
      expect(Number(trace.config.bytesWritten)).toBeGreaterThan(0);
    }
    const table = kvcacheSideBySide(ctx.rows);
    expect(table.split('\n').filter((l) => l.startsWith('| trace |'))).toHaveLength(1);
    expect(table).toMatch(/\| get\.64KiB\.b4\.c2 \| .* GB\/s \| .* GB\/s \| .*× \|/);
  });
});
