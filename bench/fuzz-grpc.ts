// Fuzzes every method of gRPC services (their generated definitions, proto/gen) with raw bytes
// sent through a grpc-js client with identity serializers: empty messages, random protobuf-shaped
// messages, random ones that decode re-encoded and then mutated, and plain random bytes. Every
// answer's status is tallied; INTERNAL and UNKNOWN (what bad input should never get: it is a
// typed error or nothing) are kept with their method and message. The caller checks that the
// server survived, still serves a real request, and that its memory stayed bounded.
import {
  type Client,
  credentials,
  makeGenericClientConstructor,
  Metadata,
  type ServiceError,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import { CHANNEL_OPTIONS } from '../common/rpc.js';
import { createRng, type Rng } from '../common/clock.js';
import { mutateRepeatedly, pick, randomBytes, randomMessage } from './fuzz-inputs.js';

/** What the fuzzer needs of a generated method definition. */
interface MethodDefinition {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (bytes: Buffer) => unknown;
  readonly requestSerialize: (message: never) => Buffer;
}

/** A generated service definition (e.g. MetaService): method name → definition. */
export type ServiceDefinitions = Record<string, Record<string, MethodDefinition>>;

export interface GrpcFuzzOptions {
  /** host:port of the server. */
  address: string;
  /** The services it serves, by name. */
  services: ServiceDefinitions;
  seed: number;
  /** Inputs sent to each method. */
  inputsPerMethod: number;
  /** Sent as `authorization: Bearer <token>` (none: no metadata). */
  token?: string;
  /** Calls in flight at once. */
  concurrency?: number;
  deadlineMs?: number;
}

export interface GrpcFuzzCounts {
  calls: number;
  methods: number;
  /** Answers by gRPC status name (OK included). */
  byStatus: Record<string, number>;
  /** Answers that should not happen to bad input, with where and what. */
  internal: Array<{ method: string; status: string; details: string }>;
}

const CONCURRENCY_DEFAULT = 8;
const DEADLINE_DEFAULT_MS = 10_000;
/** Longest message kept of an INTERNAL answer. */
const DETAILS_KEPT_CHARS = 200;

function statusName(code: number): string {
  return GrpcStatus[code] ?? `status ${code}`;
}

/** Inputs for one method: the seed corpus and its mutations. */
function methodInputs(rng: Rng, method: MethodDefinition, count: number): Buffer[] {
  const inputs: Buffer[] = [Buffer.alloc(0)];
  const decodable: Buffer[] = [];
  while (inputs.length < count) {
    const kind = rng.nextInt(4);
    if (kind === 0) {
      inputs.push(randomMessage(rng));
    } else if (kind === 1) {
      inputs.push(randomBytes(rng, rng.nextInt(512)));
    } else {
      // A random message that decodes, re-encoded (fields of the right types), then mutated.
      const candidate = randomMessage(rng);
      try {
        const message = method.requestDeserialize(candidate);
        decodable.push(method.requestSerialize(message as never));
      } catch {
        // not decodable: still a fine input
      }
      const base = decodable.length > 0 ? pick(rng, decodable) : candidate;
      inputs.push(kind === 2 ? base : mutateRepeatedly(rng, base, 1 + rng.nextInt(3), candidate));
    }
  }
  return inputs;
}

function call(
  client: Client,
  path: string,
  input: Buffer,
  metadata: Metadata,
  deadlineMs: number,
): Promise<ServiceError | null> {
  const identity = (bytes: Buffer): Buffer => bytes;
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, input, metadata, { deadline: Date.now() + deadlineMs }, (error) =>
      resolve(error),
    );
  });
}

export async function fuzzGrpcMethods(options: GrpcFuzzOptions): Promise<GrpcFuzzCounts> {
  const rng = createRng(options.seed);
  const Generic = makeGenericClientConstructor({}, 'fuzz');
  const client = new Generic(options.address, credentials.createInsecure(), CHANNEL_OPTIONS);
  const metadata = new Metadata();
  if (options.token !== undefined) metadata.set('authorization', `Bearer ${options.token}`);
  const counts: GrpcFuzzCounts = { calls: 0, methods: 0, byStatus: {}, internal: [] };
  const work: Array<{ path: string; input: Buffer }> = [];
  for (const service of Object.values(options.services)) {
    for (const method of Object.values(service)) {
      // Every Spindle method is unary today; a streaming one would need its own driver.
      if (method.requestStream || method.responseStream) continue;
      counts.methods++;
      for (const input of methodInputs(rng, method, options.inputsPerMethod)) work.push({ path: method.path, input });
    }
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < work.length) {
      const { path, input } = work[next++]!;
      const error = await call(client, path, input, metadata, options.deadlineMs ?? DEADLINE_DEFAULT_MS);
      const name = statusName(error?.code ?? GrpcStatus.OK);
      counts.calls++;
      counts.byStatus[name] = (counts.byStatus[name] ?? 0) + 1;
      if (error !== null && (error.code === GrpcStatus.INTERNAL || error.code === GrpcStatus.UNKNOWN)) {
        counts.internal.push({ method: path, status: name, details: error.details.slice(0, DETAILS_KEPT_CHARS) });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency ?? CONCURRENCY_DEFAULT }, worker));
  } finally {
    client.close();
  }
  return counts;
}
