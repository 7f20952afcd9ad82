// The global `--token-file FILE` option (docs/security.md). Light on purpose: cli/main.ts loads it
// at start, before any gRPC code.
import { resolve } from 'node:path';
import { type Command, Option } from 'commander';

/**
 * Adds `--token-file FILE` to every command: it becomes $SPINDLE_TOKEN_FILE of this process, so
 * every client it makes (and every process it starts: mount, agent, storage) sends that token.
 */
export function addTokenFileOption(program: Command): Command {
  return program
    .addOption(new Option('--token-file <file>', 'file holding the bearer token to send (docs/security.md)'))
    .hook('preAction', (command) => {
      const file = command.opts<{ tokenFile?: string }>().tokenFile;
      if (file !== undefined) process.env.SPINDLE_TOKEN_FILE = resolve(file);
    });
}

/** `--auth on|off` of the server commands. */
export function authOption(): Option {
  return new Option(
    '--auth <mode>',
    'check bearer tokens on every call (docs/security.md); off: anyone may do anything',
  )
    .choices(['on', 'off'])
    .default('on');
}
