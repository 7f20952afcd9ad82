// Advisory locks of one mount (fcntl byte-range locks and flock), served by meta so that every
// client of the cluster sees them (meta/namespace/ops/lock.ts). The mount is one lock session: it
// renews the session every LOCK_SESSION_RENEW_MS while it may hold locks and ends it at unmount;
// if the mount process dies, meta lets its locks lapse after the session lease (5 s).
//
// A blocking request (F_SETLKW, flock without LOCK_NB) is retried with a growing pause until meta
// grants it or the caller is interrupted by a signal (EINTR); a non-blocking one answers EAGAIN.
//
// Coherence (what makes SQLite safe across clients, as NFS does it): before a lock is released or
// changed, this mount's writes to the file are sent to storage and their length to meta
// (`publish`); after a lock is taken, the kernel's cached pages and attributes of the file and the
// mount's readahead are dropped (`refresh`), so the holder reads what the previous holder wrote.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { MetaRpc } from '../client/meta-rpc.js';
import { LockKind, LockType, type LockRecord } from '../proto/index.js';
import { LOCK_RETRY_MAX_MS, LOCK_RETRY_MIN_MS, LOCK_SESSION_RENEW_MS } from './constants.js';
import type { FuseAddon, FuseLock, FuseRequest } from './native.js';

const F_RDLCK = 0;
const F_WRLCK = 1;
const F_UNLCK = 2;
const LOCK_SH = 1;
const LOCK_UN = 8;
/** getlk's "to the end of the file". */
const OFFSET_MAX = 2 ** 63;
const SAFE_BITS = (1n << 53n) - 1n;

type Kind = 'posix' | 'flock';

export interface MountLocksOptions {
  meta: Pick<MetaRpc, 'lock' | 'renewLockSession'>;
  replies: Pick<FuseAddon, 'interrupted'>;
  logger?: Logger;
  /** Makes this mount's writes to the inode visible to other clients (before a lock goes). */
  publish: (ino: number) => Promise<void>;
  /** Drops what this mount and its kernel cache of the inode (after a lock is taken). */
  refresh: (ino: number) => Promise<void>;
}

function errnoError(code: 'EAGAIN' | 'EINTR', message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** FUSE lock owners are 64 random bits: folded into the 53 a proto uint64 carries as a number here. */
function ownerId(hex: string): number {
  const value = BigInt(`0x${hex}`);
  return Number((value ^ (value >> 53n)) & SAFE_BITS);
}

export class MountLocks {
  /** This mount's lock session (unique per process and start). */
  readonly session = `${hostname()}/${process.pid}/${randomBytes(6).toString('hex')}`;
  private renewTimer: NodeJS.Timeout | undefined;
  /** Owners that may hold a lock, by inode: `kind:owner` (so close(2) of an unlocked file costs nothing). */
  private readonly holders = new Map<number, Set<string>>();

  constructor(private readonly options: MountLocksOptions) {}

  /** F_GETLK: a conflicting lock of another owner, or type F_UNLCK. */
  async test(a: FuseRequest): Promise<FuseLock> {
    const lock = a.lock!;
    const response = await this.options.meta.lock({
      ...this.request(a, 'posix'),
      type: lock.type === F_WRLCK ? LockType.LOCK_WRITE : LockType.LOCK_READ,
      test: true,
    });
    const conflict: LockRecord | undefined = response.conflict;
    if (response.granted || conflict === undefined) return { type: F_UNLCK, start: lock.start, end: lock.end, pid: 0 };
    return {
      type: conflict.type === LockType.LOCK_WRITE ? F_WRLCK : F_RDLCK,
      start: conflict.start,
      end: conflict.end >= Number.MAX_SAFE_INTEGER ? OFFSET_MAX : conflict.end,
      pid: conflict.pid,
    };
  }

  /** F_SETLK/F_SETLKW or flock(2): resolves when granted; EAGAIN (would block) or EINTR otherwise. */
  async set(req: number, a: FuseRequest, kind: Kind): Promise<void> {
    const lock = a.lock!;
    const type =
      kind === 'flock'
        ? lock.type === LOCK_UN
          ? LockType.LOCK_UNLOCK
          : lock.type === LOCK_SH
            ? LockType.LOCK_READ
            : LockType.LOCK_WRITE
        : lock.type === F_UNLCK
          ? LockType.LOCK_UNLOCK
          : lock.type === F_RDLCK
            ? LockType.LOCK_READ
            : LockType.LOCK_WRITE;
    const holder = `${kind}:${a.lockOwner}`;
    // Whatever this owner wrote under the lock it holds now is visible before the lock changes.
    await this.options.publish(a.ino);
    if (type === LockType.LOCK_UNLOCK) {
      await this.options.meta.lock({ ...this.request(a, kind), type });
      if (kind === 'flock') this.holders.get(a.ino)?.delete(holder);
      return;
    }
    this.startRenewing();
    let pauseMs = LOCK_RETRY_MIN_MS;
    for (;;) {
      const { granted } = await this.options.meta.lock({ ...this.request(a, kind), type, test: false });
      if (granted) break;
      if (!lock.sleep) throw errnoError('EAGAIN', `inode ${a.ino} is locked by another owner`);
      if (this.options.replies.interrupted(req)) throw errnoError('EINTR', 'interrupted while waiting for a lock');
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      pauseMs = Math.min(LOCK_RETRY_MAX_MS, pauseMs * 2);
    }
    const owners = this.holders.get(a.ino) ?? new Set<string>();
    owners.add(holder);
    this.holders.set(a.ino, owners);
    await this.options.refresh(a.ino);
  }

  /** close(2) (POSIX: the process's locks on the file) or the last close of a description (flock). */
  async releaseOwner(ino: number, lockOwner: string, kind: Kind): Promise<void> {
    const owners = this.holders.get(ino);
    const holder = `${kind}:${lockOwner}`;
    if (owners === undefined || !owners.delete(holder)) return;
    if (owners.size === 0) this.holders.delete(ino);
    await this.options.meta.lock({
      ino,
      session: this.session,
      owner: ownerId(lockOwner),
      kind: kind === 'flock' ? LockKind.LOCK_FLOCK : LockKind.LOCK_POSIX,
      type: LockType.LOCK_UNLOCK,
      start: 0,
      end: Number.MAX_SAFE_INTEGER,
      test: false,
      pid: 0,
    });
  }

  /** At unmount: every lock of this mount goes at once. */
  async endSession(): Promise<void> {
    if (this.renewTimer === undefined) return;
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    this.holders.clear();
    try {
      await this.options.meta.renewLockSession({ session: this.session, end: true });
    } catch (err) {
      this.options.logger?.warn({ err }, 'could not end the lock session (its locks lapse with its lease)');
    }
  }

  private request(a: FuseRequest, kind: Kind) {
    const lock = a.lock!;
    return {
      ino: a.ino,
      session: this.session,
      owner: ownerId(a.lockOwner ?? '0'),
      kind: kind === 'flock' ? LockKind.LOCK_FLOCK : LockKind.LOCK_POSIX,
      start: lock.start,
      end: Math.min(lock.end, Number.MAX_SAFE_INTEGER),
      test: false,
      pid: lock.pid,
    };
  }

  private startRenewing(): void {
    if (this.renewTimer !== undefined) return;
    this.renewTimer = setInterval(() => {
      this.options.meta.renewLockSession({ session: this.session, end: false }).catch((err: unknown) => {
        this.options.logger?.warn({ err }, 'lock session renewal failed (locks lapse if it keeps failing)');
      });
    }, LOCK_SESSION_RENEW_MS);
    this.renewTimer.unref();
  }
}
