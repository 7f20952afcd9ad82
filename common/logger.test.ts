import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isSpindleError } from './errors.js';
import { createLogger } from './logger.js';
import { PACKAGE_ROOT } from './package-root.js';

// The compiled module (the global setup builds dist/): a child needs no TypeScript loader.
const loggerPath = pathToFileURL(join(PACKAGE_ROOT, 'dist', 'common', 'logger.js')).href;

/** Runs a tiny script in a child process and returns what it printed on stdout and stderr. */
function runChild(body: string, env: Record<string, string | undefined> = {}): { stdout: string; stderr: string } {
  const script = `import { createLogger } from ${JSON.stringify(loggerPath)};\n${body}`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: childEnv,
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(result.status).toBe(0);
  return { stdout: result.stdout, stderr: result.stderr };
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('createLogger', () => {
  it('writes JSON lines to stderr only, honouring level and SPINDLE_LOG_LEVEL', () => {
    const { stdout, stderr } = runChild(
      `
      const a = createLogger({ name: 'alpha', level: 'debug' });
      a.debug({ n: 1 }, 'debug line');
      const b = createLogger({ name: 'beta' }).child({ component: 'test.child' });
      b.info('info line');
      b.warn({ n: 2 }, 'warn line');
      createLogger({ name: 'gamma', destination: 'silent' }).error('never');
      process.exit(0); // synchronous writes: nothing may be lost
      `,
      { SPINDLE_LOG_LEVEL: 'warn' },
    );
    expect(stdout).toBe('');
    const records = lines(stderr);
    expect(records.map((r) => r.msg)).toEqual(['debug line', 'warn line']);
    expect(records[0]).toMatchObject({ name: 'alpha', level: 20, n: 1 });
    expect(records[1]).toMatchObject({ name: 'beta', level: 40, component: 'test.child', n: 2 });
    expect(typeof records[1]!.pid).toBe('number');
  });

  it('defaults to info without the environment variable', () => {
    const { stderr } = runChild(`const l = createLogger({ name: 'x' }); l.debug('hidden'); l.info('shown');`, {
      SPINDLE_LOG_LEVEL: undefined,
    });
    expect(lines(stderr).map((r) => r.msg)).toEqual(['shown']);
  });

  it('rejects unknown levels with CONFIG_INVALID', () => {
    let caught: unknown;
    try {
      createLogger({ name: 'x', level: 'loud' });
    } catch (err) {
      caught = err;
    }
    expect(isSpindleError(caught, ErrorCode.CONFIG_INVALID)).toBe(true);
  });

  it('silent loggers are disabled', () => {
    const logger = createLogger({ name: 'x', destination: 'silent' });
    expect(logger.isLevelEnabled('fatal')).toBe(false);
  });
});
