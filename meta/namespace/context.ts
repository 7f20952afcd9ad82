// What every namespace operation runs with: the injected dependencies, the id and chain
// allocators, and the two ways to run a transaction — `read` (read-only, never conflicts) and
// `mutate` (read-write, with idempotency, inode id reservation and post-commit actions).
import type { Clock, Rng } from '../../common/clock.js';
import type { MetaConfig } from '../../common/config.js';
import { SpindleError, assert } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { MessageFns, RequestTag } from '../../proto/index.js';
import type { ClusterView } from '../cluster-view.js';
import type { KvEngine } from '../kv/engine.js';
import type { StoragePort } from '../storage-port.js';
import {
  isRecordableError,
  readRecord,
  replay,
  requestDigest,
  storeRecordOnce,
  tagOf,
  writeRecord,
  type IdempotencyTag,
} from './idempotency.js';
import { type IdLease, IdsExhausted, InodeIdAllocator } from './inode-ids.js';
import { ChainAllocator } from './layout.js';
import type { ChangeFeed } from '../changes/change-feed.js';
import { MetaTxn } from './store.js';
import { WriteLanes } from './write-lanes.js';

export interface NamespaceDeps {
  kv: KvEngine;
  clock: Clock;
  rng: Rng;
  cluster: ClusterView;
  storage: StoragePort;
  config: MetaConfig;
  logger: Logger;
  /** Where committed inode changes are published for clients that cache attributes (mounts). */
  changes?: ChangeFeed;
}

export interface MutationSpec<Res> {
  /** RPC method name (stored with the idempotency record). */
  method: string;
  tag: RequestTag | undefined;
  /** The encoded request: its digest detects a tag reused for another request. */
  requestBytes: Uint8Array;
  /** Codec of the response, to store and replay it. */
  response: MessageFns<Res>;
  /** Inode ids the operation may create (reserved before the transaction). */
  ids?: number;
  /**
   * Directories the operation changes (path.ts directoryKey): its transaction waits for the write
   * lanes of these, so mutations of one directory do not conflict with each other.
   */
  lanes?: readonly string[];
  signal?: AbortSignal;
  /**
   * Called after the body: true when this transaction was one step of a longer operation (a
   * recursive remove batch), so its response is not recorded as the request's result.
   */
  partial?: () => boolean;
}

/** One mutation of a group (NamespaceContext.mutateGroup). */
export interface GroupMember<Res> {
  tag: RequestTag | undefined;
  requestBytes: Uint8Array;
  /** Must throw only before writing anything (its failure leaves the group's other writes alone). */
  body: (mt: MetaTxn, ids: IdLease) => Promise<Res>;
  /** The directories it changes (path.ts directoryKey), for the write lanes. */
  lanes: readonly string[];
}

export interface GroupSpec<Res> {
  method: string;
  response: MessageFns<Res>;
  /** Inode ids each member may create. */
  idsPerMember: number;
  signal?: AbortSignal;
}

/** What one member of a group got: its response, or the error it would have got alone. */
export type MemberOutcome<Res> = { ok: true; response: Res } | { ok: false; error: SpindleError };

type Outcome<Res> =
  | { kind: 'replay'; bytes: Uint8Array }
  | { kind: 'done'; response: Res; after: ReadonlyArray<() => Promise<void>>; record: boolean };

const NO_INODES: ReadonlySet<number> = new Set();

/** The client id every tag of a group shares (a client's batch), or undefined when they differ. */
function commonClientId(tags: ReadonlyArray<IdempotencyTag | undefined>): string | undefined {
  const first = tags[0]?.clientId;
  return tags.every((tag) => tag?.clientId === first) ? first : undefined;
}

export class NamespaceContext {
  readonly ids: InodeIdAllocator;
  readonly chains: ChainAllocator;
  readonly lanes = new WriteLanes();

  constructor(readonly deps: NamespaceDeps) {
    this.ids = new InodeIdAllocator(deps.kv);
    this.chains = new ChainAllocator(deps.cluster, deps.rng, deps.config);
  }

  get config(): MetaConfig {
    return this.deps.config;
  }

  /** A read-only transaction. */
  read<T>(fn: (mt: MetaTxn) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.deps.kv.transaction((txn) => fn(new MetaTxn(txn, this.deps.clock.nowUs())), { readOnly: true, signal });
  }

