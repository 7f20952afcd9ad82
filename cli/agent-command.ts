// `spindle agent`: serves the cluster's workload services (Loader, Checkpoints, KvCache) to trainers
// and inference engines in any language over gRPC, in the foreground (agent/, docs/loader.md "From
// Python").
//
// Once serving it prints one JSON line on stdout — {"agent":"127.0.0.1:PORT","meta":"HOST:PORT",
// "pid":N,"services":["spindle.Loader","spindle.Checkpoints","spindle.KvCache"]}, with "unix:/path"
// for a unix socket — and nothing else (logs go to stderr). SIGINT/SIGTERM stop it cleanly (open
// streams end, exit 0); a second signal exits at once with 130. It listens on loopback unless
// --allow-remote: it has no authentication.
import { type Command, Option } from 'commander';
import { DEFAULT_PRESET, PRESETS, type Preset } from '../common/config.js';
import { ExitCode } from './exit-codes.js';
import { addressOption, DEFAULT_META_ADDRESS } from './options.js';

interface AgentCommandOptions {
  meta: string;
  listen?: string;
  allowRemote?: boolean;
  preset: Preset;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

async function runAgent(o: AgentCommandOptions): Promise<number> {
  const [{ AGENT_DEFAULT_LISTEN, parseListenAddress, startAgent }, { createLogger }] = await Promise.all([
    import('../agent/index.js'),
    import('../common/logger.js'),
  ]);
  const listen = parseListenAddress(o.listen ?? AGENT_DEFAULT_LISTEN, o.allowRemote === true);
  const logger = createLogger({ name: 'spindle-agent' });
  if (listen.kind === 'tcp') {
    const { warnIfListeningInClear } = await import('../common/tls.js');
    warnIfListeningInClear(listen.host, 'agent', logger);
  }
  const starting = new AbortController();
  let stop: (() => void) | undefined;
  let signalled = false;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      process.stderr.write(`spindle agent: ${signal} again, exiting without waiting\n`);
      process.exit(ExitCode.INTERRUPTED);
    }
    signalled = true;
    logger.info({ signal }, 'stopping on signal');
    starting.abort();
    stop?.();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  // The client's timers are unref'd: keep the process up while it waits for the cluster.
  const keepAlive = setInterval(() => {}, 60_000);
  try {
    const agent = await startAgent({ meta: o.meta, listen, logger, preset: o.preset, signal: starting.signal });
    clearInterval(keepAlive);
    if (!signalled) {
      const ready = { agent: agent.address, meta: o.meta, pid: process.pid, services: agent.serviceNames };
      process.stdout.write(`${JSON.stringify(ready)}\n`);
      await stopped;
    }
    await agent.close();
    return ExitCode.OK;
  } catch (err) {
    if (signalled) return ExitCode.OK; // stopped while connecting: nothing to report
    throw err;
  } finally {
    clearInterval(keepAlive);
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
}

/** Adds `agent` to the program; errors go to `report` (main.ts's error printer). */
export function addAgentCommand(
  program: Command,
  state: { exitCode: number },
  report: (state: { exitCode: number }, err: unknown, meta?: string) => void,
): void {
  program
    .command('agent')
    .description(
      'serve datasets as shuffled, resumable training batches to trainers in any language (gRPC Loader service; ' +
        'the Python package spindle); foreground, prints one JSON line when ready',
    )
    .addOption(
      new Option('--meta <host:port>', 'metadata service of the cluster')
        .env('SPINDLE_META')
        .default(DEFAULT_META_ADDRESS)
        .argParser(addressOption),
    )
    .option('--listen <address>', 'HOST:PORT (port 0 = any free one) or unix:/abs/path.sock (default 127.0.0.1:0)')
    .option('--allow-remote', 'allow a --listen host that is not loopback (the agent has no authentication)')
    .addOption(
      new Option('--preset <preset>', `client configuration preset: ${PRESETS.join(' | ')}`)
        .choices([...PRESETS])
        .default(DEFAULT_PRESET),
    )
    .action(async (o: AgentCommandOptions) => {
      try {
        state.exitCode = await runAgent(o);
      } catch (err) {
        report(state, err, o.meta);
      }
    });
}
