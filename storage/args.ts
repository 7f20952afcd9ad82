// Command line of the storage process (docs/architecture.md "Processes and their command lines").
import { parseArgs } from 'node:util';
import { isPreset, loadConfigFile, storageConfig, type Preset, type StorageConfig } from '../common/config.js';
import { ErrorCode, SpindleError } from '../common/errors.js';

export interface StorageArgs {
  dataDir: string;
  metaAddress: string;
  host: string;
  port: number;
  metricsPort: number;
  /** Targets to create on first start; undefined = config.targetsPerNode. */
  targets: number | undefined;
  preset: Preset;
  config: StorageConfig;
}

export const STORAGE_USAGE = `usage: storage/main.ts --data-dir DIR --meta HOST:PORT [options]
  --data-dir DIR        node id in DIR/node.json, targets in DIR/targets/<i>/
  --meta HOST:PORT      cluster manager address
  --host 127.0.0.1      listen address
  --port 0              gRPC port (0 = pick one)
  --metrics-port 0      HTTP /metrics port (0 = pick one)
  --targets 3           targets to create on first start; later starts reuse what exists
  --preset production   production | test
  --data-transport bulk bulk (chunk bytes as frames on a raw TCP listener) | grpc (inside gRPC messages)
  --bulk-port 0         port of the bulk listener (0 = pick one)
  --config FILE         optional JSON config; its "storage" section overrides the preset`;

function port(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535)
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `${flag} must be a port from 0 to 65535, got ${JSON.stringify(value)}`,
    );
  return n;
}

/** Parses and validates argv (without node and script); every problem is a CONFIG_INVALID error. */
export function parseStorageArgs(argv: readonly string[]): StorageArgs {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'data-dir': { type: 'string' },
        meta: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'metrics-port': { type: 'string' },
        targets: { type: 'string' },
        preset: { type: 'string' },
        config: { type: 'string' },
        'data-transport': { type: 'string' },
        'bulk-port': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }) as { values: Record<string, string | undefined> });
  } catch (err) {
    throw new SpindleError(ErrorCode.CONFIG_INVALID, `${(err as Error).message}\n${STORAGE_USAGE}`, { cause: err });
  }
  const problems: string[] = [];
  const dataDir = values['data-dir'];
  const metaAddress = values['meta'];
  if (!dataDir) problems.push('--data-dir is required');
  if (!metaAddress) problems.push('--meta is required (host:port of the cluster manager)');
  const preset = values['preset'] ?? 'production';
  if (!isPreset(preset)) problems.push(`--preset must be production or test, got ${JSON.stringify(preset)}`);
  let targets: number | undefined;
  if (values['targets'] !== undefined) {
    targets = Number(values['targets']);
    if (!/^\d+$/.test(values['targets']) || targets < 1 || targets > 999) {
      problems.push(`--targets must be from 1 to 999, got ${JSON.stringify(values['targets'])}`);
    }
  }
  let grpcPort = 0;
  let metricsPort = 0;
  try {
    grpcPort = port(values['port'], '--port', 0);
  } catch (err) {
    problems.push((err as Error).message);
  }
  try {
    metricsPort = port(values['metrics-port'], '--metrics-port', 0);
  } catch (err) {
    problems.push((err as Error).message);
  }
  const transport = values['data-transport'];
  if (transport !== undefined && transport !== 'bulk' && transport !== 'grpc') {
    problems.push(`--data-transport must be bulk or grpc, got ${JSON.stringify(transport)}`);
  }
  let bulkPort: number | undefined;
  try {
    bulkPort = values['bulk-port'] === undefined ? undefined : port(values['bulk-port'], '--bulk-port', 0);
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (problems.length > 0) throw new SpindleError(ErrorCode.CONFIG_INVALID, `${problems.join('\n')}\n${STORAGE_USAGE}`);
  const file = values['config'] === undefined ? undefined : loadConfigFile(values['config']);
  // Flags win over the config file.
  const config = storageConfig(preset as Preset, {
    ...file?.storage,
    ...(transport === undefined ? {} : { dataTransport: transport }),
    ...(bulkPort === undefined ? {} : { bulkPort }),
  });
  return {
    dataDir: dataDir!,
    metaAddress: metaAddress!,
    host: values['host'] ?? '127.0.0.1',
    port: grpcPort,
    metricsPort,
    targets,
    preset: preset as Preset,
    config,
  };
}
