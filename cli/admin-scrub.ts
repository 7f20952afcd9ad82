// `spindle admin scrub`: asks every live storage node (Storage.ScrubStatus) what its scrubber checked
// and which corrupt local chunks were repaired — from a client read or by the scrubber — and how.
// A node that does not answer is shown with its error; the others are still reported.
import { callUnary, channelCredentials } from '../common/rpc.js';
import { adminChannelOptions } from './credentials.js';
import { StorageClient, type RoutingInfo, type ScrubStatusResponse } from '../proto/index.js';
import { formatBytes, formatTable } from './format.js';

const SCRUB_STATUS_TIMEOUT_MS = 10_000;

export interface ScrubRow {
  nodeId: number;
  address: string;
  /** The node's answer, or why there is none. */
  status: ScrubStatusResponse | undefined;
  error?: string;
}

export async function scrubRows(routing: RoutingInfo, meta: string): Promise<ScrubRow[]> {
  return Promise.all(
    routing.nodes
      .filter((node) => node.alive && node.address !== '')
      .map(async (node): Promise<ScrubRow> => {
        const client = new StorageClient(node.address, channelCredentials(), adminChannelOptions(meta));
        try {
          const status = await callUnary(client, client.scrubStatus, {}, `storage.ScrubStatus of node ${node.nodeId}`, {
            timeoutMs: SCRUB_STATUS_TIMEOUT_MS,
          });
          return { nodeId: node.nodeId, address: node.address, status };
        } catch (err) {
          return { nodeId: node.nodeId, address: node.address, status: undefined, error: (err as Error).message };
        } finally {
          client.close();
        }
      }),
  );
}

export function formatScrub(rows: ScrubRow[]): string[] {
  const table = [['NODE', 'RATE/S', 'PASSES', 'CHECKED', 'CORRUPT FOUND', 'REPAIRED', 'REPAIR FAILED']];
  const repairs: string[] = [];
  for (const r of rows) {
    const s = r.status;
    if (s === undefined) {
      table.push([String(r.nodeId), '-', '-', `no answer: ${r.error ?? ''}`, '-', '-', '-']);
      continue;
    }
    table.push([
      String(r.nodeId),
      s.scrubBytesPerSec === 0 ? 'off' : formatBytes(s.scrubBytesPerSec),
      String(s.passesDone),
      `${s.chunksChecked} chunks, ${formatBytes(s.bytesChecked)}`,
      String(s.corruptFound),
      String(s.repaired),
      String(s.repairFailed),
    ]);
    for (const e of s.recent) {
      const how =
        e.outcome === 'repaired'
          ? `repaired from target ${e.fromTargetId}`
          : `${e.outcome}${e.error ? `: ${e.error}` : ''}`;
      repairs.push(
        `${new Date(e.atMs).toISOString()} node ${r.nodeId} target ${e.targetId} chunk ` +
          `${e.chunk?.ino}:${e.chunk?.index} v${e.commitVersion} (found by ${e.foundBy}): ${how}`,
      );
    }
  }
  const lines = formatTable(table, [true, true, true, false, true, true, true]);
  return repairs.length === 0 ? [...lines, 'no repairs'] : [...lines, 'recent repairs:', ...repairs];
}
