// The meta process entry: `node dist/meta/main.js --data-dir DIR [flags]`
// (docs/architecture.md "Processes and their command lines").
//
// Contract: once every service is ready, prints exactly one JSON line on stdout —
// {"service":"meta","addr":"host:port","metrics":"host:port","pid":N,"dataDir":"/abs/DIR","kv":"lmdb",
// "auth":"on","authKeyId":"<16 hex>"} — and
// nothing else on stdout; logs go to stderr. SIGINT/SIGTERM stop accepting, drain, close the store
// and exit 0 (a second signal exits at once with 130). A bad flag, config or start failure prints
// one clear message on stderr and exits 1.
import { Command, CommanderError } from 'commander';
import { configIntegerRange, loadConfigFile, parsePreset, PRESETS, type Preset } from '../common/config.js';
import { startCpuProfileFromEnv } from '../common/cpu-profile.js';
import { asSpindleError, ErrorCode, SpindleError } from '../common/errors.js';
import { parseIntegerFlag, parsePortFlag } from '../common/flags.js';
import { createLogger } from '../common/logger.js';
import { configureTls, type TlsFiles, warnIfListeningInClear } from '../common/tls.js';
import type { MetaAuthOptions } from './auth-setup.js';
import { type MetaEtcdOptions, type MetaKvKind, startMetaServer, type MetaServer } from './server.js';

interface Flags {
  dataDir: string;
  kv: MetaKvKind;
  etcd?: MetaEtcdOptions;
  host: string;
  port: number;
  metricsPort: number;
  replicas?: number;
  storageNodes?: number;
  preset: Preset;
  config?: string;
  tls: TlsFiles;
  auth: MetaAuthOptions;
}

/** The flags as commander leaves them: text, checked by the shared readers below. */
interface RawFlags {
  dataDir?: string;
  kv: string;
  etcd?: string;
  etcdPrefix?: string;
  etcdMaxTxnOps?: string;
  etcdMaxRequestBytes?: string;
  host: string;
  port: string;
  metricsPort: string;
  replicas?: string;
  storageNodes?: string;
  preset?: string;
  config?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  auth: string;
  authKey?: string;
}

/**
 * Parses argv (without node and script). Commander handles the syntax (unknown flags, missing
 * values, --help) and prints its own message; values are read with the readers every entry shares
 * (common/flags.ts, parsePreset), whose SpindleError main() prints.
 */
function parseFlags(argv: string[]): Flags {
  const program = new Command('spindle-meta')
    .description('Spindle metadata service and cluster manager (Meta + Mgmt gRPC, /metrics)')
    .option('--data-dir <dir>', 'data directory; the lmdb environment lives in DIR/meta (created if missing)')
    .option('--kv <engine>', 'metadata store: lmdb (one meta process) or etcd (any number of meta processes)', 'lmdb')
    .option('--etcd <urls>', 'etcd client URLs, comma-separated (with --kv etcd)')
    .option('--etcd-prefix <prefix>', "key prefix of this cluster in etcd (default 'spindle/')")
    .option('--etcd-max-txn-ops <n>', "the etcd server's --max-txn-ops (default 128, etcd's own default)")
    .option('--etcd-max-request-bytes <n>', "the etcd server's --max-request-bytes (default 1572864)")
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'gRPC port (0 = pick one)', '0')
    .option('--metrics-port <port>', 'HTTP /metrics port (0 = pick one)', '0')
    .option('--replicas <n>', 'chain length of the chain table built automatically (default 3)')
    .option('--storage-nodes <n>', 'build chain table 1 once N storage nodes registered (0 = never; default 0)')
    .option('--preset <preset>', `configuration preset: ${PRESETS.join(' | ')} (default production)`)
    .option('--config <file>', 'JSON config file ({"meta": {...}, "client": {...}}), overrides the preset')
    .option('--tls-cert <file>', 'PEM certificate this server presents (TLS on; or SPINDLE_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (or SPINDLE_TLS_KEY)')
    .option('--tls-ca <file>', "PEM CA that signed the cluster's certificates (or SPINDLE_TLS_CA)")
    .option('--auth <on|off>', 'bearer tokens on every call (docs/security.md); off: anyone may do anything', 'on')
    .option('--auth-key <file>', 'PEM Ed25519 cluster private key (default DATA_DIR/auth/cluster-key.pem, created)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => process.stderr.write(text), writeErr: (text) => process.stderr.write(text) })
    .allowExcessArguments(false);
  program.parse(argv, { from: 'user' });
  const raw = program.opts<RawFlags>();
  const optional = (flag: string, text: string | undefined, key: 'replicas' | 'storageNodesExpected') =>
    text === undefined ? undefined : parseIntegerFlag(flag, text, configIntegerRange('meta', key));
  const kv = parseKvFlags(raw);
  return {
    dataDir: raw.dataDir ?? '',
    ...kv,
    host: raw.host,
    port: parsePortFlag('--port', raw.port),
    metricsPort: parsePortFlag('--metrics-port', raw.metricsPort),
    replicas: optional('--replicas', raw.replicas, 'replicas'),
    storageNodes: optional('--storage-nodes', raw.storageNodes, 'storageNodesExpected'),
    preset: parsePreset(raw.preset),
    config: raw.config,
    tls: { certPath: raw.tlsCert, keyPath: raw.tlsKey, caPath: raw.tlsCa },
    auth: parseAuthFlags(raw),
  };
}

