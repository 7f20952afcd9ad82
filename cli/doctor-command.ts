// `spindle doctor`: checks this machine for what Spindle uses and says what to do about anything
// missing. Each check is `ok`, `missing` (something to install or fix), `warn` (works, but not as
// well as it could) or `info` (reported only). Checks marked `required` are what a default
// `spindle up` needs (Node ≥ 20, the npm dependencies, a writable data directory, a block I/O
// backend a storage node can open there); the exit code is 0 when all of those are ok and
// ExitCode.FAILURE otherwise. Everything else (FUSE for `spindle mount`, io_uring, O_DIRECT, etcd)
// has a fallback or belongs to another command.
//
// Probes run in a temporary directory under --data-dir (or its nearest existing parent; default
// the OS temp dir) and leave nothing behind.
import { constants, existsSync } from 'node:fs';
import { access, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { BlockIoKind } from '../storage/index.js';
import { ExitCode } from './exit-codes.js';
import { mallocMode, TUNED_MALLOC_ENV } from '../cluster/server-env.js';
import { BUILD_ADDONS_HINT } from '../common/package-root.js';

type CheckStatus = 'ok' | 'missing' | 'warn' | 'info';

interface DoctorCheck {
  name: string;
  status: CheckStatus;
  /** Part of what a default `spindle up` needs (a failing one makes the exit code non-zero). */
  required: boolean;
  detail: string;
  /** What to do when not ok (empty when ok). */
  fix: string;
}

export interface DoctorReport {
  /** All required checks are ok. */
  ok: boolean;
  /** Where the probes ran. */
  probeDir: string;
  /** What a storage node would choose in probeDir (undefined: it could not open a target there). */
  blockIo: { kind: BlockIoKind; reason: string } | undefined;
  checks: DoctorCheck[];
}

const NODE_MAJOR_MIN = 20;
const SETUP = BUILD_ADDONS_HINT;

function check(name: string, status: CheckStatus, required: boolean, detail: string, fix = ''): DoctorCheck {
  return { name, status, required, detail, fix: status === 'ok' || status === 'info' ? '' : fix };
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The first directory of $PATH holding an executable `name`. */
async function which(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const path = join(dir, name);
    try {
      await access(path, constants.X_OK);
      if ((await stat(path)).isFile()) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `dir` if it exists, else its nearest existing parent. */
function existingAncestor(dir: string): string {
  let at = resolve(dir);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  return at;
}

function checkNode(): DoctorCheck {
  const major = Number(process.versions.node.split('.')[0]);
  return major >= NODE_MAJOR_MIN
    ? check('node', 'ok', true, `Node ${process.version}`)
    : check(
        'node',
        'missing',
        true,
        `Node ${process.version} (needs ${NODE_MAJOR_MIN} or newer)`,
        `install Node.js ${NODE_MAJOR_MIN}+`,
      );
}

async function checkNpmDeps(): Promise<DoctorCheck> {
  try {
    await import('lmdb');
    await import('@grpc/grpc-js');
    return check('npm-deps', 'ok', true, 'lmdb and @grpc/grpc-js load');
  } catch (err) {
    return check('npm-deps', 'missing', true, `npm dependencies do not load: ${message(err)}`, `${SETUP} (npm ci)`);
  }
}

async function checkFuse(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  try {
    const { loadFuseAddon, ADDON_PATH } = await import('../mount/native.js');
    loadFuseAddon();
    checks.push(check('fuse-addon', 'ok', false, `loads (${ADDON_PATH})`));
  } catch (err) {
    checks.push(
      check(
        'fuse-addon',
        'missing',
        false,
        `spindle mount unavailable: ${message(err)}`,
        `${SETUP} (installs fuse3 libfuse3-dev, builds native/fuse)`,
      ),
    );
  }
  checks.push(
    existsSync('/dev/fuse')
      ? check('dev-fuse', 'ok', false, '/dev/fuse exists')
      : check(
          'dev-fuse',
          'missing',
          false,
          '/dev/fuse is missing: spindle mount cannot mount',
          'load the fuse kernel module (modprobe fuse) or give the container --device /dev/fuse',
        ),
  );
  const fusermount = await which('fusermount3');
  checks.push(
    fusermount !== undefined
      ? check('fusermount3', 'ok', false, fusermount)
      : check(
          'fusermount3',
          'missing',
          false,
          'fusermount3 not on PATH: unprivileged unmounts fail',
          'apt-get install fuse3 (or run scripts/setup.sh)',
        ),
  );
  return checks;
}

async function checkStorage(probeDir: string): Promise<{ checks: DoctorCheck[]; blockIo: DoctorReport['blockIo'] }> {
  const checks: DoctorCheck[] = [];
  let dir: string | undefined;
  try {
    dir = await mkdtemp(join(probeDir, '.spindle-doctor-'));
    checks.push(check('data-dir', 'ok', true, `${probeDir} is writable`));
  } catch (err) {
    checks.push(
      check(
        'data-dir',
        'missing',
        true,
        `cannot create files in ${probeDir}: ${message(err)}`,
        'pass a writable --data-dir (spindle up --data-dir DIR)',
      ),
    );
    return { checks, blockIo: undefined };
  }
  try {
    // Loaded here, not at the top: only `spindle doctor` needs the storage module in the CLI.
    const { chooseBlockIo, loadUringAddon, probeUring, URING_ADDON_PATH } = await import('../storage/index.js');
    let addonLoads = false;
    try {
      const addon = loadUringAddon();
      const info = addon.info();
      addonLoads = true;
      checks.push(
        check('uring-addon', 'ok', false, `loads, ring of ${info?.entries ?? '?'} entries (${URING_ADDON_PATH})`),
      );
    } catch (err) {
      checks.push(
        check(
          'uring-addon',
          'missing',
          false,
          `storage falls back to node:fs: ${message(err)}`,
          `${SETUP} (installs liburing-dev, builds native/uring); needs kernel.io_uring_disabled=0`,
        ),
      );
    }
    // O_DIRECT on its own: the fs backend uses it too (whole-block writes).
    const direct = await probeDirect(dir);
    checks.push(
      direct.ok
        ? check('o-direct', 'ok', false, `O_DIRECT works in ${probeDir}`)
        : check(
            'o-direct',
            'warn',
            false,
            `O_DIRECT refused in ${probeDir} (${direct.reason}): block writes go through the page cache`,
            'put --data-dir on a file system with O_DIRECT (ext4, xfs)',
          ),
    );
    if (addonLoads) {
      const probe = await probeUring(dir);
      checks.push(
        probe.ok
          ? check('io-uring', 'ok', false, probe.reason.replaceAll(dir, probeDir))
          : check(
              'io-uring',
              'warn',
              false,
              `io_uring unusable in ${probeDir}: ${probe.reason.replaceAll(dir, probeDir)}`,
              'put --data-dir on a file system with O_DIRECT, or keep the fs backend',
            ),
      );
    } else {
      checks.push(check('io-uring', 'missing', false, 'not probed: the addon does not load', `${SETUP}`));
    }
    try {
      const choice = await chooseBlockIo(dir);
      checks.push(
        check(
          'block-io',
          'ok',
          true,
          `a storage node here would use ${choice.kind}: ${choice.reason.replaceAll(dir, probeDir)}`,
        ),
      );
      return { checks, blockIo: { kind: choice.kind, reason: choice.reason.replaceAll(dir, probeDir) } };
    } catch (err) {
      checks.push(
        check(
          'block-io',
          'missing',
          true,
          `a storage node here would fail to open its targets: ${message(err)}`,
          'unset SPINDLE_BLOCK_IO or set it to fs or auto',
        ),
      );
      return { checks, blockIo: undefined };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function probeDirect(dir: string): Promise<{ ok: boolean; reason: string }> {
  const path = join(dir, 'o-direct');
  try {
    const fh = await open(path, constants.O_RDWR | constants.O_CREAT | constants.O_DIRECT, 0o600);
    await fh.close();
    return { ok: true, reason: '' };
  } catch (err) {
    return { ok: false, reason: (err as NodeJS.ErrnoException).code ?? message(err) };
  } finally {
    await rm(path, { force: true });
  }
}

async function checkCrc32c(): Promise<DoctorCheck> {
  const { crc32cImplementation } = await import('../common/crc32c.js');
  return crc32cImplementation.name === 'sse42-3way'
    ? check('crc32c', 'ok', false, crc32cImplementation.reason)
    : check(
        'crc32c',
        'warn',
        false,
        `checksums use @node-rs/crc32 (about 4× slower): ${crc32cImplementation.reason}`,
        `${SETUP} (builds native/crc32c)`,
      );
}

function checkMalloc(): DoctorCheck {
  const own = Object.entries(process.env).filter(([key]) => key.startsWith('MALLOC_'));
  const mode = mallocMode();
  const servers =
    mode === 'tuned'
      ? `servers get ${Object.entries(TUNED_MALLOC_ENV)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')} (SPINDLE_MALLOC=tuned, the default)`
      : 'servers get glibc defaults (SPINDLE_MALLOC=default)';
  const here = own.length === 0 ? 'no MALLOC_* set here' : `set here: ${own.map(([k, v]) => `${k}=${v}`).join(' ')}`;
  return check('malloc', 'info', false, `${here}; ${servers}`);
}

async function checkEtcd(): Promise<DoctorCheck> {
  const etcd = await which('etcd');
  return check(
    'etcd',
    'info',
    false,
    etcd !== undefined
      ? `${etcd} (for the etcd KV engine)`
      : 'not on PATH (only the etcd KV engine needs it; the default is lmdb)',
  );
}

/** Runs every check; `dataDir` is where probes run (default the OS temp dir). */
async function runDoctor(options: { dataDir?: string } = {}): Promise<DoctorReport> {
  const probeDir = existingAncestor(options.dataDir ?? tmpdir());
  const storage = await checkStorage(probeDir);
  const checks = [
    checkNode(),
    await checkNpmDeps(),
    ...storage.checks,
    ...(await checkFuse()),
    await checkCrc32c(),
    checkMalloc(),
    await checkEtcd(),
  ];
  return { ok: checks.every((c) => !c.required || c.status === 'ok'), probeDir, blockIo: storage.blockIo, checks };
}

/** The report as a table (CHECK, STATUS, NEEDED BY UP, DETAIL, then FIX lines). */
function formatDoctor(report: DoctorReport): string[] {
  const nameWidth = Math.max(5, ...report.checks.map((c) => c.name.length));
  const lines = [`${'CHECK'.padEnd(nameWidth)}  STATUS   UP   DETAIL`];
  for (const c of report.checks) {
    lines.push(`${c.name.padEnd(nameWidth)}  ${c.status.padEnd(7)}  ${c.required ? 'yes' : '-  '}  ${c.detail}`);
    if (c.fix !== '') lines.push(`${''.padEnd(nameWidth)}  ${''.padEnd(7)}       → ${c.fix}`);
  }
  lines.push(
    report.ok ? 'everything `spindle up` needs is here' : '`spindle up` would fail: fix the checks marked UP yes above',
  );
  return lines;
}

export function addDoctorCommand(program: Command, state: { exitCode: number }): void {
  program
    .command('doctor')
    .description(
      'check this machine for what Spindle uses (Node, FUSE, io_uring, O_DIRECT, block I/O backend, malloc, ' +
        'etcd) and say what to do; exit 0 when `spindle up` can run',
    )
    .option('--data-dir <dir>', 'where to probe the disk (default: the OS temp dir)')
    .option('--json', 'print one JSON object')
    .action(async (o: { dataDir?: string; json?: boolean }) => {
      const report = await runDoctor({ dataDir: o.dataDir });
      process.stdout.write(o.json === true ? `${JSON.stringify(report)}\n` : `${formatDoctor(report).join('\n')}\n`);
      state.exitCode = report.ok ? ExitCode.OK : ExitCode.FAILURE;
    });
}
