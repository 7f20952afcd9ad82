// The command lines the launcher gives meta/main.ts and storage/main.ts: absolute paths (children
// run in the package root), the preset passed as it is, unset options left to the child.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metaFlags } from './meta-service.js';
import { storageFlags } from './storage-service.js';

describe('service command lines', () => {
  it('meta: absolute data dir and config, defaults for host and ports, optional flags only when set', () => {
    expect(metaFlags({ dataDir: 'data' })).toEqual([
      '--data-dir',
      resolve('data'),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--metrics-port',
      '0',
    ]);
    const flags = metaFlags({ dataDir: '/d', replicas: 2, storageNodes: 4, preset: 'test', config: 'c.json' });
    expect(flags.slice(8)).toEqual([
      '--replicas',
      '2',
      '--storage-nodes',
      '4',
      '--preset',
      'test',
      '--config',
      resolve('c.json'),
    ]);
  });

  it('storage: meta address, ports, targets, preset and the data path flags', () => {
    const flags = storageFlags({
      dataDir: 's1',
      meta: '127.0.0.1:7400',
      port: 7401,
      targets: 2,
      preset: 'test',
      dataTransport: 'grpc',
      bulkPort: 7501,
    });
    expect(flags).toEqual([
      '--data-dir',
      resolve('s1'),
      '--meta',
      '127.0.0.1:7400',
      '--host',
      '127.0.0.1',
      '--port',
      '7401',
      '--metrics-port',
      '0',
      '--targets',
      '2',
      '--preset',
      'test',
      '--data-transport',
      'grpc',
      '--bulk-port',
      '7501',
    ]);
  });
});
