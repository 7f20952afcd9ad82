// `spindle admin nodes|targets|chains [--json]`, `spindle admin offline-target TARGET_ID` and
// `spindle admin create-chains --replicas R` (3FS admin_cli list-nodes / list-targets / list-chains /
// offline-target / create-target): the commands and their
// options. What they show and do is in admin-report.ts, loaded when one runs, so that `spindle
// --help` and the file commands do not load gRPC for them.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { configIntegerRange } from '../common/config.js';
import { parseIntegerFlag } from '../common/flags.js';
import type { RoutingInfo } from '../proto/index.js';
import { addressOption, DEFAULT_META_ADDRESS } from './options.js';
import { addTokenCommands } from './token-commands.js';

/** Target ids are unsigned 32-bit numbers (`spindle admin targets` lists them). */
const TARGET_ID_RANGE = { min: 1, max: 0xffff_ffff } as const;

/** TARGET_ID as commander reads it: the shared integer reader's message, as a usage error. */
function targetIdArgument(value: string): number {
  try {
    return parseIntegerFlag('TARGET_ID', value, TARGET_ID_RANGE);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message} (see \`spindle admin targets\`)`);
  }
}

/** Replicas of the chains `create-chains` builds: meta's own range for chain length. */
function replicasArgument(value: string): number {
  try {
    return parseIntegerFlag('--replicas', value, configIntegerRange('meta', 'replicas'));
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

interface RunState {
  exitCode: number;
}

type ReportError = (state: RunState, err: unknown, meta?: string) => void;

/** Registers `spindle admin …` on the program. */
export function addAdminCommands(program: Command, state: RunState, reportError: ReportError): void {
  const metaOption = () =>
    new Option('--meta <host:port>', 'cluster manager (meta) of the cluster')
      .env('SPINDLE_META')
      .default(DEFAULT_META_ADDRESS)
      .argParser(addressOption);
  const admin = program
    .command('admin')
    .description('cluster administration: list nodes, targets and chains; take a target out');
  const print = (lines: string[]) => process.stdout.write(`${lines.join('\n')}\n`);
  type Report = typeof import('./admin-report.js');
  const listing = (
    name: string,
    description: string,
    render: (report: Report, routing: RoutingInfo, json: boolean) => string[],
  ) =>
    admin
      .command(name)
      .description(description)
      .option('--json', 'print one JSON array')
      .addOption(metaOption())
      .action(async (o: { json?: boolean; meta: string }) => {
        try {
          const report = await import('./admin-report.js');
          const routing = await report.routingSnapshot(o.meta);
          print(render(report, routing, o.json === true));
        } catch (err) {
          reportError(state, err, o.meta);
        }
      });

  listing('nodes', 'storage nodes: address, alive, last heartbeat', (report, routing, json) => {
    const rows = report.nodeRows(routing, Date.now() * 1000);
    return json ? [JSON.stringify(rows)] : report.formatNodes(rows, routing.version);
  });
  listing(
    'targets',
    'targets: chain and place in it, public and local state, used bytes, resync progress',
    (report, routing, json) => {
      const rows = report.targetRows(routing);
      return json ? [JSON.stringify(rows)] : report.formatTargets(rows, routing.version);
    },
  );
  listing('chains', 'chains: version and targets head first with their states', (report, routing, json) => {
    const rows = report.chainRows(routing);
    return json ? [JSON.stringify(rows)] : report.formatChains(rows, routing.version);
  });

  admin
    .command('scrub')
    .description('per storage node: what the scrubber checked, corrupt chunks found, and their repairs')
    .option('--json', 'print one JSON array (one entry per live node)')
    .addOption(metaOption())
    .action(async (o: { json?: boolean; meta: string }) => {
      try {
        const routing = await (await import('./admin-report.js')).routingSnapshot(o.meta);
        const scrub = await import('./admin-scrub.js');
        const rows = await scrub.scrubRows(routing, o.meta);
        print(o.json === true ? [JSON.stringify(rows)] : scrub.formatScrub(rows));
      } catch (err) {
        reportError(state, err, o.meta);
      }
    });

  admin
    .command('create-chains')
    .description(
      'build chains over targets no chain uses yet (storage nodes added since) as the next version of chain ' +
        'table 1: new files spread over every chain; existing files stay where they are',
    )
    .requiredOption('--replicas <r>', 'replicas per new chain (each on a different new node)', replicasArgument)
    .option('--json', 'print the new chain table as JSON')
    .addOption(metaOption())
    .action(async (o: { replicas: number; json?: boolean; meta: string }) => {
      try {
        const table = await (await import('./admin-report.js')).createChains(o.meta, o.replicas);
        print(
          o.json === true
            ? [JSON.stringify(table)]
            : [`chain table ${table.tableId} is now version ${table.version}: ${table.chainIds.length} chains`],
        );
      } catch (err) {
        reportError(state, err, o.meta);
      }
    });

  admin
    .command('offline-target')
    .description(
      'take a target out of its chain (it goes offline at the chain end; a live node brings it back through a resync)',
    )
    .argument('<target-id>', 'target id (see `spindle admin targets`)', targetIdArgument)
    .option('--json', 'print the chain after the change as JSON')
    .addOption(metaOption())
    .action(async (targetId: number, o: { json?: boolean; meta: string }) => {
      try {
        const chain = await (await import('./admin-report.js')).offlineTarget(o.meta, targetId);
        print(
          o.json === true
            ? [JSON.stringify({ chainId: chain.chainId, chainVersion: chain.chainVersion, targetIds: chain.targetIds })]
            : [
                `target ${targetId} is offline; chain ${chain.chainId} is now version ${chain.chainVersion}: ` +
                  chain.targetIds.join(' → '),
              ],
        );
      } catch (err) {
        reportError(state, err, o.meta);
      }
    });

  addTokenCommands(admin, state, reportError, metaOption);
}
