import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  clientConfig,
  configIntegerRange,
  formatConfigBytes,
  DEFAULT_PRESET,
  loadConfigFile,
  metaConfig,
  parseBytes,
  parseDuration,
  parsePreset,
  storageConfig,
} from './config.js';
import { ErrorCode, SpindleError } from './errors.js';

function thrown(call: () => unknown): SpindleError {
  try {
    call();
  } catch (err) {
    expect(err).toBeInstanceOf(SpindleError);
    return err as SpindleError;
  }
  throw new Error('expected a SpindleError');
}

describe('parseDuration', () => {
  it('reads units and bare numbers as milliseconds', () => {
    expect(parseDuration('1s')).toBe(1_000);
    expect(parseDuration('200ms')).toBe(200);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('1.5s')).toBe(1_500);
    expect(parseDuration('500us')).toBe(0.5);
    expect(parseDuration(' 250 ')).toBe(250);
    expect(parseDuration(42)).toBe(42);
  });

  it('rejects junk with a hint', () => {
    for (const bad of ['', '1x', 's', '-1s', '1 s s', '1S']) {
      expect(thrown(() => parseDuration(bad)).message).toMatch(/write a number and a unit/);
    }
    expect(() => parseDuration(-1)).toThrow(SpindleError);
    expect(() => parseDuration(Number.NaN)).toThrow(SpindleError);
  });
});

describe('parseBytes', () => {
  it('reads binary and decimal units', () => {
    expect(parseBytes('4MiB')).toBe(4 * 2 ** 20);
    expect(parseBytes('1GiB')).toBe(2 ** 30);
    expect(parseBytes('512KiB')).toBe(512 * 1024);
    expect(parseBytes('10MB')).toBe(10_000_000);
    expect(parseBytes('1.5kib')).toBe(1536);
    expect(parseBytes('7')).toBe(7);
    expect(parseBytes('7B')).toBe(7);
    expect(parseBytes(4096)).toBe(4096);
  });

  it('rejects fractions of a byte, negatives and junk', () => {
    for (const bad of ['0.3B', '4XB', 'MiB', '-1', '1e3']) expect(() => parseBytes(bad)).toThrow(SpindleError);
    expect(() => parseBytes(1.5)).toThrow(SpindleError);
    expect(() => parseBytes(-1)).toThrow(SpindleError);
  });

  it('formatConfigBytes writes sizes as a config file does, which parseBytes reads back', () => {
    expect(formatConfigBytes(4 * 2 ** 20)).toBe('4 MiB');
    expect(formatConfigBytes(1536)).toBe('1.5 KiB');
    expect(formatConfigBytes(12)).toBe('12 B');
    for (const bytes of [0, 12, 1536, 4 * 2 ** 20, 64 * 2 ** 20, 3 * 2 ** 40]) {
      expect(parseBytes(formatConfigBytes(bytes))).toBe(bytes);
    }
  });
});

describe('presets', () => {
  it('test preset uses short timers and small limits', () => {
    const meta = metaConfig('test');
    const storage = storageConfig('test');
    const client = clientConfig('test');
    expect(storage.heartbeatIntervalMs).toBeLessThanOrEqual(200);
    expect(meta.heartbeatIntervalMs).toBeLessThanOrEqual(200);
    expect(meta.readDirPageMax).toBeLessThan(metaConfig('production').readDirPageMax);
    expect(client.retryDeadlineMs).toBeLessThan(clientConfig('production').retryDeadlineMs);
  });

  it('production defaults match the contract', () => {
    const meta = metaConfig('production');
    expect(meta.replicas).toBe(3);
    expect(meta.chunkSizeDefaultBytes).toBe(4 * 2 ** 20);
    expect(meta.stripeWidthDefault).toBe(16);
    expect(metaConfig()).toEqual(meta);
  });

  it('returns frozen copies that do not share state', () => {
    const a = metaConfig('test');
    expect(Object.isFrozen(a)).toBe(true);
    const b = storageConfig('test', { sizeClassesBytes: ['64KiB', '1MiB'] });
    expect(b.sizeClassesBytes).toEqual([65536, 2 ** 20]);
    expect(storageConfig('test').sizeClassesBytes).toBeUndefined();
  });
});

