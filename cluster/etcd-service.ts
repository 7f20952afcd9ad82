// Starts etcd-server processes for `spindle up --kv etcd` and the tests: one member, or a cluster of
// several members on loopback, each with its own data dir, free ports and a log file.
//
// Guarantees:
// - resolves only once every member answers `/health` with a leader elected; otherwise the
//   members started are killed and the error names the member and the tail of its log;
// - the handle's `stop()` is idempotent (SIGTERM, then SIGKILL after a timeout) and `kill()`
//   simulates a crash; a process exit of the launcher SIGKILLs them (child-reaper.ts);
// - etcd's own limits are passed explicitly (--max-txn-ops, --max-request-bytes), so the engine
//   and the server agree on them.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ErrorCode } from '../common/errors.js';
import { reapOnExit } from './child-reaper.js';
import { tailFile } from './log-tail.js';
import { ServiceProcess } from './service-process.js';
import { ServiceStartError } from './service-start-error.js';

/** etcd's limit on operations (and on compares) in one transaction; etcd's own default is 128. */
export const ETCD_TXN_OPS_MAX = 1024;
/** etcd's request size limit; etcd's own default (1.5 MiB) is below two 1 MiB values in one txn. */
export const ETCD_REQUEST_BYTES_MAX = 8 * 1024 * 1024;
/** How long members may take to elect a leader (about 1 s alone; longer on a loaded machine). */
const ETCD_READY_TIMEOUT_MS = 30_000;
/** Pause between health probes while waiting for a leader. */
const ETCD_PROBE_INTERVAL_MS = 100;

interface EtcdReady {
  pid: number;
  name: string;
  /** Client URL, e.g. http://127.0.0.1:23791. */
  endpoint: string;
  peer: string;
  dataDir: string;
}

export type EtcdProcess = ServiceProcess<EtcdReady>;

export interface StartEtcdOptions {
  /** Members are placed in `<baseDir>/etcd-<i>` (data) with logs in `<logDir>/etcd-<i>.log`. */
  baseDir: string;
  logDir: string;
  /** Members (default 1). */
  members?: number;
  host?: string;
  /** Client port of member 0 (0 = free ports for every member); member i gets clientPort + i. */
  clientPort?: number;
  /** Peer port of member 0 when clientPort is fixed (default clientPort + 1000). */
  peerPort?: number;
  binary?: string;
  txnOpsMax?: number;
  requestBytesMax?: number;
  readyTimeoutMs?: number;
  /** Own process group (default true); false keeps members in the caller's group (a test runner's). */
  detached?: boolean;
}

