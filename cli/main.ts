// The `spindle` command line (docs/design.md §7): servers (`up`, `meta`, `storage`) and file commands.
// bin/spindle.mjs imports the compiled CLI (dist/cli/main.js) and calls `run(argv)`; the resolved
// number is the exit code (exit-codes.ts: a contract scripts rely on, listed in `--help` and the
// README). Flag values are read with the readers every entry shares (common/flags.ts, parsePreset).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
// The ranges alone, not cluster/index.js: loading the launcher would load gRPC for `--help`.
import { LOCAL_CLUSTER_RANGES } from '../cluster/ranges.js';
import { configIntegerRange, DEFAULT_PRESET, PRESETS, parsePreset } from '../common/config.js';
import { type IntegerRange, PORT_RANGE, parseIntegerFlag } from '../common/flags.js';
import { PACKAGE_ROOT } from '../common/package-root.js';
import { addTokenFileOption, authOption } from './token-file-option.js';
import { addressOption, addTlsOptions, DEFAULT_META_ADDRESS } from './options.js';
import { CliError, EXIT_CODES_HELP, ExitCode, exitCodeFor, formatError } from './exit-codes.js';
import * as files from './file-commands.js';
import type { CliClient, CommandContext } from './file-commands.js';
import { addMountCommands } from './mount-commands.js';
import { addAdminCommands } from './admin-commands.js';
import { addDatasetCommands } from './dataset-commands.js';
import { addCkptCommands } from './ckpt-commands.js';
import { addKvCommands } from './kv-commands.js';
import { addDoctorCommand } from './doctor-command.js';
import { addAgentCommand } from './agent-command.js';
import type { UpOptions } from './server-commands.js';

/** How long closing the client may take before the command exits anyway. */
const CLIENT_CLOSE_TIMEOUT_MS = 5_000;
/** How long a file command waits for the cluster before it reports it unavailable. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A commander parser from one of the shared flag readers (common/flags.ts, parsePreset): their
 * message, shown by commander as a usage error (exit 2) with the option it is about.
 */
function flagParser<T>(read: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return read(text);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

function intOption(flag: string, range: IntegerRange): (text: string) => number {
  return flagParser((text) => parseIntegerFlag(flag, text, range));
}

const presetOption = () =>
  new Option('--preset <preset>', `configuration preset: ${PRESETS.join(' | ')}`)
    .argParser(flagParser((text) => parsePreset(text)))
    .default(DEFAULT_PRESET);

/** Connects the client library (loaded lazily: `spindle up` does not need it). */
async function connectClient(meta: string): Promise<{ client: CliClient; close(): Promise<void> }> {
  const { SpindleClient } = await import('../client/spindle-client.js');
  const client = await SpindleClient.connect({ meta, readyTimeoutMs: CONNECT_TIMEOUT_MS });
  return { client: client as unknown as CliClient, close: () => client.close() };
}

interface RunState {
  exitCode: number;
}

/** Runs a file command with a connected client, Ctrl-C handling and error reporting. */
async function withClient(state: RunState, meta: string, fn: (ctx: CommandContext) => Promise<void>): Promise<void> {
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(ExitCode.INTERRUPTED);
    abort.abort(new CliError('interrupted', ExitCode.INTERRUPTED, 'ECANCELED'));
  };
  process.on('SIGINT', onSigint);
  // The client's timers are unref'd (a library must not hold a process open), so while it waits
  // for an unreachable cluster nothing else would keep this process alive until its timeout.
  const keepAlive = setInterval(() => {}, 60_000);
  let connection: { client: CliClient; close(): Promise<void> } | undefined;
  try {
    connection = await connectClient(meta);
    await fn({ client: connection.client, out: process.stdout, signal: abort.signal });
  } catch (err) {
    if (abort.signal.aborted) {
      process.stderr.write('spindle: interrupted\n');
      state.exitCode = ExitCode.INTERRUPTED;
      return;
    }
    reportError(state, err, meta);
  } finally {
    clearInterval(keepAlive);
    process.off('SIGINT', onSigint);
    if (connection !== undefined) {
      await Promise.race([
        connection.close().catch(() => undefined),
        new Promise((r) => setTimeout(r, CLIENT_CLOSE_TIMEOUT_MS).unref()),
      ]);
    }
  }
}