describe('overrides', () => {
  it('accept human units and plain numbers', () => {
    const meta = metaConfig('production', { gcIntervalMs: '30s', chunkSizeDefaultBytes: '1MiB', replicas: 2 });
    expect(meta.gcIntervalMs).toBe(30_000);
    expect(meta.chunkSizeDefaultBytes).toBe(2 ** 20);
    expect(meta.replicas).toBe(2);
    const client = clientConfig('test', { rpcTimeoutMs: 1234, readBatchMaxBytes: '1MiB' });
    expect(client.rpcTimeoutMs).toBe(1234);
    expect(client.readBatchMaxBytes).toBe(2 ** 20);
  });

  it('list every bad key in one CONFIG_INVALID error', () => {
    const err = thrown(() =>
      metaConfig('test', {
        replicas: 0,
        gcIntervalMs: 'soon',
        chunkSizeDefaultBytes: '3MiB',
        bogusKey: 1,
        txnRetriesMax: 1.5,
      }),
    );
    expect(err.errorCode).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toMatch(/5 invalid keys/);
    for (const key of ['replicas', 'gcIntervalMs', 'chunkSizeDefaultBytes', 'bogusKey', 'txnRetriesMax']) {
      expect(err.message).toContain(`\n  ${key}: `);
    }
    expect(err.message).toMatch(/bogusKey: unknown key/);
    expect(err.message).toMatch(/not a power of two/);
  });

  it('checks relations between keys', () => {
    expect(thrown(() => storageConfig('test', { heartbeatIntervalMs: '1s', nodeLeaseMs: '1s' })).message).toMatch(
      /nodeLeaseMs/,
    );
    // A node must stop serving (half its lease) before the manager moves its chains on.
    expect(thrown(() => metaConfig('test', { nodeLeaseMs: '2s', nodeFailureTimeoutMs: '1s' })).message).toMatch(
      /nodeFailureTimeoutMs: 1000 must be at least nodeLeaseMs/,
    );
    expect(metaConfig('production').nodeFailureTimeoutMs).toBeGreaterThanOrEqual(metaConfig('production').nodeLeaseMs);
    expect(
      thrown(() => clientConfig('test', { retryBackoffInitialMs: '1s', retryBackoffMaxMs: '10ms' })).message,
    ).toMatch(/retryBackoffMaxMs/);
  });

  it('rejects wrong types and unknown presets', () => {
    expect(thrown(() => storageConfig('test', { fsync: 'yes' })).message).toMatch(/fsync: expected true or false/);
    expect(thrown(() => storageConfig('test', { sizeClassesBytes: ['1MiB', '64KiB'] })).message).toMatch(
      /strictly increasing/,
    );
    expect(thrown(() => metaConfig('staging' as never)).message).toMatch(/unknown preset/);
    expect(thrown(() => clientConfig('test', { dataTransport: 'rdma' })).message).toMatch(
      /dataTransport: expected one of bulk, grpc, got "rdma"/,
    );
    expect(clientConfig('test', { dataTransport: 'grpc' }).dataTransport).toBe('grpc');
    expect(storageConfig('production').dataTransport).toBe('bulk');
  });
});

describe('parsePreset: the one reader of --preset', () => {
  it('reads the presets, and nothing means the default', () => {
    expect(parsePreset('production')).toBe('production');
    expect(parsePreset('test')).toBe('test');
    expect(parsePreset(undefined)).toBe(DEFAULT_PRESET);
    expect(DEFAULT_PRESET).toBe('production');
  });

  it('refuses anything else as CONFIG_INVALID, naming the source and the presets', () => {
    const err = thrown(() => parsePreset('fast'));
    expect(err.errorCode).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toBe('--preset: unknown preset "fast" (use production or test)');
    for (const bad of ['', 'Test', null, 1]) expect(() => parsePreset(bad)).toThrow(SpindleError);
    expect(thrown(() => storageConfig('x' as never)).message).toBe(
      'storage config: unknown preset "x" (use production or test)',
    );
  });

  it("flags that set a config key accept the key's range", () => {
    expect(configIntegerRange('meta', 'replicas')).toEqual({ min: 1, max: 16 });
    expect(configIntegerRange('storage', 'targetsPerNode')).toEqual({ min: 1, max: 999 });
    expect(() => configIntegerRange('meta', 'heartbeatIntervalMs')).toThrow(/not an integer/);
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spindle-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads sections that feed the config builders', () => {
    const path = join(dir, 'good.json');
    writeFileSync(path, JSON.stringify({ meta: { gcIntervalMs: '2s' }, client: { rpcTimeoutMs: '5s' } }));
    const file = loadConfigFile(path);
    expect(metaConfig('test', file.meta).gcIntervalMs).toBe(2_000);
    expect(clientConfig('test', file.client).rpcTimeoutMs).toBe(5_000);
    expect(file.storage).toBeUndefined();
  });

  it('reports unknown sections, bad JSON and missing files', () => {
    const flat = join(dir, 'flat.json');
    writeFileSync(flat, JSON.stringify({ gcIntervalMs: '2s', storage: 3 }));
    const err = thrown(() => loadConfigFile(flat));
    expect(err.errorCode).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toMatch(/gcIntervalMs: unknown section/);
    expect(err.message).toMatch(/storage: expected an object/);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ nope');
    expect(thrown(() => loadConfigFile(broken)).message).toMatch(/not valid JSON/);
    expect(thrown(() => loadConfigFile(join(dir, 'missing.json'))).message).toMatch(/cannot read config file/);
  });
});
