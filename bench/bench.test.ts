// Unit tests of the pure parts of the benchmark suite: statistics, option parsing and rendering.
// No timing assertions: measurements themselves are never tested here.
import { describe, expect, it } from 'vitest';
import { BenchUsageError, parseBenchArgs, parseSuites } from './options.js';
import { TUNED_MALLOC_ENV, mallocSettings, withMallocEnv } from '../cluster/index.js';
import { configText, markdownTable, svgChart } from './render.js';
import { formatFigure, gbPerSecond, median, percentile, ratioTo, summarize } from './stats.js';
import type { BenchRow } from './types.js';

describe('stats', () => {
  it('nearest-rank percentiles are observed values', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile(samples, 100)).toBe(100);
    expect(percentile(samples, 0)).toBe(1);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([3, 1, 2], 50)).toBe(2);
    expect(samples[0]).toBe(100); // input untouched
  });

  it('percentile of nothing is NaN and bad p throws', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('summarize gives p50, p99, min, max, mean', () => {
    const s = summarize([4, 1, 3, 2]);
    expect(s).toEqual({ count: 4, p50: 2, p99: 4, min: 1, max: 4, mean: 2.5 });
    expect(summarize([]).count).toBe(0);
    expect(median([5, 1, 9])).toBe(5);
  });

  it('throughput and ratios', () => {
    expect(gbPerSecond(2e9, 2)).toBe(1);
    expect(gbPerSecond(1, 0)).toBe(0);
    expect(ratioTo(1, 4)).toBe(0.25);
    expect(ratioTo(1, 0)).toBeNull();
    expect(ratioTo(1, undefined)).toBeNull();
    expect(formatFigure(0.123456)).toBe('0.123');
    expect(formatFigure(12345.6)).toBe('12,346');
    expect(formatFigure(null)).toBe('—');
  });
});

describe('options', () => {
  it('parses a suite and flags', () => {
    const o = parseBenchArgs([
      'seq-read',
      '--quick',
      '--json',
      'out.json',
      '--meta',
      '127.0.0.1:7400',
      '--replicas=3',
      '--clients',
      '1,2',
    ]);
    expect(o).toMatchObject({
      suites: ['seq-read'],
      quick: true,
      json: 'out.json',
      meta: '127.0.0.1:7400',
      replicas: [3],
      clients: [1, 2],
      silent: false,
    });
  });

  it('narrows rand-read to some depths and read sizes (KiB on the command line, bytes in the options)', () => {
    expect(parseBenchArgs(['rand-read', '--depths', '32,64', '--blocks=4'])).toMatchObject({
      depths: [32, 64],
      blocks: [4096],
    });
    expect(parseBenchArgs(['rand-read']).depths).toBeUndefined();
    expect(() => parseBenchArgs(['rand-read', '--depths', '0'])).toThrow(/--depths/);
  });

  it('defaults: replicas 1 and 3, clients 1 and 4', () => {
    const o = parseBenchArgs(['meta']);
    expect(o.replicas).toEqual([1, 3]);
    expect(o.clients).toEqual([1, 4]);
    expect(o.quick).toBe(false);
    expect(o.transport).toBe('bulk');
    expect(o.malloc).toBe('tuned');
  });

  it('--transport and --malloc choose the data path and the allocator of every process', () => {
    expect(parseBenchArgs(['seq-read', '--transport', 'grpc', '--malloc=default'])).toMatchObject({
      transport: 'grpc',
      malloc: 'default',
    });
    expect(() => parseBenchArgs(['seq-read', '--transport', 'rdma'])).toThrow(/--transport takes bulk or grpc/);
    expect(() => parseBenchArgs(['seq-read', '--malloc', 'jemalloc'])).toThrow(/--malloc takes tuned or default/);
    const inherited = { PATH: '/bin', MALLOC_ARENA_MAX: '2', MALLOC_TOP_PAD_: '1' };
    expect(withMallocEnv(inherited, 'default')).toEqual({ PATH: '/bin' });
    expect(withMallocEnv(inherited, 'tuned')).toMatchObject({
      PATH: '/bin',
      MALLOC_ARENA_MAX: '2',
      ...TUNED_MALLOC_ENV,
    });
    expect(withMallocEnv({ SPINDLE_MALLOC: 'default', MALLOC_TOP_PAD_: '1' })).toEqual({ SPINDLE_MALLOC: 'default' });
    expect(mallocSettings('default')).toEqual({ SPINDLE_MALLOC: 'default' });
  });

  it('--kv chooses the metadata stores the meta suite measures side by side', () => {
    expect(parseBenchArgs(['meta']).kv).toEqual(['lmdb']);
    expect(parseBenchArgs(['meta', '--kv', 'lmdb,etcd']).kv).toEqual(['lmdb', 'etcd']);
    expect(() => parseBenchArgs(['meta', '--kv', 'tikv'])).toThrow(/--kv takes lmdb, etcd or lmdb,etcd/);
  });

  it('all expands to every suite; comma lists keep order without repeats', () => {
    expect(parseSuites('all')).toEqual([
      'limits',
      'seq-read',
      'seq-write',
      'cli',
      'rand-read',
      'meta',
      'mount',
      'loader',
      'checkpoint',
      'kvcache',
      'auth',
      'scrub',
    ]);
    expect(parseSuites('meta,limits,meta')).toEqual(['meta', 'limits']);
  });

  it('rejects what it cannot use, with a message', () => {
    expect(() => parseBenchArgs([])).toThrow(BenchUsageError);
    expect(() => parseBenchArgs(['nope'])).toThrow(/unknown suite "nope"/);
    expect(() => parseBenchArgs(['meta', '--bogus'])).toThrow(/unknown option --bogus/);
    expect(() => parseBenchArgs(['meta', '--json'])).toThrow(/--json needs a value/);
    expect(() => parseBenchArgs(['meta', '--meta', 'localhost'])).toThrow(/host:port/);
    expect(() => parseBenchArgs(['meta', '--replicas', '0'])).toThrow(/integers from 1/);
    expect(() => parseBenchArgs(['meta', 'limits'])).toThrow(/one suite argument/);
  });
});

