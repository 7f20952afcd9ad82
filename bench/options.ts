// Parses `spindle bench <suite> [flags]` into BenchOptions. Pure (no I/O) so it is unit-tested;
// the CLI command and `node bench/run.ts` share it. Errors are BenchUsageError with a message a
// user can act on.
import { MALLOC_MODES, type MallocMode } from '../cluster/index.js';
import { parseIntegerListFlag } from '../common/flags.js';
import { ALL_SUITES, SUITES, type BenchOptions, type SuiteName } from './types.js';

export class BenchUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchUsageError';
  }
}

export const BENCH_USAGE = `usage: spindle bench <${[...SUITES, 'all'].join('|')}> [options]
  all                  every suite but scale (run it by name: its full run populates 1 M files)
  --quick              smaller sizes, fewer configurations (all --quick < 5 min on 2 cores)
  --json FILE          write the rows as a JSON array
  --out DIR            write <suite>.json, <suite>.md and <suite>.svg into DIR
  --meta HOST:PORT     use this running cluster instead of starting one per suite
  --replicas LIST      replica counts for seq-read/seq-write/rand-read (default 1,3)
  --clients LIST       client counts for seq-read/seq-write (default 1,4)
  --depths LIST        rand-read: only these queue depths (default 1,4,16,32,64; --quick 1,32)
  --blocks LIST        rand-read: only these read sizes in KiB (default 4,64,1024)
  --cpu-prof DIR       write V8 CPU profiles of servers and load generators into DIR
  --transport T        bulk (chunk bytes as frames on raw TCP, default) | grpc (inside gRPC messages)
  --malloc M           tuned (MALLOC_* settings of the launcher, default) | default (glibc's own)
  --kv LIST            metadata stores the meta suite measures: lmdb, etcd or lmdb,etcd (default lmdb)
  --files LIST         namespace sizes the scale suite measures at (default 5000,100000,1000000;
                       --quick 5000,20000)
  --silent             no progress line on stderr`;

function intList(flag: string, text: string | undefined, max: number): number[] {
  const list = value(flag, text);
  try {
    return parseIntegerListFlag(flag, list, { min: 1, max });
  } catch (err) {
    throw new BenchUsageError((err as Error).message);
  }
}

function value(flag: string, text: string | undefined): string {
  if (text === undefined || text.startsWith('--')) throw new BenchUsageError(`${flag} needs a value`);
  return text;
}

/** Expands a suite argument: `all` → every suite; a comma list runs several in order. */
export function parseSuites(text: string | undefined): SuiteName[] {
  if (text === undefined || text === '')
    throw new BenchUsageError(`which suite? one of ${[...SUITES, 'all'].join(', ')}`);
  const out: SuiteName[] = [];
  for (const name of text.split(',')) {
    if (name === 'all') out.push(...ALL_SUITES);
    else if ((SUITES as readonly string[]).includes(name)) out.push(name as SuiteName);
    else
      throw new BenchUsageError(`unknown suite ${JSON.stringify(name)}: use one of ${[...SUITES, 'all'].join(', ')}`);
  }
  return [...new Set(out)];
}

/** Parses the arguments after `bench`. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = {
    suites: [],
    quick: false,
    replicas: [1, 3],
    clients: [1, 4],
    silent: false,
    transport: 'bulk',
    malloc: 'tuned',
    kv: ['lmdb'],
  };
  let suiteArg: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const next = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--quick':
        options.quick = true;
        break;
      case '--silent':
        options.silent = true;
        break;
      case '--json':
        options.json = value(flag, next());
        break;
      case '--out':
        options.out = value(flag, next());
        break;
      case '--cpu-prof':
        options.cpuProf = value(flag, next());
        break;
      case '--meta': {
        const addr = value(flag, next());
        if (!/^[^\s:]+:\d{1,5}$/.test(addr) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(addr))
          throw new BenchUsageError(`--meta expects host:port, e.g. 127.0.0.1:7400 (got ${JSON.stringify(addr)})`);
        options.meta = addr;
        break;
      }
      case '--transport': {
        const transport = value(flag, next());
        if (transport !== 'bulk' && transport !== 'grpc')
          throw new BenchUsageError(`--transport takes bulk or grpc (got ${JSON.stringify(transport)})`);
        options.transport = transport;
        break;
      }
      case '--kv': {
        const kvs = value(flag, next()).split(',');
        if (kvs.some((kv) => kv !== 'lmdb' && kv !== 'etcd'))
          throw new BenchUsageError(`--kv takes lmdb, etcd or lmdb,etcd (got ${JSON.stringify(kvs.join(','))})`);
        options.kv = [...new Set(kvs as Array<'lmdb' | 'etcd'>)];
        break;
      }
      case '--malloc': {
        const malloc = value(flag, next());
        if (!(MALLOC_MODES as readonly string[]).includes(malloc))
          throw new BenchUsageError(`--malloc takes ${MALLOC_MODES.join(' or ')} (got ${JSON.stringify(malloc)})`);
        options.malloc = malloc as MallocMode;
        break;
      }
      case '--files':
        options.files = intList(flag, next(), 100_000_000).sort((a, b) => a - b);
        break;
      case '--replicas':
        options.replicas = intList(flag, next(), 16);
        break;
      case '--clients':
        options.clients = intList(flag, next(), 64);
        break;
      case '--depths':
        options.depths = intList(flag, next(), 1024);
        break;
      case '--blocks':
        options.blocks = intList(flag, next(), 16 * 1024).map((kib) => kib * 1024);
        break;
      default:
        if (arg.startsWith('-')) throw new BenchUsageError(`unknown option ${arg}\n${BENCH_USAGE}`);
        if (suiteArg !== undefined)
          throw new BenchUsageError(
            `one suite argument expected (got ${JSON.stringify(suiteArg)} and ${JSON.stringify(arg)}); ` +
              'use a comma list or all',
          );
        suiteArg = arg;
    }
  }
  options.suites = parseSuites(suiteArg);
  return options;
}
