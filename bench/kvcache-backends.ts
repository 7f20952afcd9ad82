// The two stores the kvcache bench compares, behind one shape: Spindle's KvCache (the public client
// API, client/kvcache/) and a Redis server spoken to in raw RESP (bench/resp-client.ts), each doing
// what a user of it would do for a batch of pages.
//
// Both read a get's values into the caller's buffers when given (as an engine fills its KV blocks).
// Redis: a put is one MSET of the batch, a get one MGET (one round trip each), a prefix match one
// pipelined EXISTS per key of the chain (one round trip) whose leading 1s are counted — the
// strongest lookup a Redis user has without server-side scripting. Spindle: put/get/matchPrefix of
// KvCache, which places a prompt's pages by its root key and answers a match on the node.
import type { KvCache } from '../client/index.js';
import { KvPutStatus } from '../proto/index.js';
import { RespError, type RespClient, type RespReply } from './resp-client.js';

interface PutOutcome {
  stored: number;
  alreadyPresent: number;
  /** Pages refused (full, parent missing …), by status name. */
  refused: Record<string, number>;
}

export interface KvBackend {
  /** Puts pages keys[i] → values[i], a chain under `parentOfFirst` (none: keys[0] is a root). */
  put(root: Buffer, keys: Buffer[], values: Buffer[], parentOfFirst?: Buffer): Promise<PutOutcome>;
  /** Each page's bytes (read into `into[i]` when given: a view of it), undefined when missing. */
  get(root: Buffer, keys: Buffer[], into?: Buffer[]): Promise<Array<Buffer | undefined>>;
  /** How many leading keys of the chain are stored. */
  match(keys: Buffer[], leaseMs?: number): Promise<number>;
  /** Removes the pages (Spindle: each with its subtree). */
  remove(root: Buffer, keys: Buffer[]): Promise<void>;
}

export function spindleBackend(kv: KvCache): KvBackend {
  return {
    async put(root, keys, values, parentOfFirst) {
      const pages = keys.map((key, i) => ({
        key,
        ...(i > 0 ? { parentKey: keys[i - 1]! } : parentOfFirst === undefined ? {} : { parentKey: parentOfFirst }),
        value: values[i]!,
      }));
      const outcome: PutOutcome = { stored: 0, alreadyPresent: 0, refused: {} };
      for (const result of await kv.put(root, pages)) {
        if (result.status === KvPutStatus.KV_PUT_STORED) outcome.stored++;
        else if (result.status === KvPutStatus.KV_PUT_ALREADY_PRESENT) outcome.alreadyPresent++;
        else {
          const name = KvPutStatus[result.status] ?? String(result.status);
          outcome.refused[name] = (outcome.refused[name] ?? 0) + 1;
        }
      }
      return outcome;
    },
    get: (root, keys, into) => kv.get(root, keys, into === undefined ? {} : { into }),
    async match(keys, leaseMs) {
      return (await kv.matchPrefix(keys, leaseMs === undefined ? {} : { leaseMs })).matchedCount;
    },
    async remove(root, keys) {
      await kv.remove(root, keys);
    },
  };
}

function check(reply: RespReply): RespReply {
  if (reply instanceof RespError) throw reply;
  return reply;
}

export function redisBackend(redis: RespClient): KvBackend {
  return {
    async put(_root, keys, values): Promise<PutOutcome> {
      const args: Array<string | Buffer> = ['MSET'];
      keys.forEach((key, i) => args.push(key, values[i]!));
      const [reply] = await redis.pipeline([args]);
      // Under maxmemory with nothing left to evict, Redis refuses writes: the pages are not stored.
      if (reply instanceof RespError && reply.message.startsWith('OOM'))
        return { stored: 0, alreadyPresent: 0, refused: { OOM: keys.length } };
      if (reply !== 'OK') throw new Error(`MSET answered ${String(reply)}`);
      return { stored: keys.length, alreadyPresent: 0, refused: {} };
    },
    async get(_root, keys, into) {
      const reply = check(into === undefined ? await redis.call('MGET', ...keys) : await redis.mgetInto(keys, into));
      if (!Array.isArray(reply) || reply.length !== keys.length) throw new Error('MGET answered no list of values');
      return reply.map((value) => (Buffer.isBuffer(value) ? value : undefined));
    },
    async match(keys) {
      const replies = await redis.pipeline(keys.map((key) => ['EXISTS', key]));
      const first = replies.findIndex((reply) => check(reply) !== 1);
      return first < 0 ? keys.length : first;
    },
    async remove(_root, keys) {
      if (keys.length > 0) await redis.call('DEL', ...keys);
    },
  };
}
