// Mounting and unmounting: SpindleMount ties a connected SpindleClient to a FUSE session at a
// directory, and cleans up stale mounts left by a crashed mount process.
//
// Guarantees:
// - mount() refuses a directory that a live mount already covers, and clears a stale one (a FUSE
//   mount whose process died: stat fails with ENOTCONN) before mounting over it.
// - unmount() flushes every open file first (writes a program already saw succeed are not lost),
//   then detaches the mount, waits for the FUSE loop to end (aborting the kernel connection if it
//   does not), and frees the session. It is idempotent and never runs inside a FUSE handler.
// - When the mount goes away from outside (`spindle umount`, `umount`), `exited` resolves after
//   the same cleanup.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { SpindleClient } from '../client/spindle-client.js';
import { ChangeWatcher } from './change-watcher.js';
import { FUSE_IO_MAX_BYTES, UNMOUNT_DRAIN_MS, UNMOUNT_WAIT_MS } from './constants.js';
import { SpindleFuseFs } from './fuse-fs.js';
import { FuseOp, loadFuseAddon, type FuseAddon } from './native.js';

const execFileAsync = promisify(execFile);

/** Readahead the mount asks the kernel for (the bdi default is 128 KiB; root only). */
const KERNEL_READAHEAD_KB = 1024;

export interface MountOptions {
  client: SpindleClient;
  /** Directory to mount on (must exist). */
  mountpoint: string;
  logger?: Logger;
  /** Let other users than the mounting one use the mount (default: when running as root). */
  allowOther?: boolean;
  /** Mount read-only (the kernel answers EROFS to every change). */
  readOnly?: boolean;
  /** The addon (tests may pass a fake). */
  addon?: FuseAddon;
  /**
   * How long the kernel may cache attributes and lookups, seconds (default 1). Changes other
   * clients make through the same meta are pushed at once; this bounds what a missed push costs.
   */
  attrTimeoutS?: number;
}

export interface MountEntry {
  mountpoint: string;
  fstype: string;
  source: string;
  /** major:minor of the mount's device (for FUSE: the connection id is the minor). */
  device: string;
}

/** Mounts as /proc/self/mountinfo lists them (octal escapes decoded). */
function listMounts(): MountEntry[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const decode = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const fields = left.split(' ');
    const tail = right.split(' ');
    entries.push({
      mountpoint: decode(fields[4] ?? ''),
      device: fields[2] ?? '',
      fstype: tail[0] ?? '',
      source: decode(tail[1] ?? ''),
    });
  }
  return entries;
}

/** The FUSE mount at exactly `dir`, if any. */
export function findFuseMount(dir: string): MountEntry | undefined {
  const path = resolve(dir);
  return listMounts()
    .reverse()
    .find((m) => m.mountpoint === path && (m.fstype === 'fuse' || m.fstype.startsWith('fuse.')));
}

/** True when `dir` is a FUSE mount whose server is gone (ENOTCONN / ECONNABORTED). */
export function isStaleMount(dir: string): boolean {
  try {
    statSync(dir);
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOTCONN' || code === 'ECONNABORTED';
  }
}

/** Detaches the mount at `dir` (lazily when `lazy`): umount as root, fusermount3 otherwise. */
export async function detachMount(dir: string, options: { lazy?: boolean } = {}): Promise<void> {
  const path = resolve(dir);
  const root = process.getuid?.() === 0;
  const [command, args] = root
    ? ['umount', options.lazy ? ['-l', path] : [path]]
    : ['fusermount3', options.lazy ? ['-u', '-z', path] : ['-u', path]];
  try {
    await execFileAsync(command, args, { timeout: 10_000 });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    const busy = /busy/i.test(stderr);
    throw Object.assign(new Error(`${command} ${args.join(' ')} failed: ${stderr || (err as Error).message}`), {
      code: busy ? 'EBUSY' : 'EIO',
    });
  }
}

/** Clears a stale mount at `dir`; refuses a live one. Returns true when it cleared one. */
async function clearStaleMount(dir: string, logger?: Logger): Promise<boolean> {
  const path = resolve(dir);
  if (isStaleMount(path)) {
    logger?.warn({ mountpoint: path }, 'clearing a stale mount left by a crashed mount process');
    await detachMount(path, { lazy: true });
    return true;
  }
  const existing = findFuseMount(path);
  if (existing !== undefined) {
    throw Object.assign(
      new Error(
        `${path} is already mounted (${existing.fstype} ${existing.source}): run \`spindle umount ${path}\` first`,
      ),
      {
        code: 'EBUSY',
      },
    );
  }
  return false;
}

export class SpindleMount {
  readonly mountpoint: string;
  readonly fs: SpindleFuseFs;
  /** Drops cached attributes and pages of inodes other clients change. */
  readonly changes: ChangeWatcher;
  /** Resolves when the mount is gone and cleaned up (unmount() or from outside). */
  readonly exited: Promise<void>;
  private readonly addon: FuseAddon;
  private readonly logger: Logger | undefined;
  private connectionId: number | undefined;
  private loopEnded!: () => void;
  private loopHasEnded = false;
  private readonly loopEndedPromise: Promise<void>;
  private resolveExited!: () => void;
  private cleaning: Promise<void> | undefined;

