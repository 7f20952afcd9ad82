// The meta process entry: `node --import tsx meta/main.ts --data-dir DIR [flags]`
// (docs/architecture.md "Processes and their command lines").
//
// Contract: once every service is ready, prints exactly one JSON line on stdout —
// {"service":"meta","addr":"host:port","metrics":"host:port","pid":N,"dataDir":"/abs/DIR"} — and
// nothing else on stdout; logs go to stderr. SIGINT/SIGTERM stop accepting, drain, close the store
// and exit 0 (a second signal exits at once with 130). A bad flag, config or start failure prints
// one clear message on stderr and exits 1.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadConfigFile, isPreset, type Preset } from '../common/config.js';
import { asSpindleError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { startMetaServer, type MetaServer } from './server.js';

function integer(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

interface Flags {
  dataDir: string;
  host: string;
  port: number;
  metricsPort: number;
  replicas?: number;
  storageNodes?: number;
  preset: Preset;
  config?: string;
}

function parseFlags(argv: string[]): Flags {
  const program = new Command('spindle-meta')
    .description('Spindle metadata service and cluster manager (Meta + Mgmt gRPC, /metrics)')
    .requiredOption('--data-dir <dir>', 'data directory; the lmdb environment lives in DIR/meta (created if missing)')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'gRPC port (0 = pick one)', integer(0, 65_535), 0)
    .option('--metrics-port <port>', 'HTTP /metrics port (0 = pick one)', integer(0, 65_535), 0)
    .option('--replicas <n>', 'chain length of the chain table built automatically (default 3)', integer(1, 16))
    .option(
      '--storage-nodes <n>',
      'build chain table 1 once N storage nodes registered (0 = never; default 0)',
      integer(0, 100_000),
    )
    .addOption(
      new Option('--preset <preset>', 'configuration preset').choices(['production', 'test']).default('production'),
    )
    .option('--config <file>', 'JSON config file ({"meta": {...}, "client": {...}}), overrides the preset')
    .exitOverride()
    .configureOutput({ writeOut: (text) => process.stderr.write(text), writeErr: (text) => process.stderr.write(text) })
    .allowExcessArguments(false);
  program.parse(argv, { from: 'user' });
  const options = program.opts<Flags>();
  if (!isPreset(options.preset)) throw new InvalidArgumentError(`unknown preset ${options.preset}`);
  return options;
}

async function main(): Promise<void> {
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    // commander already printed its message (or the help); --help exits 0.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 1);
    throw err;
  }
  const logger = createLogger({ name: 'meta' });
  const file = flags.config === undefined ? {} : loadConfigFile(flags.config);

  let server: MetaServer | undefined;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`meta: ${signal} again, exiting without waiting\n`);
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // While starting, the start path sees `stopping` and closes what it opened.
    if (server === undefined) return;
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`meta: error while shutting down: ${asSpindleError(err).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  server = await startMetaServer({
    dataDir: flags.dataDir,
    host: flags.host,
    port: flags.port,
    metricsPort: flags.metricsPort,
    preset: flags.preset,
    config: file.meta,
    clientConfig: file.client,
    replicas: flags.replicas,
    storageNodesExpected: flags.storageNodes,
    logger,
  });
  if (stopping) {
    // A signal arrived while starting: stop now that there is something to stop.
    await server.close();
    process.exit(0);
  }
  const ready = {
    service: 'meta',
    addr: server.address,
    metrics: server.metricsAddress,
    pid: process.pid,
    dataDir: server.dataDir,
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

main().catch((err: unknown) => {
  const error = asSpindleError(err);
  process.stderr.write(`meta: ${error.message}\n`);
  process.exit(1);
});