  /** A read-write transaction without idempotency or ids (internal steps such as a recursive remove batch). */
  async write<T>(fn: (mt: MetaTxn) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const { result, after, changed } = await this.deps.kv.transaction(
      async (txn) => {
        const mt = new MetaTxn(txn, this.deps.clock.nowUs());
        const value = await fn(mt);
        await mt.flush(this.deps.rng);
        return { result: value, after: mt.afterCommitList, changed: mt.changedInodes };
      },
      { signal },
    );
    this.deps.changes?.publish(changed, undefined);
    for (const action of after) await action();
    return result;
  }

  /**
   * Runs a mutating operation as one transaction: replays the stored result of a retried tag,
   * reserves inode ids, flushes inode and usage changes, records the result, then runs the
   * post-commit actions the operation registered.
   *
   * With post-commit actions the result is recorded only once they all succeeded: one that fails
   * fails the request unrecorded, and its retry (same tag) runs the mutation and the actions again.
   * So an action must be idempotent and must end before the client's attempt times out, or the
   * retry would run it alongside itself: truncateFile bounds its storage cut by
   * requestStorageBudgetMs and fails it with a retryable TIMEOUT past that (ops/helpers.ts).
   */
  async mutate<Res>(spec: MutationSpec<Res>, body: (mt: MetaTxn, ids: IdLease) => Promise<Res>): Promise<Res> {
    const tag = tagOf(spec.tag);
    const digest = tag === undefined ? new Uint8Array() : requestDigest(spec.requestBytes);
    let idsNeeded = spec.ids ?? 0;
    for (;;) {
      const lease = await this.ids.reserve(idsNeeded);
      let bodyThrew = false;
      let replayed = false;
      let outcome: Outcome<Res>;
      // The inodes the attempt that committed changed (each attempt of the function sets it).
      let changed: ReadonlySet<number> = NO_INODES;
      // Released at the commit point (onCommitted) or, at the latest, when the transaction settles.
      const release = spec.lanes === undefined ? undefined : await this.lanes.acquire(spec.lanes);
      try {
        outcome = await this.deps.kv.transaction(
          async (txn): Promise<Outcome<Res>> => {
            lease.reset();
            bodyThrew = false;
            replayed = false;
            if (tag !== undefined) {
              const record = await readRecord(txn, tag);
              if (record !== undefined) {
                replayed = true;
                bodyThrew = true;
                return { kind: 'replay', bytes: replay(record, spec.method, digest, tag) };
              }
            }
            const mt = new MetaTxn(txn, this.deps.clock.nowUs());
            let response: Res;
            try {
              response = await body(mt, lease);
              await mt.flush(this.deps.rng);
              changed = mt.changedInodes;
            } catch (err) {
              bodyThrew = true;
              throw err;
            }
            const after = mt.afterCommitList;
            const record = tag !== undefined && !(spec.partial?.() ?? false);
            if (tag !== undefined && record && after.length === 0) {
              writeRecord(txn, tag, this.successRecord(spec, digest, response, mt.nowUs));
            }
            return { kind: 'done', response, after, record };
          },
          { signal: spec.signal, onCommitted: release },
        );
      } catch (err) {
        release?.();
        // Ids go back only when the transaction certainly did not commit (the body threw, so the
        // engine aborted it); after an engine error the commit may have happened, so they are skipped.
        if (bodyThrew) lease.releaseAll();
        if (err instanceof IdsExhausted) {
          idsNeeded = Math.max(1, idsNeeded * 2);
          continue;
        }
        if (tag !== undefined && !replayed && isRecordableError(err)) await this.recordError(tag, spec, digest, err);
        throw err;
      }
      release?.();
      lease.releaseUnused();
      if (outcome.kind === 'replay') return spec.response.decode(outcome.bytes);
      this.deps.changes?.publish(changed, tag?.clientId);
      for (const action of outcome.after) await action();
      if (tag !== undefined && outcome.record && outcome.after.length > 0) {
        await storeRecordOnce(
          this.deps.kv,
          tag,
          this.successRecord(spec, digest, outcome.response, this.deps.clock.nowUs()),
        );
      }
      return outcome.response;
    }
  }

