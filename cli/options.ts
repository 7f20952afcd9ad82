// Option readers every `spindle` command shares (commander argParsers): one definition of the
// cluster address and its default.
import { InvalidArgumentError } from 'commander';

/** Where commands find the cluster when neither --meta nor SPINDLE_META says. */
export const DEFAULT_META_ADDRESS = '127.0.0.1:7400';

/** `--meta host:port` (or `[v6]:port`), refused as a usage error otherwise. */
export function addressOption(value: string): string {
  if (!/^[^\s:]+:\d{1,5}$/.test(value) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(value)) {
    throw new InvalidArgumentError('expected host:port, e.g. 127.0.0.1:7400');
  }
  return value;
}