function parseAuthFlags(raw: RawFlags): MetaAuthOptions {
  if (raw.auth !== 'on' && raw.auth !== 'off')
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `--auth must be on or off, got ${JSON.stringify(raw.auth)}`);
  if (raw.auth === 'off' && raw.authKey !== undefined)
    throw new SpindleError(ErrorCode.CONFIG_INVALID, '--auth-key is only used with --auth on');
  return { enabled: raw.auth === 'on', keyFile: raw.authKey };
}

/** --kv and the etcd flags: every problem listed at once. */
function parseKvFlags(raw: RawFlags): { kv: MetaKvKind; etcd?: MetaEtcdOptions } {
  const problems: string[] = [];
  if (raw.kv !== 'lmdb' && raw.kv !== 'etcd') problems.push(`--kv must be lmdb or etcd, got ${JSON.stringify(raw.kv)}`);
  if (raw.kv === 'lmdb' && raw.dataDir === undefined) problems.push('--data-dir is required with --kv lmdb');
  if (raw.kv === 'etcd' && raw.etcd === undefined) problems.push('--etcd URLS is required with --kv etcd');
  if (raw.kv !== 'etcd' && raw.etcd !== undefined) problems.push('--etcd is only used with --kv etcd');
  const integer = (flag: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    try {
      return parseIntegerFlag(flag, text, { min: 1, max: 2 ** 31 - 1 });
    } catch (err) {
      problems.push((err as Error).message);
      return undefined;
    }
  };
  const txnOpsMax = integer('--etcd-max-txn-ops', raw.etcdMaxTxnOps);
  const requestBytesMax = integer('--etcd-max-request-bytes', raw.etcdMaxRequestBytes);
  const endpoints = (raw.etcd ?? '').split(',').map((url) => url.trim());
  if (raw.etcd !== undefined && endpoints.some((url) => url === '')) {
    problems.push(`--etcd takes comma-separated URLs (http://127.0.0.1:2379,…), got ${JSON.stringify(raw.etcd)}`);
  }
  if (problems.length > 0) throw new SpindleError(ErrorCode.CONFIG_INVALID, problems.join('\n'));
  if (raw.kv === 'lmdb') return { kv: 'lmdb' };
  return { kv: 'etcd', etcd: { endpoints, prefix: raw.etcdPrefix, txnOpsMax, requestBytesMax } };
}

async function main(): Promise<void> {
  startCpuProfileFromEnv('meta');
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    // commander already printed its message (or the help); --help exits 0.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 1);
    throw err;
  }
  const logger = createLogger({ name: 'meta' });
  configureTls(flags.tls);
  warnIfListeningInClear(flags.host, 'meta', logger);
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
    kv: flags.kv,
    etcd: flags.etcd,
    host: flags.host,
    port: flags.port,
    metricsPort: flags.metricsPort,
    preset: flags.preset,
    config: file.meta,
    clientConfig: file.client,
    replicas: flags.replicas,
    storageNodesExpected: flags.storageNodes,
    auth: flags.auth,
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
    kv: flags.kv,
    auth: server.authKeyId === undefined ? 'off' : 'on',
    ...(server.authKeyId === undefined ? {} : { authKeyId: server.authKeyId }),
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

main().catch((err: unknown) => {
  const error = asSpindleError(err);
  process.stderr.write(`meta: ${error.message}\n`);
  process.exit(1);
});
