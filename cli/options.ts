// Option readers every `spindle` command shares (commander argParsers): one definition of the
// cluster address and its default.
import { InvalidArgumentError } from 'commander';

/** Where commands find the cluster when neither --meta nor SPINDLE_META says. */
export const DEFAULT_META_ADDRESS = '127.0.0.1:7400';

/** `--meta host:port` (or `[v6]:port`), refused as a usage error otherwise. */
export function addressOption(value: string): string {
  // Several meta processes (metadata on etcd) are given as a list: calls fail over between them.
  for (const address of value.split(',')) {
    if (!/^[^\s:]+:\d{1,5}$/.test(address) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(address)) {
      throw new InvalidArgumentError(
        'expected host:port or a comma-separated list of them, e.g. 127.0.0.1:7400 or a:7400,b:7400',
      );
    }
  }
  return value;
}
