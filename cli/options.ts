// Option readers every `spindle` command shares (commander argParsers): one definition of the
// cluster address and its default.
import { type Command, InvalidArgumentError, Option } from 'commander';

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

/** The TLS flags of a command (each also read from its SPINDLE_TLS_* variable; common/tls.ts). */
export interface TlsOptions {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

/** Adds --tls-cert/--tls-key/--tls-ca to a command. */
export function addTlsOptions(command: Command): Command {
  return command
    .addOption(new Option('--tls-cert <file>', 'PEM certificate this process presents').env('SPINDLE_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert').env('SPINDLE_TLS_KEY'))
    .addOption(
      new Option('--tls-ca <file>', "PEM CA that signed the cluster's certificates (TLS on)").env('SPINDLE_TLS_CA'),
    );
}

/** Turns TLS on for this process when any TLS flag (or variable) is given. */
export async function applyTlsOptions(o: TlsOptions): Promise<void> {
  const { configureTls } = await import('../common/tls.js');
  configureTls({ certPath: o.tlsCert, keyPath: o.tlsKey, caPath: o.tlsCa });
}
