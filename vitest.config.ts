// Test runner configuration: unit tests live beside the code, cross-module tests in test/.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Servers and CLIs that tests start run compiled JS: build it first.
    globalSetup: ['test/setup/build-dist.ts', 'test/setup/credentials-file.ts'],
    include: ['{proto,common,meta,storage,client,cli,mount,cluster,bench,agent,test}/**/*.test.ts'],
    // Integration tests start real processes; two cores cannot run many clusters at once.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
