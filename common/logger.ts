// The process logger: pino writing one JSON object per line to stderr (stdout is reserved for a
// process's single ready line). Writes are synchronous, so the last lines before a crash or
// process.exit are not lost. Components take a child: logger.child({ component: 'storage.chain' }).
import { pino, type Logger as PinoLogger, type LevelWithSilent } from 'pino';
import { ErrorCode, SpindleError } from './errors.js';

export type Logger = PinoLogger;
type LogLevel = LevelWithSilent;

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Environment variable giving the level when none is passed. */
const LOG_LEVEL_ENV = 'SPINDLE_LOG_LEVEL';

export interface LoggerOptions {
  /** Process or library name, in every line as `name`. */
  name: string;
  /** fatal|error|warn|info|debug|trace|silent; default: $SPINDLE_LOG_LEVEL, else 'info'. */
  level?: string;
  /** 'stderr' (default) or 'silent' (discard everything: libraries in tests). */
  destination?: 'stderr' | 'silent';
  /** Fields in every line (e.g. { nodeId }). */
  base?: Record<string, unknown>;
}

function toLevel(value: string, source: string): LogLevel {
  const level = value.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new SpindleError(
      ErrorCode.CONFIG_INVALID,
      `${source}: unknown log level ${JSON.stringify(value)} (use ${LOG_LEVELS.join(', ')})`,
    );
  }
  return level as LogLevel;
}

export function createLogger(options: LoggerOptions): Logger {
  if (options.destination === 'silent') {
    return pino({ name: options.name, level: 'silent', base: options.base ?? null });
  }
  const fromEnv = process.env[LOG_LEVEL_ENV];
  const level =
    options.level !== undefined
      ? toLevel(options.level, 'log level')
      : fromEnv !== undefined && fromEnv !== ''
        ? toLevel(fromEnv, LOG_LEVEL_ENV)
        : 'info';
  return pino(
    {
      name: options.name,
      level,
      base: { pid: process.pid, ...(options.base ?? {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that discards everything (default for library objects constructed without one). */
export function silentLogger(): Logger {
  return createLogger({ name: 'spindle', destination: 'silent' });
}