  private constructor(options: MountOptions, addon: FuseAddon) {
    this.mountpoint = resolve(options.mountpoint);
    this.addon = addon;
    this.logger = options.logger;
    this.fs = new SpindleFuseFs({
      client: options.client,
      replies: addon,
      logger: options.logger?.child({ component: 'mount.fs' }),
      attrTimeoutS: options.attrTimeoutS,
    });
    this.changes = new ChangeWatcher({
      meta: options.client.meta,
      forget: (ino) => this.fs.forgetCached(ino),
      logger: options.logger?.child({ component: 'mount.changes' }),
    });
    this.loopEndedPromise = new Promise((r) => (this.loopEnded = r));
    this.exited = new Promise((r) => (this.resolveExited = r));
  }

  /** Clears a stale mount at the directory, mounts, and starts serving. */
  static async mount(options: MountOptions): Promise<SpindleMount> {
    const addon = options.addon ?? loadFuseAddon();
    const mount = new SpindleMount(options, addon);
    await clearStaleMount(mount.mountpoint, options.logger);
    const info = statSync(mount.mountpoint);
    if (!info.isDirectory())
      throw Object.assign(new Error(`${mount.mountpoint} is not a directory`), { code: 'ENOTDIR' });
    const allowOther = options.allowOther ?? process.getuid?.() === 0;
    const mountOptions = [
      // A list of meta addresses has commas, which separate mount options: name them with ';'.
      `fsname=spindle@${options.client.metaAddress.replaceAll(',', ';')}`,
      'subtype=spindle',
      'default_permissions',
      `max_read=${FUSE_IO_MAX_BYTES}`,
      ...(allowOther ? ['allow_other'] : []),
      ...(options.readOnly ? ['ro'] : []),
    ];
    addon.mount(mount.mountpoint, ['-o', mountOptions.join(',')], (op, req, args) => {
      if (op === FuseOp.EXIT) {
        mount.onLoopExit(args.exitCode ?? 0);
        return;
      }
      mount.fs.handle(op, req, args);
    });
    mount.afterMount();
    mount.changes.start();
    options.logger?.info({ mountpoint: mount.mountpoint, meta: options.client.metaAddress }, 'mounted');
    return mount;
  }

  /** Flushes open files, detaches the mount and frees the session. Idempotent. */
  unmount(): Promise<void> {
    return this.cleanup(true);
  }

  // --- internals -------------------------------------------------------------------------------

  private afterMount(): void {
    // Never touch the mountpoint itself from this process: the request would wait for this very
    // thread. The device number comes from /proc/self/mountinfo instead.
    const entry = findFuseMount(this.mountpoint);
    if (entry === undefined) return;
    const [major, minor] = entry.device.split(':');
    this.connectionId = Number(minor);
    try {
      // The kernel caps FUSE readahead at the bdi's read_ahead_kb (128 KiB by default); a larger
      // window lets sequential reads arrive as 1 MiB requests. Root only; best effort.
      writeFileSync(`/sys/class/bdi/${major}:${minor}/read_ahead_kb`, String(KERNEL_READAHEAD_KB));
    } catch (err) {
      this.logger?.debug({ err: (err as Error).message }, 'could not raise the kernel readahead of the mount');
    }
  }

  private onLoopExit(exitCode: number): void {
    this.logger?.debug({ exitCode }, 'fuse loop ended');
    this.loopHasEnded = true;
    this.loopEnded();
    void this.cleanup(false);
  }

  private cleanup(detach: boolean): Promise<void> {
    if (this.cleaning !== undefined) return this.cleaning;
    this.cleaning = (async () => {
      await this.changes.stop();
      if (detach) {
        // While still mounted: buffered writes of files programs still hold open go out now.
        await this.fs.closeAll();
        this.addon.unmount();
        const ended = await Promise.race([
          this.loopEndedPromise.then(() => true),
          sleep(UNMOUNT_WAIT_MS).then(() => false),
        ]);
        if (!ended) {
          this.logger?.warn(
            { mountpoint: this.mountpoint },
            'fuse loop still running after unmount; aborting the connection',
          );
          this.abortConnection();
          await Promise.race([this.loopEndedPromise, sleep(UNMOUNT_WAIT_MS)]);
        }
      }
      await this.fs.waitIdle(UNMOUNT_DRAIN_MS);
      await this.fs.closeAll();
      // Joining a loop thread that never ended would hang this process: leave it to exit instead.
      if (this.loopHasEnded) this.addon.destroy();
      this.logger?.info({ mountpoint: this.mountpoint }, 'unmounted');
      this.resolveExited();
    })();
    return this.cleaning;
  }

  private abortConnection(): void {
    if (this.connectionId === undefined) return;
    const dir = '/sys/fs/fuse/connections';
    try {
      if (!existsSync(`${dir}/${this.connectionId}`))
        execFileSync('mount', ['-t', 'fusectl', 'none', dir], { stdio: 'ignore', timeout: 5_000 });
      writeFileSync(`${dir}/${this.connectionId}/abort`, '1');
    } catch (err) {
      this.logger?.warn({ err: (err as Error).message }, 'could not abort the fuse connection');
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
