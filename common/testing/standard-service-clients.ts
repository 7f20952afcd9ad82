// Test clients of the standard gRPC services (common/standard-services.ts), written the way an
// outside tool would talk to a Spindle server: plain grpc-js clients built from the health and
// reflection .proto files those packages ship, not from Spindle's own code.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { credentials, loadPackageDefinition, type ChannelOptions, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

type Status = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

interface StreamCall {
  on(event: 'data', listener: (message: unknown) => void): this;
  on(event: 'error', listener: (err: ServiceError) => void): this;
  on(event: 'end', listener: () => void): this;
  write(message: unknown): boolean;
  end(): void;
  cancel(): void;
}

type Constructor = new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options?: ChannelOptions,
) => Client & any;

// Each probe has its own connection, as a probe from another process would: grpc-js otherwise
// shares one connection per address across clients, and a probe made after a server stopped
// could ride the old, dying connection.
const OWN_CONNECTION: ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };

function clientConstructor(protoFile: string, includeDir: string, name: string): Constructor {
  const definition = loadSync(protoFile, { includeDirs: [includeDir], enums: String, keepCase: true });
  let node: unknown = loadPackageDefinition(definition);
  for (const part of name.split('.')) node = (node as Record<string, unknown>)[part];
  return node as Constructor;
}

const HealthClient = clientConstructor(
  'health/v1/health.proto',
  join(dirname(healthProtoPath), '..', '..'),
  'grpc.health.v1.Health',
);

/** A grpc.health.v1.Health client. */
export class HealthProbe {
  private readonly client: InstanceType<Constructor>;

  constructor(address: string) {
    this.client = new HealthClient(address, credentials.createInsecure(), OWN_CONNECTION);
  }

  /** Health.Check: the status, or the gRPC error (e.g. UNAVAILABLE once the server is gone). */
  check(service: string, timeoutMs = 5_000): Promise<Status> {
    return new Promise((resolve, reject) => {
      this.client.check({ service }, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, res: unknown) =>
        err ? reject(err) : resolve((res as { status: Status }).status),
      );
    });
  }

  /** Health.Watch: every status received, and whether and how the stream ended. */
  watch(service: string): { statuses: Status[]; ended: Promise<ServiceError | undefined>; cancel(): void } {
    const call = this.client.watch({ service }) as StreamCall;
    const statuses: Status[] = [];
    call.on('data', (message) => statuses.push((message as { status: Status }).status));
    const ended = new Promise<ServiceError | undefined>((resolve) => {
      call.on('end', () => resolve(undefined));
      call.on('error', (err) => resolve(err));
    });
    return { statuses, ended, cancel: () => call.cancel() };
  }

  close(): void {
    this.client.close();
  }
}

const require = createRequire(import.meta.url);
// @grpc/reflection ships its protocol files under build/proto beside build/src.
const reflectionProtoRoot = join(dirname(require.resolve('@grpc/reflection')), '..', 'proto');
const ReflectionClient = clientConstructor(
  'grpc/reflection/v1/reflection.proto',
  reflectionProtoRoot,
  'grpc.reflection.v1.ServerReflection',
);

/** A grpc.reflection.v1.ServerReflection client (what `grpcurl list` / `describe` use). */
export class ReflectionProbe {
  private readonly client: InstanceType<Constructor>;

  constructor(address: string) {
    this.client = new ReflectionClient(address, credentials.createInsecure(), OWN_CONNECTION);
  }

  /** One request on a ServerReflectionInfo stream; resolves with the single response. */
  private ask(request: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const call = this.client.serverReflectionInfo() as StreamCall;
      call.on('data', (message) => {
        resolve(message as Record<string, unknown>);
        call.end();
      });
      call.on('error', reject);
      call.write(request);
    });
  }

  /** The services the server lists. */
  async listServices(): Promise<string[]> {
    const response = await this.ask({ list_services: '' });
    const services = (response['list_services_response'] as { service: Array<{ name: string }> } | undefined)?.service;
    if (services === undefined) throw new Error(`no list_services_response: ${JSON.stringify(response)}`);
    return services.map((s) => s.name).sort();
  }

  /** The file descriptors of the file defining `symbol` (and its dependencies), decoded. */
  async fileContainingSymbol(symbol: string): Promise<FileDescriptorProto[]> {
    const response = await this.ask({ file_containing_symbol: symbol });
    const files = (response['file_descriptor_response'] as { file_descriptor_proto: Buffer[] } | undefined)
      ?.file_descriptor_proto;
    if (files === undefined) throw new Error(`no file_descriptor_response for ${symbol}: ${JSON.stringify(response)}`);
    return files.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
  }

  /** `grpcurl describe SERVICE.METHOD`: the method's input and output types, or undefined. */
  async describeMethod(service: string, method: string): Promise<{ input: string; output: string } | undefined> {
    const files = await this.fileContainingSymbol(service);
    const [pkg, name] = [service.slice(0, service.lastIndexOf('.')), service.slice(service.lastIndexOf('.') + 1)];
    for (const file of files) {
      if (file.package !== pkg) continue;
      const found = file.service.find((s) => s.name === name)?.method.find((m) => m.name === method);
      if (found) return { input: found.inputType, output: found.outputType };
    }
    return undefined;
  }

  close(): void {
    this.client.close();
  }
}
