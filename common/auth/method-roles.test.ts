// The method-roles table covers every gRPC method Spindle serves, and nothing else: a new RPC
// without a row fails here (and its server would refuse to start with authentication on).
import type { ServiceDefinition } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  CheckpointsService,
  KvCacheService,
  KvStoreService,
  LoaderService,
  MetaService,
  MgmtService,
  StorageService,
} from '../../proto/index.js';
import { METHOD_ROLES, rolesOf } from './method-roles.js';

const SERVICES: Record<string, ServiceDefinition> = {
  Meta: MetaService as unknown as ServiceDefinition,
  Mgmt: MgmtService as unknown as ServiceDefinition,
  Storage: StorageService as unknown as ServiceDefinition,
  KvStore: KvStoreService as unknown as ServiceDefinition,
  Loader: LoaderService as unknown as ServiceDefinition,
  Checkpoints: CheckpointsService as unknown as ServiceDefinition,
  KvCache: KvCacheService as unknown as ServiceDefinition,
};
const served = Object.values(SERVICES).flatMap((definition) => Object.values(definition).map((m) => m.path));

describe('METHOD_ROLES', () => {
  it('names the roles of every method of every Spindle service', () => {
    const missing = served.filter((path) => !METHOD_ROLES.has(path));
    expect(missing, 'add these methods to common/auth/method-roles.ts').toEqual([]);
  });

  it('has no row for a method that does not exist', () => {
    const stale = [...METHOD_ROLES.keys()].filter((path) => !served.includes(path));
    expect(stale).toEqual([]);
  });

  it('keeps cluster changes and node calls away from clients', () => {
    for (const method of ['CreateChainTable', 'UpdateChain', 'OfflineTarget', 'CreateToken'])
      expect(rolesOf(`/spindle.Mgmt/${method}`)).toEqual(['admin']);
    for (const path of ['/spindle.Mgmt/RegisterNode', '/spindle.Mgmt/Heartbeat', '/spindle.Storage/Update'])
      expect(rolesOf(path)).toEqual(['storage']);
    expect(rolesOf('/spindle.Storage/SyncDone')).not.toContain('client');
    expect(rolesOf('/grpc.health.v1.Health/Check')).toBe('open');
    expect(rolesOf('/spindle.Nope/Nothing')).toBeUndefined();
  });
});