/** `count` distinct free ports: every probe listener stays open until all are chosen. */
async function freePorts(host: string, count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, host, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await response.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

interface MemberPlan {
  name: string;
  dataDir: string;
  logFile: string;
  clientUrl: string;
  peerUrl: string;
}

function spawnMember(
  plan: MemberPlan,
  cluster: string,
  options: Pick<StartEtcdOptions, 'binary' | 'txnOpsMax' | 'requestBytesMax' | 'logDir' | 'detached'>,
  existing: boolean,
): ChildProcess {
  mkdirSync(plan.dataDir, { recursive: true });
  mkdirSync(options.logDir, { recursive: true });
  const args = [
    '--name',
    plan.name,
    '--data-dir',
    plan.dataDir,
    '--listen-client-urls',
    plan.clientUrl,
    '--advertise-client-urls',
    plan.clientUrl,
    '--listen-peer-urls',
    plan.peerUrl,
    '--initial-advertise-peer-urls',
    plan.peerUrl,
    '--initial-cluster',
    cluster,
    '--initial-cluster-state',
    existing ? 'existing' : 'new',
    '--max-txn-ops',
    String(options.txnOpsMax ?? ETCD_TXN_OPS_MAX),
    '--max-request-bytes',
    String(options.requestBytesMax ?? ETCD_REQUEST_BYTES_MAX),
    '--log-level',
    'warn',
    '--logger',
    'zap',
  ];
  const logFd = openSync(plan.logFile, 'a');
  try {
    const child = spawn(options.binary ?? 'etcd', args, {
      stdio: ['ignore', 'ignore', logFd],
      detached: options.detached ?? true,
    });
    // A missing binary is reported by waitHealthy (the child is not running); no unhandled 'error'.
    child.on('error', () => {});
    reapOnExit(child);
    return child;
  } finally {
    closeSync(logFd);
  }
}

/** Starts `members` etcd members forming one cluster and waits until each reports a leader. */
export async function startEtcd(options: StartEtcdOptions): Promise<EtcdProcess[]> {
  const host = options.host ?? '127.0.0.1';
  const members = options.members ?? 1;
  const plans: MemberPlan[] = [];
  const fixed = options.clientPort !== undefined && options.clientPort !== 0;
  const free = fixed ? [] : await freePorts(host, 2 * members);
  for (let index = 0; index < members; index++) {
    const clientPort = fixed ? options.clientPort! + index : free[2 * index]!;
    const peerPort = fixed ? (options.peerPort ?? options.clientPort! + 1000) + index : free[2 * index + 1]!;
    plans.push({
      name: `etcd-${index}`,
      dataDir: join(options.baseDir, `etcd-${index}`),
      logFile: join(options.logDir, `etcd-${index}.log`),
      clientUrl: `http://${host}:${clientPort}`,
      peerUrl: `http://${host}:${peerPort}`,
    });
  }
  const cluster = plans.map((plan) => `${plan.name}=${plan.peerUrl}`).join(',');
  const children = plans.map((plan) => spawnMember(plan, cluster, options, false));
  const processes = plans.map(
    (plan, index) =>
      new ServiceProcess<EtcdReady>(
        plan.name,
        children[index]!,
        {
          pid: children[index]!.pid ?? 0,
          name: plan.name,
          endpoint: plan.clientUrl,
          peer: plan.peerUrl,
          dataDir: plan.dataDir,
        },
        plan.logFile,
      ),
  );
  try {
    await waitHealthy(processes, options.readyTimeoutMs ?? ETCD_READY_TIMEOUT_MS);
  } catch (error) {
    for (const member of processes) member.kill('SIGKILL');
    await Promise.all(processes.map((member) => member.exited()));
    throw error;
  }
  return processes;
}

/** Restarts a member that was stopped or killed (same name, data dir and URLs). */
export async function restartEtcdMember(
  member: EtcdProcess,
  options: Pick<
    StartEtcdOptions,
    'binary' | 'txnOpsMax' | 'requestBytesMax' | 'readyTimeoutMs' | 'logDir' | 'detached'
  > & {
    /** Wait for /health (false: a member alone without quorum never becomes healthy). */
    waitHealthy?: boolean;
  },
): Promise<EtcdProcess> {
  const plan: MemberPlan = {
    name: member.ready.name,
    dataDir: member.ready.dataDir,
    logFile: member.logFile,
    clientUrl: member.ready.endpoint,
    peerUrl: member.ready.peer,
  };
  // The data dir already holds the membership: --initial-cluster is ignored then, but must parse.
  const child = spawnMember(plan, `${plan.name}=${plan.peerUrl}`, options, true);
  const restarted = new ServiceProcess<EtcdReady>(
    plan.name,
    child,
    { ...member.ready, pid: child.pid ?? 0 },
    plan.logFile,
  );
  return restarted;
}

async function waitHealthy(processes: EtcdProcess[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const member of processes) {
    for (;;) {
      if (!member.running || member.child.pid === undefined) {
        throw new ServiceStartError(
          ErrorCode.SERVICE_START_FAILED,
          `${member.name} exited before it was ready; the end of its log ${member.logFile} says why ` +
            '(is etcd-server installed? scripts/setup.sh installs it)',
          member.name,
          member.logFile,
          tailFile(member.logFile),
        );
      }
      if (await healthy(member.ready.endpoint)) break;
      if (Date.now() > deadline) {
        throw new ServiceStartError(
          ErrorCode.TIMEOUT,
          `${member.name} at ${member.ready.endpoint} had no leader within ${timeoutMs} ms; see ${member.logFile}`,
          member.name,
          member.logFile,
          tailFile(member.logFile),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, ETCD_PROBE_INTERVAL_MS));
    }
  }
}