  /**
   * Runs several mutations of one kind as one transaction (one commit, one fsync, one decode of
   * the directories they share), each with its own outcome and its own idempotency record — as
   * if they had run one after another. A member that fails changes nothing (its body throws
   * before writing); a member whose tag was seen before gets its stored result; final errors are
   * recorded in the same transaction (it commits anyway). Members must have no post-commit work.
   */
  async mutateGroup<Res>(
    spec: GroupSpec<Res>,
    members: ReadonlyArray<GroupMember<Res>>,
  ): Promise<Array<MemberOutcome<Res>>> {
    const outcomes: Array<MemberOutcome<Res> | undefined> = new Array(members.length);
    const live: Array<{
      index: number;
      tag: IdempotencyTag | undefined;
      digest: Uint8Array;
      member: GroupMember<Res>;
    }> = [];
    members.forEach((member, index) => {
      try {
        const tag = tagOf(member.tag);
        live.push({
          index,
          tag,
          digest: tag === undefined ? new Uint8Array() : requestDigest(member.requestBytes),
          member,
        });
      } catch (err) {
        if (!(err instanceof SpindleError)) throw err;
        outcomes[index] = { ok: false, error: err };
      }
    });
    let idsNeeded = live.length * spec.idsPerMember;
    while (live.length > 0) {
      const lease = await this.ids.reserve(idsNeeded);
      let fnThrew = false;
      const release = await this.lanes.acquire(live.flatMap((item) => item.member.lanes));
      let results: Array<MemberOutcome<Res>>;
      let changed: ReadonlySet<number> = NO_INODES;
      try {
        results = await this.deps.kv.transaction(
          async (txn): Promise<Array<MemberOutcome<Res>>> => {
            lease.reset();
            fnThrew = true;
            const mt = new MetaTxn(txn, this.deps.clock.nowUs());
            const attempt: Array<MemberOutcome<Res>> = [];
            for (const { tag, digest, member } of live) {
              if (tag !== undefined) {
                const record = await readRecord(txn, tag);
                if (record !== undefined) {
                  try {
                    attempt.push({
                      ok: true,
                      response: spec.response.decode(replay(record, spec.method, digest, tag)),
                    });
                  } catch (err) {
                    if (!(err instanceof SpindleError)) throw err;
                    attempt.push({ ok: false, error: err });
                  }
                  continue;
                }
              }
              try {
                const response = await member.body(mt, lease);
                attempt.push({ ok: true, response });
                if (tag !== undefined) writeRecord(txn, tag, this.successRecord(spec, digest, response, mt.nowUs));
              } catch (err) {
                if (!(err instanceof SpindleError)) throw err;
                attempt.push({ ok: false, error: err });
                if (tag !== undefined && isRecordableError(err)) {
                  writeRecord(txn, tag, {
                    method: spec.method,
                    digest,
                    createdAtUs: mt.nowUs,
                    error: { code: err.errorCode, message: err.message },
                  });
                }
              }
            }
            await mt.flush(this.deps.rng);
            changed = mt.changedInodes;
            assert(mt.afterCommitList.length === 0, 'a grouped mutation registered post-commit work');
            fnThrew = false;
            return attempt;
          },
          { signal: spec.signal, onCommitted: release },
        );
      } catch (err) {
        release();
        // As in mutate(): ids go back only when the transaction certainly did not commit.
        if (fnThrew) lease.releaseAll();
        if (err instanceof IdsExhausted) {
          idsNeeded = Math.max(1, idsNeeded * 2);
          continue;
        }
        throw err;
      }
      release();
      lease.releaseUnused();
      this.deps.changes?.publish(changed, commonClientId(live.map((item) => item.tag)));
      live.forEach((item, i) => (outcomes[item.index] = results[i]));
      break;
    }
    return outcomes.map((outcome) => {
      assert(outcome !== undefined, 'a group member without an outcome');
      return outcome;
    });
  }

  private successRecord<Res>(
    spec: { method: string; response: MessageFns<Res> },
    digest: Uint8Array,
    response: Res,
    nowUs: number,
  ) {
    return { method: spec.method, digest, createdAtUs: nowUs, response: spec.response.encode(response).finish() };
  }

  private async recordError(
    tag: IdempotencyTag,
    spec: MutationSpec<unknown>,
    digest: Uint8Array,
    err: { errorCode: number; message: string },
  ) {
    try {
      await storeRecordOnce(this.deps.kv, tag, {
        method: spec.method,
        digest,
        createdAtUs: this.deps.clock.nowUs(),
        error: { code: err.errorCode, message: err.message },
      });
    } catch (storeErr) {
      // The caller still gets its error; a retry will simply run the operation again.
      this.deps.logger.warn({ err: storeErr, method: spec.method }, 'could not record the error of a tagged request');
    }
  }
}
