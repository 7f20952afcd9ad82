// Process entry of a storage node: `node dist/storage/main.js --data-dir DIR --meta ADDR`.
// Prints exactly one JSON line on stdout once registered and serving (docs/architecture.md);
// logs go to stderr. SIGINT/SIGTERM: stop accepting, drain, close everything, exit 0.
import { startCpuProfileFromEnv } from '../common/cpu-profile.js';
import { asSpindleError } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { createRegistry } from '../common/metrics.js';
import { configureTls, warnIfListeningInClear } from '../common/tls.js';
import { parseStorageArgs } from './args.js';
import { absorbLmdbInternalRejections } from './chunk-engine/lmdb-failures.js';
import { startStorageNode } from './storage-node.js';
import { readPublicKeyFile } from '../common/auth/cluster-key.js';
import { resolveToken } from '../common/auth/token-source.js';

/** The node's token and the cluster's public key, from the files named on the command line. */
async function readStorageAuth(files: { tokenFile: string; publicKeyFile: string }) {
  const token = resolveToken({ metaAddress: '', tokenFile: files.tokenFile }) ?? '';
  return { token, publicKey: await readPublicKeyFile(files.publicKeyFile) };
}

async function main(): Promise<void> {
  startCpuProfileFromEnv('storage');
  const logger = createLogger({ name: 'spindle-storage' });
  // A full disk fails lmdb commits; their callers get NO_SPACE, and the process must live on.
  absorbLmdbInternalRejections((reason) => logger.warn({ err: reason.message }, 'lmdb commit failed'));
  let args: ReturnType<typeof parseStorageArgs>;
  try {
    args = parseStorageArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${asSpindleError(err).message}\n`);
    process.exit(2);
  }
  try {
    configureTls(args.tls);
  } catch (err) {
    process.stderr.write(`${asSpindleError(err).message}\n`);
    process.exit(2);
  }
  warnIfListeningInClear(args.host, 'storage node', logger);
  const startup = new AbortController();
  let stopping = false;
  let node: Awaited<ReturnType<typeof startStorageNode>> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'signal received; stopping');
    startup.abort();
    void (node?.close() ?? Promise.resolve()).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    node = await startStorageNode({
      dataDir: args.dataDir,
      metaAddress: args.metaAddress,
      host: args.host,
      port: args.port,
      metricsPort: args.metricsPort,
      targets: args.targets,
      config: args.config,
      logger,
      registry: createRegistry({ defaultMetrics: true }),
      signal: startup.signal,
      auth: args.auth === undefined ? undefined : await readStorageAuth(args.auth),
    });
  } catch (err) {
    if (stopping) return;
    logger.fatal({ err: asSpindleError(err).message }, 'storage node failed to start');
    process.stderr.write(`storage node failed to start: ${asSpindleError(err).message}\n`);
    process.exit(1);
  }
  if (stopping) {
    await node.close();
    return;
  }
  process.stdout.write(`${JSON.stringify(node.readyLine())}\n`);
}

void main();
