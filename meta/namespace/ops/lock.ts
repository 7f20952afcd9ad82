// Advisory locks (fcntl byte-range and flock) held by lock sessions, coherent for every client of
// the cluster because they live in the store: LOCK ‖ ino holds the inode's LockTable, LKSS ‖
// session until when a session's locks hold. A mount is one session: it renews it every
// LOCK_SESSION_RENEW_MS and ends it at unmount; a client that dies stops renewing, and after
// LOCK_SESSION_LEASE_MS its locks no longer conflict with anyone (they are purged from a table
// the next time the table changes).
//
// Semantics (Linux): POSIX locks belong to (session, owner) and cover byte ranges; a new lock
// replaces the owner's own locks on its range (splitting them), and conflicts with another
// owner's overlapping lock when either is a write lock. flock locks cover the whole file, belong
// to an open file description (owner) and convert in place. The two kinds never conflict. A
// blocked caller is not queued here: the mount retries (F_SETLKW, LOCK_EX without LOCK_NB).
import { ErrorCode, SpindleError } from '../../../common/errors.js';
import { KeyPrefix, encodeKey } from '../../../common/keys.js';
import {
  LockKind,
  type LockRecord,
  type LockRequest,
  type LockResponse,
  LockTable,
  LockType,
  type RenewLockSessionRequest,
  type RenewLockSessionResponse,
} from '../../../proto/index.js';
import { LOCK_SESSION_LEASE_MS } from '../constants.js';
import type { NamespaceContext } from '../context.js';
import type { MetaTxn } from '../store.js';
import { requireIno } from '../validate.js';
import { decodeU64, encodeU64 } from '../schema.js';

const SESSION_MAX_BYTES = 256;

function tableKey(ino: number): Buffer {
  return encodeKey(KeyPrefix.LOCK, ino);
}

function sessionKey(session: string): Buffer {
  return encodeKey(KeyPrefix.LOCK_SESSION, session);
}

function requireSession(session: string, method: string): string {
  const bytes = Buffer.byteLength(session ?? '', 'utf8');
  if (bytes === 0 || bytes > SESSION_MAX_BYTES) {
    throw new SpindleError(
      ErrorCode.INVALID_ARGUMENT,
      `${method}: field 'session' must be 1..${SESSION_MAX_BYTES} bytes, got ${bytes}`,
    );
  }
  return session;
}

/** Extends the session's lease from now (every Lock call does it too). */
function renew(mt: MetaTxn, session: string): number {
  const expiresUs = mt.nowUs + LOCK_SESSION_LEASE_MS * 1000;
  mt.txn.put(sessionKey(session), encodeU64(expiresUs));
  return expiresUs;
}

/** The table's locks whose sessions are still alive (lapsed ones dropped). */
async function liveLocks(mt: MetaTxn, locks: LockRecord[], self: string): Promise<LockRecord[]> {
  const alive = new Map<string, boolean>([[self, true]]);
  const out: LockRecord[] = [];
  for (const lock of locks) {
    let live = alive.get(lock.session);
    if (live === undefined) {
      const bytes = await mt.txn.get(sessionKey(lock.session));
      live = bytes !== undefined && decodeU64(bytes) > mt.nowUs;
      alive.set(lock.session, live);
    }
    if (live) out.push(lock);
  }
  return out;
}

function sameOwner(a: LockRecord, b: { session: string; owner: number; kind: LockKind }): boolean {
  return a.session === b.session && a.owner === b.owner && a.kind === b.kind;
}

function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start <= b.end && b.start <= a.end;
}

/** The owner's own locks with [start, end] cut out of them (POSIX split on unlock or replace). */
function cutOut(locks: LockRecord[], owner: LockRequest, start: number, end: number): LockRecord[] {
  const out: LockRecord[] = [];
  for (const lock of locks) {
    if (!sameOwner(lock, owner) || !overlaps(lock, { start, end })) {
      out.push(lock);
      continue;
    }
    if (lock.start < start) out.push({ ...lock, end: start - 1 });
    if (lock.end > end) out.push({ ...lock, start: end + 1 });
  }
  return out;
}

export async function lock(ctx: NamespaceContext, request: LockRequest, signal?: AbortSignal): Promise<LockResponse> {
  const method = 'Lock';
  requireIno(request.ino, method);
  const session = requireSession(request.session, method);
  const flock = request.kind === LockKind.LOCK_FLOCK;
  const start = flock ? 0 : request.start;
  const end = flock ? Number.MAX_SAFE_INTEGER : Math.min(request.end, Number.MAX_SAFE_INTEGER);
  if (!Number.isSafeInteger(start) || start < 0 || end < start) {
    throw new SpindleError(ErrorCode.INVALID_ARGUMENT, `${method}: range ${request.start}..${request.end} is empty`);
  }
  const mine = { session, owner: request.owner, kind: request.kind };
  return ctx.write(async (mt) => {
    if (!request.test) renew(mt, session);
    const bytes = await mt.txn.get(tableKey(request.ino));
    const stored = bytes === undefined ? [] : LockTable.decode(bytes).locks;
    const locks = await liveLocks(mt, stored, session);
    if (request.type !== LockType.LOCK_UNLOCK) {
      const conflict = locks.find(
        (other) =>
          other.kind === request.kind &&
          !sameOwner(other, mine) &&
          overlaps(other, { start, end }) &&
          (other.type === LockType.LOCK_WRITE || request.type === LockType.LOCK_WRITE),
      );
      if (conflict !== undefined || request.test) return { granted: conflict === undefined, conflict };
    } else if (request.test) {
      return { granted: true, conflict: undefined };
    }
    let next = cutOut(locks, request, start, end);
    if (request.type !== LockType.LOCK_UNLOCK) {
      next.push({ ...mine, type: request.type, start, end, pid: request.pid });
      next = next.sort((a, b) => a.start - b.start);
    }
    if (next.length === 0) mt.txn.delete(tableKey(request.ino));
    else mt.txn.put(tableKey(request.ino), LockTable.encode({ locks: next }).finish());
    return { granted: true, conflict: undefined };
  }, signal);
}

export async function renewLockSession(
  ctx: NamespaceContext,
  request: RenewLockSessionRequest,
  signal?: AbortSignal,
): Promise<RenewLockSessionResponse> {
  const session = requireSession(request.session, 'RenewLockSession');
  return ctx.write(async (mt) => {
    if (!request.end) return { expiresUs: renew(mt, session) };
    // Ended: its locks lapse at once (tables drop them the next time they change).
    mt.txn.put(sessionKey(session), encodeU64(0));
    return { expiresUs: 0 };
  }, signal);
}
