// Chain table builder: cuts the targets of N storage nodes (T targets each) into N·T/R chains of R
// replicas. Pure and deterministic: the same nodes and replica count always give the same chains.
//
// Guarantees (chain-table-builder.test.ts checks each):
// - every target is in exactly one chain;
// - the R targets of a chain sit on R distinct nodes;
// - every node heads ⌊C/N⌋ or ⌈C/N⌉ of the C chains, so write traffic (which enters at the head)
//   spreads evenly;
// - impossible requests (R > N, N·T not a multiple of R, nodes with different target counts) fail
//   with a message that says what to change.
//
// Construction. Lay the targets out in one sequence, target index major and node minor:
// position p holds target ⌊p/N⌋ of node p mod N. Chain c takes positions cR … cR+R-1. Any R
// consecutive positions have R distinct node residues (R <= N), so a chain never repeats a node.
// Chain c covers the nodes s, s+1, …, s+R-1 (mod N) with s = cR mod N. With g = gcd(R, N), the
// starts of N/g consecutive chains are the N/g distinct multiples of g, so its head is rotated by
// j = ⌊c / (N/g)⌋ mod g (j < g <= R keeps the head inside the chain): each run of N consecutive
// chains then heads every node exactly once, which gives the ⌊·⌋/⌈·⌉ balance.
import { ErrorCode, SpindleError } from '../../common/errors.js';

export interface BuilderNode {
  nodeId: number;
  /** Target ids hosted by the node (any order; sorted ascending before use). */
  targetIds: readonly number[];
}

export interface BuiltChain {
  chainId: number;
  /** Target ids, head first. */
  targetIds: number[];
}

export interface BuildChainTableOptions {
  /** Chain length. */
  replicas: number;
  /** Id of the first chain built; the others follow consecutively (default 1). */
  firstChainId?: number;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Builds the chains (see the file comment). Throws NOT_ENOUGH_NODES or INVALID_ARGUMENT. */
export function buildChainTable(nodes: readonly BuilderNode[], options: BuildChainTableOptions): BuiltChain[] {
  const replicas = options.replicas;
  const firstChainId = options.firstChainId ?? 1;
  if (!Number.isSafeInteger(replicas) || replicas < 1) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `replicas must be a positive integer, got ${replicas}`);
  }
  if (!Number.isSafeInteger(firstChainId) || firstChainId < 1) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `the first chain id must be a positive integer, got ${firstChainId}`,
    );
  }
  const sorted = [...nodes]
    .map((node) => ({ nodeId: node.nodeId, targetIds: [...node.targetIds].sort((a, b) => a - b) }))
    .sort((a, b) => a.nodeId - b.nodeId);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.nodeId === sorted[i - 1]!.nodeId) {
      throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `node ${sorted[i]!.nodeId} is listed twice`);
    }
  }
  const seenTargets = new Set<number>();
  for (const node of sorted) {
    for (const targetId of node.targetIds) {
      if (seenTargets.has(targetId)) {
        throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `target ${targetId} is listed twice`);
      }
      seenTargets.add(targetId);
    }
  }

  const nodeCount = sorted.length;
  if (replicas > nodeCount) {
    throw new SpindleError(
      ErrorCode.NOT_ENOUGH_NODES,
      `chains of ${replicas} replicas need ${replicas} distinct storage nodes, but ${nodeCount} ` +
        `${nodeCount === 1 ? 'is' : 'are'} available: ` +
        `start more storage nodes or lower --replicas to at most ${nodeCount}`,
    );
  }
  const targetsPerNode = sorted[0]!.targetIds.length;
  const uneven = sorted.find((node) => node.targetIds.length !== targetsPerNode);
  if (uneven !== undefined) {
    const counts = sorted.map((node) => `node ${node.nodeId}: ${node.targetIds.length}`).join(', ');
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `every storage node must have the same number of targets to build a chain table (${counts}): ` +
        'start the nodes with the same --targets',
    );
  }
  if (targetsPerNode === 0) {
    throw new SpindleError(
      ErrorCode.NOT_ENOUGH_NODES,
      'the storage nodes have no targets: start them with --targets of at least 1',
    );
  }
  const targetCount = nodeCount * targetsPerNode;
  if (targetCount % replicas !== 0) {
    throw new SpindleError(
      ErrorCode.NOT_ENOUGH_NODES,
      `${nodeCount} nodes × ${targetsPerNode} targets = ${targetCount} targets cannot be cut into chains of ` +
        `${replicas}: choose --targets or the number of storage nodes so that their product is a multiple of ` +
        `${replicas}, or change --replicas`,
    );
  }

  const chainCount = targetCount / replicas;
  const blockLength = nodeCount / gcd(replicas, nodeCount);
  const rotations = nodeCount / blockLength; // = gcd(replicas, nodeCount)
  const chains: BuiltChain[] = [];
  for (let c = 0; c < chainCount; c++) {
    const members: number[] = [];
    for (let k = 0; k < replicas; k++) {
      const position = c * replicas + k;
      members.push(sorted[position % nodeCount]!.targetIds[Math.floor(position / nodeCount)]!);
    }
    const headOffset = Math.floor(c / blockLength) % rotations;
    chains.push({
      chainId: firstChainId + c,
      targetIds: [...members.slice(headOffset), ...members.slice(0, headOffset)],
    });
  }
  return chains;
}
