// The raw limit of metadata on etcd, measured in the same run as the meta suite's etcd rows: etcd
// puts of small values through the etcd3 client (the one the etcd engine uses), one at a time and
// 32 in flight. Each Spindle create is one etcd transaction plus its reads, so these bound it.
import { Etcd3 } from 'etcd3';

export interface EtcdPutRates {
  /** Puts per second, one in flight. */
  sequential: number;
  /** Puts per second, 32 in flight. */
  inFlight32: number;
}

/** Puts `count` keys under a prefix of their own at each depth and removes them afterwards. */
export async function measureEtcdPuts(endpoints: string[], count: number): Promise<EtcdPutRates> {
  const client = new Etcd3({ hosts: endpoints });
  const prefix = `bench-limit-${process.pid}/`;
  const value = Buffer.alloc(200, 1);
  try {
    const rate = async (depth: number): Promise<number> => {
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: depth }, async () => {
          for (let i = next++; i < count; i = next++) await client.put(`${prefix}${depth}/${i}`).value(value);
        }),
      );
      return count / ((performance.now() - started) / 1000);
    };
    return { sequential: await rate(1), inFlight32: await rate(32) };
  } finally {
    await client.delete().prefix(prefix);
    client.close();
  }
}
