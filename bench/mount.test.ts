// Unit tests of the pure parts of the mount suite (bench/mount.ts): fio JSON parsing, the ratio to
// the client library and the mount's ready line. No timing assertions.
import { describe, expect, it } from 'vitest';
import { parseFioRead, parseReadyLine, round3, versusLibrary } from './mount.js';

const fioJson = (read: Record<string, unknown>, error = 0) =>
  JSON.stringify({ 'fio version': 'fio-3.33', jobs: [{ jobname: 'randread', error, read }] });

describe('bench mount: pure parts', () => {
  it('parses the read side of fio JSON, percentiles in ms, warnings before the JSON ignored', () => {
    const read = {
      io_bytes: 4096 * 300,
      total_ios: 300,
      runtime: 3000,
      iops: 100.5,
      clat_ns: { percentile: { '50.000000': 2_500_000, '99.000000': 9_000_000 } },
    };
    const text = `fio: some warning\n${fioJson(read)}`;
    expect(parseFioRead(text)).toEqual({ ops: 300, bytes: 1_228_800, seconds: 3, iops: 100.5, p50Ms: 2.5, p99Ms: 9 });
  });

  it('fio: missing percentiles are null, missing iops is derived, a job error or no JSON throws', () => {
    expect(parseFioRead(fioJson({ io_bytes: 0, total_ios: 50, runtime: 2000 }))).toMatchObject({
      iops: 25,
      p50Ms: null,
      p99Ms: null,
    });
    expect(() => parseFioRead(fioJson({ total_ios: 1 }, 5))).toThrow(/error 5/);
    expect(() => parseFioRead('fio: no such file')).toThrow(/no JSON/);
    expect(() => parseFioRead(JSON.stringify({ jobs: [] }))).toThrow(/jobs\[0\]/);
  });

  it('ratio to the library figure, and none without a usable library figure', () => {
    expect(versusLibrary(0.05, 0.1)).toEqual({
      ratio: 0.5,
      note: '0.5× the client library (same workload, same run)',
    });
    expect(versusLibrary(1, undefined).ratio).toBeNull();
    expect(versusLibrary(1, 0).ratio).toBeNull();
    expect(versusLibrary(Number.NaN, 1).ratio).toBeNull();
    expect(round3(3.635504037218256)).toBe(3.64);
    expect(round3(null)).toBe('n/a');
  });

  it('ready line: the JSON spindle mount prints, anything else is undefined', () => {
    expect(parseReadyLine('{"mount":"/tmp/m","meta":"127.0.0.1:1","pid":42}')).toEqual({ mount: '/tmp/m', pid: 42 });
    expect(parseReadyLine('{"level":30,"msg":"x"}')).toBeUndefined();
    expect(parseReadyLine('not json')).toBeUndefined();
  });
});
