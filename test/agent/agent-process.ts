// A real `spindle agent` process for tests (bin/spindle.mjs → the compiled CLI), and a Loader client
// for it. Guarantees: start resolves with the parsed ready line or rejects with the agent's stderr;
// stop() sends SIGTERM and resolves with the exit code once it exited; a process the test left
// running is SIGKILLed when the test worker exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { type ChannelOptions, credentials } from '@grpc/grpc-js';
import { channelOptionsWithToken } from '../../common/auth/client-auth.js';
import { resolveToken } from '../../common/auth/token-source.js';
import { AGENT_MESSAGE_MAX_BYTES } from '../../agent/constants.js';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { LoaderClient } from '../../proto/index.js';

interface AgentReady {
  agent: string;
  meta: string;
  pid: number;
  services: string[];
}

export interface AgentProcess {
  readonly ready: AgentReady;
  readonly child: ChildProcess;
  /** What the agent wrote on stderr so far. */
  stderr(): string;
  /** SIGTERM, then the exit code (or the signal's name). */
  stop(): Promise<number | string>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Runs `spindle agent ARGS` and waits for its ready line. */
export async function startAgentProcess(args: string[], env: Record<string, string> = {}): Promise<AgentProcess> {
  const child = spawn(process.execPath, ['bin/spindle.mjs', 'agent', ...args], {
    cwd: PACKAGE_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const lines = createInterface({ input: child.stdout! });
  const line = await new Promise<string | undefined>((resolve) => {
    lines.once('line', resolve);
    void exited.then(() => resolve(undefined));
  });
  if (line === undefined) {
    throw new Error(`spindle agent exited with ${await exited} before its ready line; stderr:\n${stderr}`);
  }
  const ready = JSON.parse(line) as AgentReady;
  // A TCP agent takes only its own token (docs/security.md): this test process and the Python
  // scripts it starts send it as a user would, through SPINDLE_TOKEN.
  const token = resolveToken({ metaAddress: ready.meta, env: { ...process.env, ...env } });
  if (token !== undefined) process.env.SPINDLE_TOKEN ??= token;
  return {
    ready,
    child,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Channel options sending the agent's token (the one startAgentProcess put in SPINDLE_TOKEN). */
export function agentChannelOptions(): ChannelOptions {
  return channelOptionsWithToken(process.env.SPINDLE_TOKEN);
}

/** A grpc-js Loader client with the agent's message limit. */
export function loaderClient(address: string): LoaderClient {
  return new LoaderClient(address, credentials.createInsecure(), {
    ...agentChannelOptions(),
    'grpc.max_receive_message_length': AGENT_MESSAGE_MAX_BYTES,
    'grpc.max_send_message_length': AGENT_MESSAGE_MAX_BYTES,
    // Its own connection: a test's cancelled streams must not share one with other clients.
    'grpc.use_local_subchannel_pool': 1,
  });
}
