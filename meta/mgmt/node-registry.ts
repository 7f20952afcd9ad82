// Storage node registration and heartbeats.
//
// Registration (persisted): a new node (id 0) gets the next id from 1 up, and its targets become
// `node_id * 1000 + index` (common/target-ids.ts); a known id re-registering updates its address
// and host name and may add targets (never remove them: a target in a chain cannot disappear by
// restarting a process).
// A retried first registration (id 0, same address, same target paths as a known node) answers
// with that node's id instead of creating a second node: no two live processes share an address.
// Who may register or heartbeat which id: node-identity.ts.
//
// Heartbeats (in memory only, never persisted: they would turn every second into a write): the
// last heartbeat time of each node and the last reported state, used and capacity bytes of each
// target. A node counts as alive while its last heartbeat (or registration) is younger than the
// node lease. A node that has not been heard from for the failure timeout is marked failed
// (heartbeat-checker.ts): its targets count as locally OFFLINE until it heartbeats again.
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { TARGETS_PER_NODE_MAX } from '../../common/constants.js';
import { NODE_ID_MAX, targetIdOf } from '../../common/target-ids.js';
import { LocalTargetState, PublicTargetState, type ResyncProgress } from '../../proto/index.js';
import type { ClusterDraft, ClusterState, TargetRecord } from './cluster-store.js';
import { checkNodeBinding, type NodeCaller, registrationNodeId } from './node-identity.js';
import { HOSTNAME_MAX_BYTES, NODE_ADDRESS_MAX_BYTES, TARGET_PATH_MAX_BYTES } from './constants.js';
import { invalid, requireAddress, requireArray, requireInt, requireObject, requireString } from './validate.js';

export interface Registration {
  nodeId: number;
  address: string;
  hostname: string;
  targetPaths: string[];
  /** '' when the node serves chunk bytes over gRPC only. */
  bulkAddress: string;
}

/** Checks a RegisterNode request (see validate.ts for the style of the errors). */
export function validateRegistration(request: unknown): Registration {
  const body = requireObject(request, 'RegisterNode request');
  const nodeId = requireInt(body['nodeId'] ?? 0, 'node_id', 0, NODE_ID_MAX);
  const address = requireAddress(body['address'], 'address', NODE_ADDRESS_MAX_BYTES);
  const hostname = requireString(body['hostname'], 'hostname', HOSTNAME_MAX_BYTES, false);
  const paths = requireArray(body['targetPaths'], 'target_paths', TARGETS_PER_NODE_MAX);
  if (paths.length === 0)
    throw invalid('target_paths is empty: a storage node registers at least one target directory');
  const targetPaths = paths.map((path, i) => requireString(path, `target_paths[${i}]`, TARGET_PATH_MAX_BYTES, true));
  const duplicate = targetPaths.find((path, i) => targetPaths.indexOf(path) !== i);
  if (duplicate !== undefined)
    throw invalid(`target_paths lists ${JSON.stringify(duplicate)} twice: each target is its own directory`);
  const bulk = body['bulkAddress'];
  const bulkAddress =
    bulk === undefined || bulk === '' ? '' : requireAddress(bulk, 'bulk_address', NODE_ADDRESS_MAX_BYTES);
  return { nodeId, address, hostname, targetPaths, bulkAddress };
}

function targetsOfNode(state: ClusterState, nodeId: number): TargetRecord[] {
  return [...state.targets.values()]
    .filter((target) => target.nodeId === nodeId)
    .sort((a, b) => a.targetId - b.targetId);
}

/** What a caller that is not a storage node may do (an admin, or anyone while auth is off). */
const UNBOUND_CALLER: NodeCaller = { describe: 'a caller without a node credential' };

/**
 * Applies a registration to the draft; returns the node id and whether the node is new.
 * Throws NODE_NOT_FOUND for an unknown non-zero id (unless it is the caller's own node id: a node
 * whose credential names its id joins under it), PERMISSION_DENIED when the caller may not act for
 * the id (node-identity.ts), and INVALID_ARGUMENT for fewer targets than the node registered
 * before, leaving the draft untouched.
 */
