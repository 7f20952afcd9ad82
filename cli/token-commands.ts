// `spindle admin token create --role client|admin|storage --user U [--uid N --gid N] [--node N]
// [--ttl SECONDS] [--out FILE]`: mints a bearer token (docs/security.md). Needs the admin token
// (found in the credentials file on the machine that ran `spindle up`, or --token-file).
import { type Command, InvalidArgumentError, type Option } from 'commander';
import { parseIntegerFlag } from '../common/flags.js';

interface RunState {
  exitCode: number;
}

const ID_RANGE = { min: 0, max: 0xffff_ffff } as const;

function integer(flag: string, range: { min: number; max: number }) {
  return (value: string) => {
    try {
      return parseIntegerFlag(flag, value, range);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

interface TokenFlags {
  role: string;
  user?: string;
  uid?: number;
  gid?: number;
  node?: number;
  ttl?: number;
  out?: string;
  meta: string;
}

export function addTokenCommands(
  admin: Command,
  state: RunState,
  reportError: (state: RunState, err: unknown, meta?: string) => void,
  metaOption: () => Option,
): void {
  admin
    .command('token')
    .description('bearer tokens of this cluster (docs/security.md)')
    .command('create')
    .description('mint a token: role client or admin for a user, or storage for a node; prints it (or --out FILE)')
    .requiredOption('--role <role>', 'client | admin | storage')
    .option('--user <name>', 'user the token names (required for client and admin)')
    .option('--uid <n>', 'uid the token acts as (default 0 for admin, else required)', integer('--uid', ID_RANGE))
    .option('--gid <n>', 'gid the token acts as (default: the uid)', integer('--gid', ID_RANGE))
    .option('--node <id>', 'node id (role storage)', integer('--node', { min: 1, max: 0xffff_ffff }))
    .option('--ttl <seconds>', 'lifetime (default: no expiry)', integer('--ttl', { min: 1, max: 315_360_000 }))
    .option('--out <file>', 'write the token to FILE (mode 0600) instead of printing it')
    .addOption(metaOption())
    .action(async (o: TokenFlags) => {
      try {
        if (o.role !== 'client' && o.role !== 'admin' && o.role !== 'storage')
          throw new InvalidArgumentError(`--role must be client, admin or storage, got ${o.role}`);
        if (o.role !== 'storage' && o.user === undefined) throw new InvalidArgumentError('--user is required');
        if (o.role === 'client' && o.uid === undefined)
          throw new InvalidArgumentError('--uid is required for a client token (the user files are created as)');
        if (o.role === 'storage' && o.node === undefined) throw new InvalidArgumentError('--node is required');
        const uid = o.uid ?? 0;
        const { createToken, writeTokenFile } = await import('./token-create.js');
        const created = await createToken(o.meta, {
          role: o.role,
          user: o.user,
          uid,
          gid: o.gid ?? uid,
          node: o.node,
          ttlSeconds: o.ttl,
        });
        if (o.out !== undefined) {
          await writeTokenFile(o.out, created.token);
          process.stderr.write(`token written to ${o.out} (use it with --token-file or SPINDLE_TOKEN_FILE)\n`);
        } else process.stdout.write(`${created.token}\n`);
      } catch (err) {
        reportError(state, err, o.meta);
      }
    });
}
