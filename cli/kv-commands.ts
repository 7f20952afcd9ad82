// `spindle kv ls|stat|evict|rm` (docs/kvcache.md "Operating it"): the KV-cache namespaces across
// the cluster, for operators. The commands and their options; what they show and do is in
// kv-report.ts, loaded when one runs (it needs gRPC).
import { type Command, InvalidArgumentError, Option } from 'commander';
import { parseBytes } from '../common/config.js';
import { CliError, ExitCode } from './exit-codes.js';
import { addressOption, DEFAULT_META_ADDRESS } from './options.js';

/** Namespace names as the storage nodes take them (storage/kvcache/namespace-config.ts). */
const NAMESPACE_NAME = /^[A-Za-z0-9._-]{1,128}$/;

interface RunState {
  exitCode: number;
}

type ReportError = (state: RunState, err: unknown, meta?: string) => void;

function namespaceArgument(value: string): string {
  if (!NAMESPACE_NAME.test(value)) {
    throw new InvalidArgumentError(`${JSON.stringify(value)} is no namespace name (1..128 of A-Z a-z 0-9 . _ -)`);
  }
  return value;
}

/** --bytes as a size ('512MiB', '1GB', '4096'), more than 0. */
function bytesOption(value: string): number {
  let bytes: number;
  try {
    bytes = parseBytes(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  if (bytes === 0)
    throw new InvalidArgumentError('--bytes must be more than 0 (use --all to evict every unleased page)');
  return bytes;
}

/** Registers `spindle kv …` on the program. */
export function addKvCommands(program: Command, state: RunState, reportError: ReportError): void {
  const metaOption = () =>
    new Option('--meta <host:port>', 'cluster manager (meta) of the cluster')
      .env('SPINDLE_META')
      .default(DEFAULT_META_ADDRESS)
      .argParser(addressOption);
  const kv = program
    .command('kv')
    .description('KV-cache namespaces: list, show per chain, evict, remove (docs/kvcache.md)');
  const print = (lines: string[]) => process.stdout.write(`${lines.join('\n')}\n`);
  const run = async (meta: string, fn: (report: typeof import('./kv-report.js')) => Promise<string[]>) => {
    try {
      print(await fn(await import('./kv-report.js')));
    } catch (err) {
      reportError(state, err, meta);
    }
  };

  kv.command('ls')
    .description('namespaces across the cluster: config, pages, bytes, capacity')
    .option('--json', 'print one JSON array')
    .addOption(metaOption())
    .action((o: { json?: boolean; meta: string }) =>
      run(o.meta, async (report) => {
        const rows = report.namespaceRows(await report.collectStats(o.meta));
        return o.json === true ? [JSON.stringify(rows)] : report.formatNamespaces(rows);
      }),
    );

  kv.command('stat')
    .description('one namespace per chain: pages, bytes, capacity, leases, counters of its replicas')
    .argument('<namespace>', 'namespace name', namespaceArgument)
    .option('--json', 'print one JSON object')
    .addOption(metaOption())
    .action((name: string, o: { json?: boolean; meta: string }) =>
      run(o.meta, async (report) => {
        const stat = report.namespaceStat(await report.collectNamespaceStats(o.meta, name), name);
        return o.json === true ? [JSON.stringify(stat)] : report.formatStat(stat);
      }),
    );

  kv.command('evict')
    .description(
      'evict unleased pages, least recently used leaves first (prefix-closed), on every chain: ' +
        '--bytes N in all (shared out by each chain’s bytes) or --all',
    )
    .argument('<namespace>', 'namespace name', namespaceArgument)
    .option('--bytes <size>', 'free at least this much in all (e.g. 512MiB, 2GB)', bytesOption)
    .option('--all', 'evict every unleased page')
    .option('--json', 'print one JSON object')
    .addOption(metaOption())
    .action((name: string, o: { bytes?: number; all?: boolean; json?: boolean; meta: string }) =>
      run(o.meta, async (report) => {
        if ((o.bytes === undefined) === (o.all !== true)) {
          throw new CliError('give one of --bytes N or --all', ExitCode.USAGE, 'EINVAL');
        }
        const result = await report.evict(o.meta, name, o.all === true ? 'all' : o.bytes!);
        return o.json === true ? [JSON.stringify(result)] : report.formatEvict(result);
      }),
    );

  kv.command('rm')
    .description('remove every page of a namespace on every chain (refused while pages are leased, unless --force)')
    .argument('<namespace>', 'namespace name', namespaceArgument)
    .option('--force', 'remove leased pages too, breaking their leases')
    .option('--json', 'print one JSON object')
    .addOption(metaOption())
    .action((name: string, o: { force?: boolean; json?: boolean; meta: string }) =>
      run(o.meta, async (report) => {
        const result = await report.remove(o.meta, name, o.force === true);
        return o.json === true ? [JSON.stringify(result)] : report.formatRemove(result);
      }),
    );
}