export function applyRegistration(
  draft: ClusterDraft,
  registration: Registration,
  caller: NodeCaller = UNBOUND_CALLER,
): { nodeId: number; created: boolean } {
  let nodeId = registrationNodeId(caller, registration.nodeId);
  let created = false;
  if (nodeId === 0) {
    // A retry of a first registration whose answer was lost.
    for (const node of draft.nodes.values()) {
      if (node.address !== registration.address) continue;
      const paths = targetsOfNode(draft, node.nodeId).map((target) => target.path);
      if (
        paths.length === registration.targetPaths.length &&
        paths.every((path, i) => path === registration.targetPaths[i])
      ) {
        nodeId = node.nodeId;
        break;
      }
    }
    created = nodeId === 0;
    if (created) nodeId = draft.allocateNodeId();
  } else if (!draft.nodes.has(nodeId)) {
    if (caller.nodeId !== nodeId) {
      throw new SpindleError(
        ErrorCode.NODE_NOT_FOUND,
        `node ${nodeId} is not registered with this cluster manager: its data directory belongs to another ` +
          'cluster (or the meta data directory was replaced); ' +
          'start the storage node with an empty --data-dir to join as a new node',
      );
    }
    created = true;
    draft.claimNodeId(nodeId);
  }
  if (nodeId > NODE_ID_MAX)
    throw new SpindleError(ErrorCode.INTERNAL, `node ids are exhausted (largest is ${NODE_ID_MAX})`);
  const bound = draft.nodeCredentials.get(nodeId);
  checkNodeBinding(caller, nodeId, bound, 'register');

  const existing = targetsOfNode(draft, nodeId);
  if (registration.targetPaths.length < existing.length) {
    throw invalid(
      `node ${nodeId} registered ${existing.length} targets before ` +
        `but now reports ${registration.targetPaths.length}: ` +
        'targets cannot be removed by re-registering; restore the missing target directories',
    );
  }

  if (bound === undefined && caller.credential !== undefined) draft.bindNodeCredential(nodeId, caller.credential);
  draft.putNode({
    nodeId,
    address: registration.address,
    hostname: registration.hostname,
    bulkAddress: registration.bulkAddress,
  });
  registration.targetPaths.forEach((path, index) => {
    const targetId = targetIdOf(nodeId, index);
    const known = draft.targets.get(targetId);
    if (known !== undefined && known.path === path) return;
    draft.putTarget({
      targetId,
      nodeId,
      chainId: known?.chainId ?? 0,
      path,
      publicState: known?.publicState ?? PublicTargetState.SERVING,
    });
  });
  return { nodeId, created };
}

export interface TargetReport {
  localState: LocalTargetState;
  usedBytes: number;
  capacityBytes: number;
}

export interface Heartbeat {
  nodeId: number;
  targets: Array<{ targetId: number } & TargetReport>;
  routingVersion: number;
  resyncs: ResyncProgress[];
}

/** Checks a Heartbeat request against the registered nodes and targets, and its caller's identity. */
export function validateHeartbeat(
  state: ClusterState,
  request: unknown,
  caller: NodeCaller = UNBOUND_CALLER,
): Heartbeat {
  const body = requireObject(request, 'Heartbeat request');
  const nodeId = requireInt(body['nodeId'], 'node_id', 0, NODE_ID_MAX);
  if (nodeId === 0) throw invalid('node_id is missing: register the node first and heartbeat with the id it was given');
  if (!state.nodes.has(nodeId)) {
    throw new SpindleError(
      ErrorCode.NODE_NOT_FOUND,
      `node ${nodeId} is not registered: register it again (RegisterNode) before heartbeating`,
    );
  }
  checkNodeBinding(caller, nodeId, state.nodeCredentials.get(nodeId), 'heartbeat');
  const routingVersion = requireInt(body['routingVersion'] ?? 0, 'routing_version', 0);
  const items = requireArray(body['targets'], 'targets', TARGETS_PER_NODE_MAX);
  const seen = new Set<number>();
  const targets = items.map((item, i) => {
    const report = requireObject(item, `targets[${i}]`);
    const targetId = requireInt(report['targetId'], `targets[${i}].target_id`, 1, 0xffff_ffff);
    const target = state.targets.get(targetId);
    if (target === undefined || target.nodeId !== nodeId) {
      throw invalid(`targets[${i}]: target ${targetId} does not belong to node ${nodeId}`);
    }
    if (seen.has(targetId)) throw invalid(`targets[${i}]: target ${targetId} is reported twice`);
    seen.add(targetId);
    const reportedNode = report['nodeId'] ?? 0;
    if (reportedNode !== 0 && reportedNode !== nodeId) {
      throw invalid(`targets[${i}].node_id is ${String(reportedNode)} but the heartbeat comes from node ${nodeId}`);
    }
    const localState = requireInt(
      report['localState'] ?? 0,
      `targets[${i}].local_state`,
      0,
      LocalTargetState.LOCAL_OFFLINE,
    );
    const usedBytes = requireInt(report['usedBytes'] ?? 0, `targets[${i}].used_bytes`, 0);
    const capacityBytes = requireInt(report['capacityBytes'] ?? 0, `targets[${i}].capacity_bytes`, 0);
    return { targetId, localState: localState as LocalTargetState, usedBytes, capacityBytes };
  });
  const resyncItems = requireArray(body['resyncs'] ?? [], 'resyncs', TARGETS_PER_NODE_MAX);
  const resyncs = resyncItems.map((item, i): ResyncProgress => {
    const r = requireObject(item, `resyncs[${i}]`);
    const int = (key: string, field: string, min = 0) => requireInt(r[key] ?? 0, `resyncs[${i}].${field}`, min);
    return {
      chainId: int('chainId', 'chain_id', 1),
      chainVersion: int('chainVersion', 'chain_version'),
      targetId: int('targetId', 'target_id', 1),
      fromTargetId: int('fromTargetId', 'from_target_id'),
      chunksScanned: int('chunksScanned', 'chunks_scanned'),
      chunksCopied: int('chunksCopied', 'chunks_copied'),
      chunksRemoved: int('chunksRemoved', 'chunks_removed'),
      bytesCopied: int('bytesCopied', 'bytes_copied'),
      done: r['done'] === true,
      startedUs: int('startedUs', 'started_us'),
      updatedUs: int('updatedUs', 'updated_us'),
    };
  });
  return { nodeId, targets, routingVersion, resyncs };
}

