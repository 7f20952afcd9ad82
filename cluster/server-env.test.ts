// What a server's environment says: malloc settings as one mode, and a CPU profile directory that
// means what the launcher's caller meant although servers run with the package root as cwd.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CPU_PROFILE_DIR_ENV } from '../common/cpu-profile.js';
import { serverEnv, TUNED_MALLOC_ENV } from './server-env.js';

describe('serverEnv', () => {
  it('makes a relative CPU profile directory absolute against the launcher cwd', () => {
    expect(serverEnv({ [CPU_PROFILE_DIR_ENV]: 'prof/run-1' })[CPU_PROFILE_DIR_ENV]).toBe(
      join(process.cwd(), 'prof', 'run-1'),
    );
    expect(serverEnv({ [CPU_PROFILE_DIR_ENV]: '/tmp/prof' })[CPU_PROFILE_DIR_ENV]).toBe('/tmp/prof');
    expect(serverEnv({ [CPU_PROFILE_DIR_ENV]: '' })[CPU_PROFILE_DIR_ENV]).toBe('');
  });

  it('carries the malloc settings of the run', () => {
    expect(serverEnv({ SPINDLE_MALLOC: 'tuned' })).toMatchObject(TUNED_MALLOC_ENV);
    const plain = serverEnv({ SPINDLE_MALLOC: 'default', MALLOC_TOP_PAD_: '1' });
    expect(Object.keys(plain).filter((key) => key.startsWith('MALLOC_'))).toEqual([]);
  });
});
