// meta's requestStorageBudgetMs (the time meta may spend on storage inside one client request):
// its presets against the timeouts around it, and its validation.
import { describe, expect, it } from 'vitest';
import { clientConfig, metaConfig, type Preset } from './config.js';
import { ErrorCode, SpindleError } from './errors.js';

describe('meta requestStorageBudgetMs', () => {
  it.each<[Preset, number]>([
    ['production', 20_000],
    ['test', 3_000],
  ])('%s preset: %i ms, above one storage call deadline and below the client attempt timeout', (preset, ms) => {
    const meta = metaConfig(preset);
    expect(meta.requestStorageBudgetMs).toBe(ms);
    expect(meta.requestStorageBudgetMs).toBeGreaterThan(meta.storageRpcTimeoutMs);
    expect(meta.requestStorageBudgetMs).toBeLessThan(clientConfig(preset).rpcTimeoutMs);
  });

  it('reads human durations and refuses values below 1 ms', () => {
    expect(metaConfig('test', { requestStorageBudgetMs: '4s' }).requestStorageBudgetMs).toBe(4_000);
    expect(() => metaConfig('test', { requestStorageBudgetMs: 0 })).toThrow(/requestStorageBudgetMs: .*minimum 1/);
  });

  it('must be at least storageRpcTimeoutMs: one storage call that answers in time fits in it', () => {
    expect(metaConfig('test', { requestStorageBudgetMs: '2s' }).requestStorageBudgetMs).toBe(2_000);
    for (const overrides of [{ requestStorageBudgetMs: '1999ms' }, { storageRpcTimeoutMs: '4s' }]) {
      let caught: unknown;
      try {
        metaConfig('test', overrides);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(SpindleError);
      expect((caught as SpindleError).errorCode).toBe(ErrorCode.CONFIG_INVALID);
      expect((caught as SpindleError).message).toMatch(
        /requestStorageBudgetMs: \d+ must be at least storageRpcTimeoutMs \(\d+\): a storage call that answers in time/,
      );
    }
  });
});
