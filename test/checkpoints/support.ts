// Helpers of the checkpoint tests: deterministic shard bytes, shared by the test and its rank
// processes so either side can check the other.
import { createHash } from 'node:crypto';

/** Bytes of shard `name` of `rank` at `step`: about 1.5 MB of hash-derived bytes (several chunks). */
export function shardBytes(step: number, rank: number, name: string): Buffer {
  const length = 1_500_000 + rank * 1000 + (name.length % 7);
  const out = Buffer.alloc(length);
  let counter = 0;
  for (let at = 0; at < length; at += 32) {
    createHash('sha256').update(`${step}/${rank}/${name}/${counter++}`).digest().copy(out, at);
  }
  return out;
}
