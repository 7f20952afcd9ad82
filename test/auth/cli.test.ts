// The local experience with authentication on (issue 16): `spindle up` stores the client and admin
// tokens in ~/.spindle/credentials.json (mode 0600, keyed by meta address) and prints its path in
// the ready line; `spindle put/get` on the same machine work without flags; `spindle admin token
// create` mints a token that another host uses through SPINDLE_TOKEN (or --token-file); without any
// token the CLI is refused with a message saying where to find one; a client token cannot run an
// admin command; stopping the cluster removes its entry.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SpindleClient } from '../../client/index.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';

const work = mkdtempSync(join(tmpdir(), 'auth-core-cli-'));
const home = join(work, 'home');
const otherHome = join(work, 'remote-home');
mkdirSync(home);
mkdirSync(otherHome);
const children: ChildProcess[] = [];
const run = promisify(execFile);
const SPINDLE = join(PACKAGE_ROOT, 'bin/spindle.mjs');

/** The environment of a process on "this machine" (HOME=home) or another one, without inherited credentials. */
/** A CLI run that must succeed; its stderr is the failure message. */
async function ok(args: string[], env: NodeJS.ProcessEnv) {
  const result = await spindle(args, env);
  expect(result.code, `spindle ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result;
}

function envFor(homeDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: homeDir, SPINDLE_LOG_LEVEL: 'warn', ...extra };
  delete env.SPINDLE_CREDENTIALS;
  delete env.SPINDLE_META;
  if (extra.SPINDLE_TOKEN === undefined) delete env.SPINDLE_TOKEN;
  delete env.SPINDLE_TOKEN_FILE;
  return env;
}

async function spindle(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [SPINDLE, ...args], { cwd: work, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

interface ReadyLine {
  meta: string;
  metaPid: number;
  storage: Array<{ pid: number }>;
  auth: string;
  credentials: string;
}

afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

describe('spindle up with authentication', () => {
  it('stores credentials where the CLI finds them; tokens minted by an admin work elsewhere', async () => {
    const child = spawn(
      process.execPath,
      [SPINDLE, 'up', '--port', '0', '--data-dir', join(work, 'data'), '--preset', 'test'],
      { cwd: work, env: envFor(home), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const line = await new Promise<ReadyLine>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))) as ReadyLine);
      });
      child.once('exit', (code) => reject(new Error(`spindle up exited ${code}: ${stderr}`)));
    });
    const credentialsFile = join(home, '.spindle', 'credentials.json');
    expect(line.auth).toBe('on');
    expect(line.credentials).toBe(credentialsFile);
    expect(statSync(credentialsFile).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(credentialsFile, 'utf8')).clusters[line.meta];
    expect(Object.keys(stored).sort()).toEqual(['admin', 'client']);

    // This machine: no flags beyond --meta.
    const local = join(work, 'payload.bin');
    writeFileSync(local, Buffer.alloc(100_000, 5));
    const here = envFor(home);
    await ok(['put', local, '/payload', '--meta', line.meta], here);
    await ok(['get', '/payload', join(work, 'back.bin'), '--meta', line.meta], here);
    expect(readFileSync(join(work, 'back.bin')).equals(readFileSync(local))).toBe(true);

    // Another machine (no credentials file): refused, with a message saying where tokens come from.
    const elsewhere = envFor(otherHome);
    const refused = await spindle(['ls', '/', '--meta', line.meta], elsewhere);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--token-file|SPINDLE_TOKEN/);

    // A directory bob may write to (the token's uid decides, and / belongs to root).
    const owner = await SpindleClient.connect({ meta: line.meta, token: stored.client });
    await owner.mkdir('/shared');
    await owner.chmod('/shared', 0o777);
    await owner.close();

    // An admin mints a client token; that host uses it through SPINDLE_TOKEN and --token-file.
    const minted = await ok(
      ['admin', 'token', 'create', '--role', 'client', '--user', 'bob', '--uid', '1234', '--meta', line.meta],
      here,
    );
    const token = minted.stdout.trim();
    expect(token).toMatch(/^spindle1\./);
    const withToken = envFor(otherHome, { SPINDLE_TOKEN: token });
    await ok(['put', local, '/shared/from-bob', '--meta', line.meta], withToken);
    writeFileSync(join(work, 'bob.token'), `${token}\n`, { mode: 0o600 });
    const listed = await spindle(
      ['ls', '/shared', '--meta', line.meta, '--token-file', join(work, 'bob.token')],
      elsewhere,
    );
    expect(listed.stdout).toMatch(/from-bob/);

    // A client token cannot run admin commands.
    const denied = await spindle(['admin', 'create-chains', '--replicas', '1', '--meta', line.meta], withToken);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/needs a admin credential/);
    const mint = await spindle(
      ['admin', 'token', 'create', '--role', 'admin', '--user', 'eve', '--meta', line.meta],
      withToken,
    );
    expect(mint.code).not.toBe(0);

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(JSON.parse(readFileSync(credentialsFile, 'utf8')).clusters[line.meta]).toBeUndefined();
  });
});
