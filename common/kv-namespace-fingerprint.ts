// The fingerprint of a KV-cache namespace config, shared by the storage nodes (which refuse a
// writer whose fingerprint is not theirs) and the client (which sends it with every request):
// 32 hex digits of SHA-256 over the fields that give pages their meaning, versioned so a change of
// this definition cannot match an old fingerprint by accident (docs/kvcache.md "Namespaces").
import { createHash } from 'node:crypto';

/** The fields of a namespace config that decide what a page's bytes mean. */
export interface KvPageMeaning {
  readonly modelId: string;
  readonly kvDtype: string;
  readonly layout: string;
  readonly pageTokens: number;
  readonly tpRank: number;
  readonly tpSize: number;
}

export function kvNamespaceFingerprint(config: KvPageMeaning): string {
  const meaning = ['kv-ns-v1', config.modelId, config.kvDtype, config.layout, config.pageTokens, config.tpRank];
  meaning.push(config.tpSize);
  return createHash('sha256').update(JSON.stringify(meaning)).digest('hex').slice(0, 32);
}
