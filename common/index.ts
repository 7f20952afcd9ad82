// The public surface of common/: errors, gRPC plumbing, limits, clock and randomness, CRC32C, the
// key registry, placement, names, config, logging, metrics and retries. Other modules import from
// here only.
export {
  ErrorCode,
  SpindleError,
  type SpindleErrorOptions,
  isSpindleError,
  spindleError,
  errorCodeInfo,
  isKnownErrorCode,
  toGrpcError,
  fromGrpcError,
  asSpindleError,
  assert,
} from './errors.js';
export {
  CHANNEL_OPTIONS,
  SERVER_OPTIONS,
  insecureChannel,
  type CallContext,
  unaryHandler,
  serviceImplementation,
  type GrpcServerOptions,
  tuneServerReceiveWindow,
  startGrpcServer,
  stopGrpcServer,
  type CallOptions,
  callUnary,
} from './rpc.js';
export {
  RPC_MESSAGE_MAX_BYTES,
  RPC_FLOW_CONTROL_WINDOW_BYTES,
  CLIENT_ID_MAX_BYTES,
  ROOT_INO,
  NAME_MAX_BYTES,
  PATH_MAX_BYTES,
  SYMLINK_TARGET_MAX_BYTES,
  CHUNK_SIZE_MIN_BYTES,
  CHUNK_SIZE_MAX_BYTES,
  CHUNK_SIZE_DEFAULT_BYTES,
  STRIPE_WIDTH_MAX,
  FILE_SIZE_MAX_BYTES,
  TARGETS_PER_NODE_MAX,
  RETRY_DEADLINE_DEFAULT_MS,
  RETRY_BACKOFF_INITIAL_DEFAULT_MS,
  RETRY_BACKOFF_MAX_DEFAULT_MS,
  RETRY_ATTEMPTS_MAX,
} from './constants.js';
export {
  type Clock,
  systemClock,
  ManualClock,
  flushMicrotasks,
  type Rng,
  SplitMix64,
  seedToU64,
  uniformBelow,
  createRng,
  systemRng,
} from './clock.js';
export { crc32c, crc32cOf } from './crc32c.js';
export {
  KeyPrefix,
  type KeyPrefixName,
  type KeyPrefixValue,
  type KeyPart,
  KEY_PREFIX_BYTES,
  encodeKey,
  prefixEnd,
  keyPrefixOf,
  hasKeyPrefix,
  readKeyU64,
  readKeyString,
} from './keys.js';
export { fileChains, chainForChunk } from './placement.js';
export {
  validateName,
  validateClientId,
  isValidName,
  splitPath,
  type SplitPath,
  type SplitPathOptions,
  joinPath,
  formatPath,
} from './names.js';
export {
  parseDuration,
  parseBytes,
  formatBytes,
  type Preset,
  PRESETS,
  isPreset,
  type MetaConfig,
  type StorageConfig,
  type ClientConfig,
  type ConfigOverrides,
  metaConfig,
  storageConfig,
  clientConfig,
  type ConfigFile,
  loadConfigFile,
  validateConfigFile,
} from './config.js';
export {
  type Logger,
  type LogLevel,
  type LoggerOptions,
  LOG_LEVELS,
  LOG_LEVEL_ENV,
  createLogger,
  silentLogger,
} from './logger.js';
export {
  Registry,
  type RegistryOptions,
  createRegistry,
  type MetricsServer,
  startMetricsServer,
} from './metrics.js';
export {
  type RetryOptions,
  isRetryableError,
  backoffDelayMs,
  retryWithBackoff,
} from './retry.js';