function reportError(state: RunState, err: unknown, meta?: string): void {
  const path = (err as { cliPath?: string } | undefined)?.cliPath;
  const code = err instanceof CliError ? err.exitCode : exitCodeFor(err);
  process.stderr.write(`${formatError(err, path)}\n`);
  if (code === ExitCode.UNAVAILABLE && meta !== undefined) {
    process.stderr.write(
      `spindle: is the cluster at ${meta} running? ` +
        'Start one with `npx spindle up`, or point --meta / SPINDLE_META at it.\n',
    );
  }
  if (process.env.SPINDLE_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  state.exitCode = code;
}

/** The version in the package's own package.json. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

function buildProgram(state: RunState): Command {
  const program = new Command('spindle')
    .version(packageVersion(), '-V, --version', 'the version of this Spindle package')
    .description(
      'Spindle: a distributed file system for AI clusters (metadata service, chain-replicated storage, client).',
    )
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nEnvironment:\n' +
        `  SPINDLE_META   cluster address for file commands (default ${DEFAULT_META_ADDRESS})\n\n${EXIT_CODES_HELP}`,
    )
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  addTokenFileOption(program);
  addTlsOptions(program);

  const metaOption = () =>
    new Option('--meta <host:port>', 'metadata service of the cluster')
      .env('SPINDLE_META')
      .default(DEFAULT_META_ADDRESS)
      .argParser(addressOption);
  const progressOptions = (c: Command) =>
    c
      .option('--progress', 'always show a progress bar (on stderr)')
      .option('--no-progress', 'never show a progress bar');

  // ---- servers --------------------------------------------------------------------------------
  program
    .command('up')
    .description(
      'start a local cluster (meta + storage nodes) in the foreground; ' +
        'prints one JSON line when ready; Ctrl-C stops it',
    )
    .option('--data-dir <dir>', 'where all data and logs live (reused by the next `up`)', './spindle-data')
    .option(
      '--storage-nodes <n>',
      'storage node processes',
      intOption('--storage-nodes', LOCAL_CLUSTER_RANGES.storageNodes),
      3,
    )
    .option(
      '--replicas <r>',
      'replicas per chain (at most --storage-nodes)',
      intOption('--replicas', LOCAL_CLUSTER_RANGES.replicas),
      3,
    )
    .option(
      '--targets-per-node <t>',
      'targets (chain members) per storage node',
      intOption('--targets-per-node', LOCAL_CLUSTER_RANGES.targetsPerNode),
      3,
    )
    .option(
      '--port <p>',
      'meta gRPC port; storage node i listens on port + i (0 = pick free ports)',
      intOption('--port', PORT_RANGE),
      7400,
    )
    .option(
      '--metrics-port <p>',
      'meta /metrics port; storage node i uses port + i (0 = pick free ports)',
      intOption('--metrics-port', PORT_RANGE),
      0,
    )
    .addOption(presetOption())
    .addOption(
      new Option(
        '--data-transport <t>',
        'how storage nodes move chunk bytes: bulk (raw TCP frames) or grpc (inside gRPC messages)',
      )
        .choices(['bulk', 'grpc'])
        .default('bulk'),
    )
    .addOption(
      new Option(
        '--malloc <m>',
        'glibc malloc settings of every server: tuned (MALLOC_* set by the launcher) or default',
      )
        .choices(['tuned', 'default'])
        .default('tuned'),
    )
    .addOption(
      new Option(
        '--kv <engine>',
        'metadata store: lmdb (one meta process) or etcd (a local etcd-server and --meta-count metas)',
      )
        .choices(['lmdb', 'etcd'])
        .default('lmdb'),
    )
    .option(
      '--meta-count <n>',
      'meta processes sharing the etcd store (with --kv etcd; default 2); extra meta k listens on port + 200 + k',
      intOption('--meta-count', { min: 1, max: 8 }),
    )
    .option('--etcd <urls>', 'use this etcd cluster (comma-separated client URLs) instead of starting one (--kv etcd)')
    .option('--no-restart', 'leave a crashed meta or storage process down (default: restart it with backoff)')
    .addOption(authOption())
    .action(async (o: UpOptions) => {
      try {
        state.exitCode = await (await import('./server-commands.js')).runUp(o);
      } catch (err) {
        // Options the launcher refuses (INVALID_ARGUMENT: EINVAL) exit as usage errors.
        reportError(state, err);
      }
    });

  program
    .command('meta')
    .description('run the metadata service and cluster manager in the foreground')
    .option('--data-dir <dir>', 'data directory (lmdb lives in DIR/meta; unused with --kv etcd)', './spindle-data')
    .addOption(
      new Option('--kv <engine>', 'metadata store: lmdb (this process alone) or etcd (any number of meta processes)')
        .choices(['lmdb', 'etcd'])
        .default('lmdb'),
    )
    .option('--etcd <urls>', 'etcd client URLs, comma-separated (with --kv etcd)')
    .option('--etcd-prefix <prefix>', "key prefix of this cluster in etcd (default 'spindle/')")
    .option(
      '--etcd-max-txn-ops <n>',
      "the etcd server's --max-txn-ops (default 128)",
      intOption('--etcd-max-txn-ops', { min: 1, max: 2 ** 31 - 1 }),
    )
    .option(
      '--etcd-max-request-bytes <n>',
      "the etcd server's --max-request-bytes (default 1572864)",
      intOption('--etcd-max-request-bytes', { min: 1024, max: 2 ** 31 - 1 }),
    )
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <p>', 'gRPC port (0 = pick one)', intOption('--port', PORT_RANGE), 7400)
    .option('--metrics-port <p>', '/metrics port (0 = pick one)', intOption('--metrics-port', PORT_RANGE), 0)
    .option(
      '--replicas <r>',
      'chain length of the automatically built chain table',
      intOption('--replicas', configIntegerRange('meta', 'replicas')),
      3,
    )
    .option(
      '--storage-nodes <n>',
      'build chain table 1 once this many storage nodes registered (0 = never)',
      intOption('--storage-nodes', configIntegerRange('meta', 'storageNodesExpected')),
      3,
    )
    .option('--config <file>', 'JSON config file (overrides the preset)')
    .addOption(presetOption())
    .addOption(authOption())
    .option('--auth-key <file>', 'PEM cluster private key (default DATA_DIR/auth/cluster-key.pem, created)')
    .action(async (o) => {
      // With etcd the metadata lives in etcd: a meta process needs no data directory.
      const flags = {
        ...o,
        dataDir: o.kv === 'etcd' ? undefined : o.dataDir,
        etcd: o.etcd === undefined ? undefined : String(o.etcd).split(','),
        etcdTxnOpsMax: o.etcdMaxTxnOps,
        etcdRequestBytesMax: o.etcdMaxRequestBytes,
      };
      state.exitCode = await (await import('./server-commands.js')).runMeta(flags);
    });

  program
    .command('storage')
    .description('run one storage node in the foreground (restarting it on its old --data-dir keeps its id and data)')
    .requiredOption('--data-dir <dir>', 'data directory of this node (node id and targets)')
    .requiredOption(
      '--meta <host:port>',
      'meta address, or a comma-separated list of every meta process (metadata on etcd)',
      addressOption,
    )
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <p>', 'gRPC port (0 = pick one)', intOption('--port', PORT_RANGE), 0)
    .option('--metrics-port <p>', '/metrics port (0 = pick one)', intOption('--metrics-port', PORT_RANGE), 0)
    .option(
      '--targets <n>',
      'targets to create on first start',
      intOption('--targets', configIntegerRange('storage', 'targetsPerNode')),
      3,
    )
    .option('--config <file>', 'JSON config file (overrides the preset)')
    .addOption(
      new Option(
        '--data-transport <t>',
        "how chunk bytes travel: bulk (raw TCP frames) or grpc (inside gRPC messages); default: the config's (bulk)",
      ).choices(['bulk', 'grpc']),
    )
    .option('--bulk-port <p>', 'bulk listener port (0 = pick one)', intOption('--bulk-port', PORT_RANGE))
    .addOption(presetOption())
    .addOption(authOption())
    .option('--auth-public-key <file>', "the cluster's public key (meta's DATA_DIR/auth/cluster-key.pub.pem)")
    .action(async (o) => {
      state.exitCode = await (await import('./server-commands.js')).runStorage(o);
    });

  // ---- files ----------------------------------------------------------------------------------
  program
    .command('ls')
    .description('list a directory (default /)')
    .argument('[paths...]')
    .option('-l, --long', 'mode, links, owner, size, modification time')
    .option('--json', 'one JSON array of entries')
    .addOption(metaOption())
    .action((paths: string[], o: { long?: boolean; json?: boolean; meta: string }) =>
      withClient(state, o.meta, (ctx) => files.ls(ctx, paths, o)),
    );

  program
    .command('stat')
    .description('show the attributes of files')
    .argument('<paths...>')
    .option('--json', 'print JSON')
    .addOption(metaOption())
    .action((paths: string[], o: { json?: boolean; meta: string }) =>
      withClient(state, o.meta, (ctx) => files.stat(ctx, paths, o)),
    );

  program
    .command('cat')
    .description('write files to stdout')
    .argument('<paths...>')
    .addOption(metaOption())
    .action((paths: string[], o: { meta: string }) => withClient(state, o.meta, (ctx) => files.cat(ctx, paths)));

  progressOptions(
    program
      .command('put')
      .description('copy a local file (or - for stdin) into Spindle; DST may be a directory')
      .argument('<src>')
      .argument('<dst>')
      .addOption(metaOption()),
  ).action((src: string, dst: string, o: { progress?: boolean; meta: string }) =>
    withClient(state, o.meta, async (ctx) => {
      await files.put(ctx, src, dst, o);
    }),
  );

  progressOptions(
    program
      .command('get')
      .description('copy a file out of Spindle to a local path (or - for stdout); DST may be a directory')
      .argument('<src>')
      .argument('<dst>')
      .addOption(metaOption()),
  ).action((src: string, dst: string, o: { progress?: boolean; meta: string }) =>
    withClient(state, o.meta, async (ctx) => {
      await files.get(ctx, src, dst, o);
    }),
  );

  progressOptions(
    program
      .command('cp')
      .description('copy a file within Spindle; DST may be a directory')
      .argument('<src>')
      .argument('<dst>')
      .addOption(metaOption()),
  ).action((src: string, dst: string, o: { progress?: boolean; meta: string }) =>
    withClient(state, o.meta, async (ctx) => {
      await files.cp(ctx, src, dst, o);
    }),
  );

  program
    .command('mv')
    .description('rename or move a file or directory; DST may be an existing directory')
    .argument('<src>')
    .argument('<dst>')
    .addOption(metaOption())
    .action((src: string, dst: string, o: { meta: string }) =>
      withClient(state, o.meta, async (ctx) => {
        await files.mv(ctx, src, dst);
      }),
    );

  program
    .command('rm')
    .description('remove files (and directories with -r)')
    .argument('<paths...>')
    .option('-r, --recursive', 'remove directories and their contents')
    .option('-f, --force', 'ignore missing paths')
    .addOption(metaOption())
    .action((paths: string[], o: { recursive?: boolean; force?: boolean; meta: string }) =>
      withClient(state, o.meta, (ctx) => files.rm(ctx, paths, o)),
    );

  program
    .command('mkdir')
    .description('create directories')
    .argument('<paths...>')
    .option('-p, --parents', 'create missing parents; no error if it exists')
    .addOption(metaOption())
    .action((paths: string[], o: { parents?: boolean; meta: string }) =>
      withClient(state, o.meta, (ctx) => files.mkdir(ctx, paths, o)),
    );

  program
    .command('du')
    .description('bytes used by files under each path (default /)')
    .argument('[paths...]')
    .option('-h, --human', 'human-readable sizes')
    .option('--json', 'print JSON')
    .addOption(metaOption())
    .action((paths: string[], o: { human?: boolean; json?: boolean; meta: string }) =>
      withClient(state, o.meta, (ctx) => files.du(ctx, paths, o)),
    );

  program
    .command('df')
    .description('capacity and usage of the cluster')
    .option('-h, --human', 'human-readable sizes')
    .option('--json', 'print JSON')
    .addOption(metaOption())
    .action((o: { human?: boolean; json?: boolean; meta: string }) =>
      withClient(state, o.meta, (ctx) => files.df(ctx, o)),
    );

  program
    .command('bench')
    .description(
      'benchmark suites: bench <limits|seq-read|seq-write|rand-read|meta|scale|all> ' +
        '[--quick] [--json FILE] [--out DIR] [--meta ADDR] (bench --help: every suite and option)',
    )
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_o: unknown, cmd: Command) => {
      const { runBenchCommand } = await import('./bench-command.js');
      state.exitCode = await runBenchCommand(cmd.args);
    });

  addMountCommands(program, state, reportError);
  addAdminCommands(program, state, reportError);
  addDatasetCommands(program, state, withClient);
  addCkptCommands(program, state, withClient);
  addKvCommands(program, state, reportError);
  addDoctorCommand(program, state);
  addAgentCommand(program, state, reportError);

  return program;
}

let stdoutGuarded = false;
let currentState: RunState = { exitCode: ExitCode.OK };

/** Parses `argv` (without node and script) and runs the command; resolves with the exit code. */
export async function run(argv: string[]): Promise<number> {
  const state: RunState = { exitCode: ExitCode.OK };
  currentState = state;
  if (!stdoutGuarded) {
    stdoutGuarded = true;
    // `spindle cat big | head`: the reader went away; that is not an error worth a stack trace.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(currentState.exitCode);
      throw err;
    });
  }
  const program = buildProgram(state);
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return ExitCode.USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
        return ExitCode.OK;
      return ExitCode.USAGE;
    }
    reportError(state, err);
  }
  return state.exitCode;
}