/** Runtime liveness of nodes and the last reports of targets (in memory). */
export class HeartbeatTable {
  private readonly lastSeenUs = new Map<number, number>();
  private readonly reports = new Map<number, TargetReport>();
  private readonly failed = new Set<number>();
  private readonly resyncs = new Map<number, ResyncProgress>();

  /** A registration or heartbeat from `nodeId` at `nowUs`; a failed node is alive again. */
  touch(nodeId: number, nowUs: number): void {
    this.lastSeenUs.set(nodeId, nowUs);
    this.failed.delete(nodeId);
  }

  record(heartbeat: Heartbeat, nowUs: number): void {
    this.touch(heartbeat.nodeId, nowUs);
    for (const { targetId, localState, usedBytes, capacityBytes } of heartbeat.targets) {
      this.reports.set(targetId, { localState, usedBytes, capacityBytes });
    }
    for (const progress of heartbeat.resyncs) this.resyncs.set(progress.targetId, progress);
  }

  /** Sets the local state of a target until its node reports again (a restart, an admin offline). */
  setLocalState(targetId: number, localState: LocalTargetState): void {
    const report = this.reports.get(targetId);
    this.reports.set(targetId, {
      usedBytes: report?.usedBytes ?? 0,
      capacityBytes: report?.capacityBytes ?? 0,
      localState,
    });
  }

  /** Marks a node failed (until its next heartbeat or registration). */
  markFailed(nodeId: number): void {
    this.failed.add(nodeId);
  }

  isFailed(nodeId: number): boolean {
    return this.failed.has(nodeId);
  }

  /**
   * The local state the state machine uses: OFFLINE while the node is failed, else the last
   * report; undefined when nothing was reported since the manager started.
   */
  effectiveLocalState(nodeId: number, targetId: number): LocalTargetState | undefined {
    if (this.failed.has(nodeId)) return LocalTargetState.LOCAL_OFFLINE;
    const local = this.reports.get(targetId)?.localState;
    return local === undefined || local === LocalTargetState.LOCAL_TARGET_STATE_INVALID ? undefined : local;
  }

  /** Last reported progress of the resync into `targetId`. */
  resync(targetId: number): ResyncProgress | undefined {
    return this.resyncs.get(targetId);
  }

  /** Last heartbeat of the node in µs since the epoch, 0 if none since this manager started. */
  lastHeartbeatUs(nodeId: number): number {
    return this.lastSeenUs.get(nodeId) ?? 0;
  }

  isAlive(nodeId: number, nowUs: number, leaseMs: number): boolean {
    const last = this.lastSeenUs.get(nodeId);
    return last !== undefined && !this.failed.has(nodeId) && nowUs - last <= leaseMs * 1000;
  }

  report(targetId: number): TargetReport | undefined {
    return this.reports.get(targetId);
  }
}