function row(over: Partial<BenchRow>): BenchRow {
  return {
    suite: 'seq-read',
    case: 'read.r3.c1',
    config: { replicas: 3, clients: 1 },
    throughput: 1.5,
    unit: 'GB/s',
    p50Ms: 2,
    p99Ms: 9.5,
    bytes: 1e9,
    ops: 100,
    seconds: 1,
    ratio: 0.5,
    limitName: 'tcp.loopback',
    limitValue: 3,
    allocator: { MALLOC_TOP_PAD_: '268435456' },
    machine: { cpus: 2, cpuModel: 'Test CPU', memoryBytes: 2 ** 31, kernel: '6.1', node: 'v20.0.0', hostname: 'h' },
    at: '2026-01-01T00:00:00.000Z',
    load1: 1.5,
    ...over,
  };
}

describe('render', () => {
  it('markdown: machine line, header, one line per row, limits marked', () => {
    const md = markdownTable([
      row({}),
      row({
        case: 'limit.tcp',
        ratio: null,
        limitName: null,
        limitValue: null,
        throughput: 3,
        p50Ms: null,
        p99Ms: null,
      }),
    ]);
    const lines = md.trimEnd().split('\n');
    expect(lines[0]).toContain('2 × Test CPU, 2.0 GiB, kernel 6.1, Node v20.0.0');
    expect(lines[0]).toContain('MALLOC_TOP_PAD_=268435456');
    expect(lines[1]).toBe('1-minute load average while measuring: 1.5–1.5 on 2 CPUs.');
    expect(lines[3]).toBe('| suite | case | config | throughput | unit | p50 ms | p99 ms | ratio | to limit |');
    expect(lines[5]).toBe(
      '| seq-read | read.r3.c1 | replicas=3 clients=1 | 1.5 | GB/s | 2 | 9.5 | 0.5× | `tcp.loopback` (3 GB/s) |',
    );
    expect(lines[6]).toBe('| seq-read | limit.tcp | replicas=3 clients=1 | 3 | GB/s | — | — | limit |  |');
    expect(lines).toHaveLength(7);
  });

  it('markdown lists row notes below the table', () => {
    const md = markdownTable([row({ notes: 'median of 3' })]);
    expect(md.trimEnd().split('\n').slice(-2)).toEqual(['Notes:', '- seq-read read.r3.c1: median of 3']);
  });

  it('markdown escapes pipes in cells', () => {
    expect(markdownTable([row({ case: 'a|b' })])).toContain('a\\|b');
    expect(configText({ a: 1, b: 'x' })).toBe('a=1 b=x');
  });

  it('svg: well-formed, one bar per row, escaped text, bar length follows the ratio', () => {
    const svg = svgChart([row({ case: 'x<y', ratio: 0.5 }), row({ case: 'full', ratio: 1 })], { maxRatio: 1 });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('x&lt;y');
    expect(svg).not.toContain('x<y');
    const widths = [...svg.matchAll(/<rect x="330" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toEqual([210, 420]);
  });

  it('svg clips ratios above the axis and draws limits full length', () => {
    const svg = svgChart([row({ ratio: 9 }), row({ ratio: null, limitName: null })], { maxRatio: 2 });
    const widths = [...svg.matchAll(/<rect x="330" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toEqual([420, 210]);
    expect(svg).toContain('(limit)');
  });

  it('svg switches to a log axis when a ratio is tiny: 1× is full length, each decade an equal step', () => {
    const svg = svgChart([row({ ratio: 0.01 }), row({ ratio: 0.1 }), row({ ratio: 1 })], { maxRatio: 1 });
    expect(svg).toContain('(log scale)');
    const widths = [...svg.matchAll(/<rect x="330" y="\d+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(widths).toEqual([140, 280, 420]);
    expect(svgChart([row({ ratio: 0.01 })], { scale: 'linear', maxRatio: 1 })).not.toContain('log scale');
  });
});
