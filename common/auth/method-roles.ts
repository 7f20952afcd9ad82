// Who may call what: the one table of every gRPC method of every Spindle service and the roles
// allowed to call it (docs/security.md). A server with authentication on refuses to start when a
// method it hosts is missing here, and common/auth/method-roles.test.ts fails for one missing from
// the table: adding an RPC means adding its row (CONTRIBUTING.md "Add an RPC").
import type { Role } from './principal.js';

const ANY: readonly Role[] = ['admin', 'client', 'storage'];
const USERS: readonly Role[] = ['admin', 'client'];
const ADMIN: readonly Role[] = ['admin'];
const NODES: readonly Role[] = ['storage'];

/** Services anyone may call: probes (health) and `grpcurl list` (reflection) carry no data. */
const OPEN_SERVICES: readonly string[] = [
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
];

const META_METHODS = [
  'Open',
  'Mkdirs',
  'Stat',
  'BatchStat',
  'BatchOpen',
  'ReadDir',
  'Rename',
  'Remove',
  'BatchRename',
  'BatchRemove',
  'Symlink',
  'ReadLink',
  'HardLink',
  'Truncate',
  'SetAttr',
  'SetLayout',
  'StatFs',
  'Sync',
  'MakeNode',
  'SetXattr',
  'GetXattr',
  'ListXattr',
  'RemoveXattr',
  'Lock',
  'RenewLockSession',
  'PollChanges',
];

function service(name: string, methods: Record<string, readonly Role[]>): Array<[string, readonly Role[]]> {
  return Object.entries(methods).map(([method, roles]) => [`/spindle.${name}/${method}`, roles]);
}

/** Full method path (`/spindle.Meta/Open`) → the roles allowed to call it. */
export const METHOD_ROLES: ReadonlyMap<string, readonly Role[]> = new Map([
  // The namespace: users; meta's own storage calls never come back to Meta.
  ...service('Meta', Object.fromEntries(META_METHODS.map((method) => [method, USERS]))),
  ...service('Mgmt', {
    RegisterNode: NODES,
    Heartbeat: NODES,
    // Routing is what every client and node needs to find chains.
    GetRoutingInfo: ANY,
    CreateChainTable: ADMIN,
    UpdateChain: ADMIN,
    OfflineTarget: ADMIN,
    CreateToken: ADMIN,
  }),
  ...service('Storage', {
    Write: USERS,
    // Chain replication and resync: only from another storage node (the handler checks it is the
    // target's predecessor).
    Update: NODES,
    SyncDone: NODES,
    // A resync compares replicas' chunk lists; an operator may look at them too (read-only).
    DumpChunkMeta: ['admin', 'storage'],
    // Clients read; a node repairing a chunk reads it from another replica.
    BatchRead: ANY,
    // Meta's garbage collection and length recovery (admin), and a head forwarding a removal.
    RemoveChunks: ['admin', 'storage'],
    QueryLastChunk: ADMIN,
    ScrubStatus: ADMIN,
  }),
  ...service('KvStore', {
    KvPut: USERS,
    KvGet: USERS,
    KvExists: USERS,
    KvRemove: USERS,
    KvMatchPrefix: USERS,
    KvNamespaceStats: ADMIN,
    KvEvict: ADMIN,
    KvRemoveNamespace: ADMIN,
  }),
  // The agent's services (its callers are local users of one client credential).
  ...service('Loader', { Describe: USERS, StreamBatches: USERS }),
  ...service('Checkpoints', {
    Begin: USERS,
    WriteShard: USERS,
    AdoptShard: USERS,
    Finish: USERS,
    Abort: USERS,
    List: USERS,
    Load: USERS,
    ReadShard: USERS,
    Delete: USERS,
  }),
  ...service('KvCache', { Put: USERS, Get: USERS, Exists: USERS, Remove: USERS, MatchPrefix: USERS }),
]);

/** The roles allowed to call `path`, 'open' for an open service, undefined for a method not in the table. */
export function rolesOf(path: string): readonly Role[] | 'open' | undefined {
  const roles = METHOD_ROLES.get(path);
  if (roles !== undefined) return roles;
  const serviceName = path.split('/')[1] ?? '';
  return OPEN_SERVICES.includes(serviceName) ? 'open' : undefined;
}
