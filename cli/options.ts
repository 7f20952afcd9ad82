// Option readers every `spindle` command shares (commander argParsers): one definition of the
// cluster address and its default.
import { resolve } from 'node:path';
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

/**
 * Adds --tls-cert/--tls-key/--tls-ca to the program, for every command: each sets its
 * SPINDLE_TLS_* variable (as an absolute path) before the command runs, so this process
 * (common/tls.ts reads them on first use) and every server it starts speak TLS.
 */
export function addTlsOptions(program: Command): Command {
  return program
    .addOption(new Option('--tls-cert <file>', 'PEM certificate this process presents (SPINDLE_TLS_CERT)'))
    .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert (SPINDLE_TLS_KEY)'))
    .addOption(new Option('--tls-ca <file>', "PEM CA of the cluster's certificates: TLS on (SPINDLE_TLS_CA)"))
    .hook('preAction', (command) => {
      const o = command.opts<{ tlsCert?: string; tlsKey?: string; tlsCa?: string }>();
      if (o.tlsCert !== undefined) process.env.SPINDLE_TLS_CERT = resolve(o.tlsCert);
      if (o.tlsKey !== undefined) process.env.SPINDLE_TLS_KEY = resolve(o.tlsKey);
      if (o.tlsCa !== undefined) process.env.SPINDLE_TLS_CA = resolve(o.tlsCa);
    });
}
