// spindle_mgmt_* metrics of the cluster manager, registered on the process's injected Registry.
import { Counter, Gauge, type Registry } from 'prom-client';

export interface MgmtGauges {
  routingVersion: number;
  nodes: number;
  nodesAlive: number;
  chains: number;
}

export interface MgmtMetrics {
  /** Heartbeats accepted. */
  heartbeats: Counter;
  /** Persisted changes (each bumps the routing version). */
  changes: Counter;
  /** Nodes declared failed by the heartbeat checker. */
  nodeFailures: Counter;
  /** Chains reconfigured by the target state machine. */
  chainUpdates: Counter;
}

export function mgmtMetrics(registry: Registry, gauges: () => MgmtGauges): MgmtMetrics {
  const gauge = (name: string, help: string, read: (g: MgmtGauges) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(gauges()));
      },
    });
  gauge('spindle_mgmt_routing_version', 'Current routing info version.', (g) => g.routingVersion);
  gauge('spindle_mgmt_nodes', 'Registered storage nodes.', (g) => g.nodes);
  gauge(
    'spindle_mgmt_nodes_alive',
    'Storage nodes whose last heartbeat is within the node lease.',
    (g) => g.nodesAlive,
  );
  gauge('spindle_mgmt_chains', 'Replication chains.', (g) => g.chains);
  return {
    heartbeats: new Counter({
      name: 'spindle_mgmt_heartbeats_total',
      help: 'Heartbeats accepted from storage nodes.',
      registers: [registry],
    }),
    changes: new Counter({
      name: 'spindle_mgmt_changes_total',
      help: 'Persisted cluster changes (registrations, chain tables, chain updates).',
      registers: [registry],
    }),
    nodeFailures: new Counter({
      name: 'spindle_mgmt_node_failures_total',
      help: 'Storage nodes declared failed after missing heartbeats for the failure timeout.',
      registers: [registry],
    }),
    chainUpdates: new Counter({
      name: 'spindle_mgmt_chain_updates_total',
      help: 'Chains reconfigured by the target state machine (each bumps the chain version).',
      registers: [registry],
    }),
  };
}
