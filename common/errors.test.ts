import {
  Metadata,
  makeGenericClientConstructor,
  status as GrpcStatus,
  type ServiceDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  SpindleError,
  asSpindleError,
  assert,
  errorCodeInfo,
  isKnownErrorCode,
  isSpindleError,
} from './errors.js';
import { fromGrpcError, toGrpcError } from './grpc-errors.js';
import { GrpcStatus as WrittenOutStatus } from './grpc-status.js';
import {
  callUnary,
  insecureChannel,
  serviceImplementation,
  startGrpcServer,
  stopGrpcServer,
  CHANNEL_OPTIONS,
} from './rpc.js';

const allCodes = Object.values(ErrorCode).filter((v): v is ErrorCode => typeof v === 'number' && v !== ErrorCode.OK);

describe('gRPC status codes written out in common/grpc-status.ts', () => {
  it('are the numbers grpc-js uses, name for name', () => {
    for (const [name, value] of Object.entries(WrittenOutStatus)) {
      expect(GrpcStatus[name as keyof typeof GrpcStatus], name).toBe(value);
    }
    expect(Object.keys(WrittenOutStatus)).toHaveLength(Object.keys(GrpcStatus).length / 2);
  });
});

describe('SpindleError', () => {
  it('carries POSIX code, errno and retryability', () => {
    const err = new SpindleError(ErrorCode.NOT_FOUND, 'no such file: /a');
    expect(err.code).toBe('ENOENT');
    expect(err.errno).toBe(2);
    expect(err.retryable).toBe(false);
    expect(err.codeName).toBe('NOT_FOUND');
    expect(err).toBeInstanceOf(Error);
    expect(new SpindleError(ErrorCode.CHAIN_VERSION_MISMATCH, 'x').retryable).toBe(true);
    expect(new SpindleError(ErrorCode.TIMEOUT, 'x', { retryable: false }).retryable).toBe(false);
    expect(isSpindleError(err, ErrorCode.NOT_FOUND)).toBe(true);
    expect(isSpindleError(err, ErrorCode.EXISTS)).toBe(false);
  });

  it('every code has a table entry', () => {
    for (const code of allCodes) {
      expect(isKnownErrorCode(code)).toBe(true);
      expect(errorCodeInfo(code).grpc).toBeTypeOf('number');
    }
    expect(isKnownErrorCode(999_999)).toBe(false);
  });
});

describe('toGrpcError → fromGrpcError', () => {
  it('round-trips errorCode, retryable and message for every code', () => {
    for (const code of allCodes) {
      for (const retryable of [true, false]) {
        const original = new SpindleError(code, `message for ${ErrorCode[code]}: fix it`, { retryable });
        const wire = toGrpcError(original);
        expect(wire.code).toBe(errorCodeInfo(code).grpc);
        const rebuilt = fromGrpcError(wire, 'test.Call');
        expect(rebuilt.errorCode).toBe(code);
        expect(rebuilt.retryable).toBe(retryable);
        expect(rebuilt.message).toBe(original.message);
        expect(rebuilt.code).toBe(original.code);
      }
    }
  });

  it('turns unknown errors into INTERNAL', () => {
    const wire = toGrpcError(new TypeError('undefined is not a function'));
    expect(wire.code).toBe(GrpcStatus.INTERNAL);
    const rebuilt = fromGrpcError(wire, 'x');
    expect(rebuilt.errorCode).toBe(ErrorCode.INTERNAL);
    expect(rebuilt.message).toContain('undefined is not a function');
    expect(fromGrpcError(toGrpcError('a string'), 'x').errorCode).toBe(ErrorCode.INTERNAL);
  });

  it('maps plain gRPC statuses without trailers', () => {
    const plain = (code: GrpcStatus, details = 'd'): Partial<ServiceError> => ({
      code,
      details,
      metadata: new Metadata(),
    });
    expect(fromGrpcError(plain(GrpcStatus.UNAVAILABLE), 'x').errorCode).toBe(ErrorCode.RPC_UNAVAILABLE);
    expect(fromGrpcError(plain(GrpcStatus.UNAVAILABLE), 'x').retryable).toBe(true);
    expect(fromGrpcError(plain(GrpcStatus.DEADLINE_EXCEEDED), 'x').errorCode).toBe(ErrorCode.TIMEOUT);
    expect(fromGrpcError(plain(GrpcStatus.CANCELLED), 'x').errorCode).toBe(ErrorCode.CANCELLED);
    expect(fromGrpcError(plain(GrpcStatus.RESOURCE_EXHAUSTED), 'x').errorCode).toBe(ErrorCode.RPC_TOO_LARGE);
    expect(fromGrpcError(plain(GrpcStatus.UNIMPLEMENTED), 'x').errorCode).toBe(ErrorCode.RPC_MALFORMED);
    expect(fromGrpcError(plain(GrpcStatus.INTERNAL, 'failed to parse'), 'x').errorCode).toBe(ErrorCode.RPC_MALFORMED);
    expect(fromGrpcError(plain(GrpcStatus.UNKNOWN), 'x').errorCode).toBe(ErrorCode.INTERNAL);
    const unknownCode = new Metadata();
    unknownCode.set('spindle-code', '424242');
    expect(fromGrpcError({ code: GrpcStatus.UNKNOWN, details: 'd', metadata: unknownCode }, 'x').errorCode).toBe(
      ErrorCode.INTERNAL,
    );
  });

  it('passes SpindleErrors through', () => {
    const err = new SpindleError(ErrorCode.BUSY, 'busy');
    expect(fromGrpcError(err, 'x')).toBe(err);
  });
});

describe('asSpindleError (node errno mapping)', () => {
  const nodeError = (code: string) => Object.assign(new Error(`${code}: something failed`), { code });

  it('maps ENOSPC to NO_SPACE', () => {
    const err = asSpindleError(nodeError('ENOSPC'));
    expect(err.errorCode).toBe(ErrorCode.NO_SPACE);
    expect(err.code).toBe('ENOSPC');
  });

  it('maps other errno errors to IO_ERROR keeping the errno name in the message', () => {
    const err = asSpindleError(nodeError('EACCES'));
    expect(err.errorCode).toBe(ErrorCode.IO_ERROR);
    expect(err.message).toMatch(/^EACCES: /);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('maps anything else to INTERNAL and keeps SpindleErrors', () => {
    expect(asSpindleError(new Error('bug')).errorCode).toBe(ErrorCode.INTERNAL);
    expect(asSpindleError(42).message).toBe('42');
    const err = new SpindleError(ErrorCode.EXISTS, 'exists');
    expect(asSpindleError(err)).toBe(err);
  });
});

describe('assert', () => {
  it('throws an AssertionError, not a SpindleError', () => {
    expect(() => assert(false, 'invariant')).toThrow(/assertion failed: invariant/);
    try {
      assert(0, 'x');
    } catch (err) {
      expect(err).not.toBeInstanceOf(SpindleError);
      expect((err as Error).name).toBe('AssertionError');
    }
    expect(() => assert(1, 'fine')).not.toThrow();
  });
});

describe('typed errors across a real gRPC call', () => {
  const identity = {
    requestSerialize: (v: Buffer) => v,
    requestDeserialize: (v: Buffer) => v,
    responseSerialize: (v: Buffer) => v,
    responseDeserialize: (v: Buffer) => v,
  };
  const definition = {
    fail: { path: '/spindle.test.Errors/Fail', requestStream: false, responseStream: false, ...identity },
    echo: { path: '/spindle.test.Errors/Echo', requestStream: false, responseStream: false, ...identity },
  } as unknown as ServiceDefinition;

  it('rebuilds the SpindleError on the client from trailers', async () => {
    const implementation = serviceImplementation({
      fail: async (request: Buffer) => {
        const code = Number(request.toString());
        if (code === 0) throw new Error('a bug in the handler');
        throw new SpindleError(code as ErrorCode, 'chain 3 is at version 7; refresh routing', {
          retryable: code === ErrorCode.NOT_FOUND ? true : undefined,
        });
      },
      echo: async (request: Buffer) => request,
    });
    const { server, address } = await startGrpcServer([{ definition, implementation }], '127.0.0.1', 0);
    const Client = makeGenericClientConstructor(definition, 'Errors');
    const client = new Client(address, insecureChannel(), CHANNEL_OPTIONS) as InstanceType<typeof Client> &
      Record<string, any>;
    const call = (request: string) =>
      callUnary(client, client.fail, Buffer.from(request), 'test.Fail').then(
        () => expect.unreachable('the call should fail'),
        (err: unknown) => err as SpindleError,
      );
    try {
      expect(String(await callUnary(client, client.echo, Buffer.from('hi'), 'test.Echo'))).toBe('hi');
      const mismatch = await call(String(ErrorCode.CHAIN_VERSION_MISMATCH));
      expect(isSpindleError(mismatch, ErrorCode.CHAIN_VERSION_MISMATCH)).toBe(true);
      expect(mismatch.retryable).toBe(true);
      expect(mismatch.message).toBe('chain 3 is at version 7; refresh routing');
      const overridden = await call(String(ErrorCode.NOT_FOUND));
      expect(overridden.errorCode).toBe(ErrorCode.NOT_FOUND);
      expect(overridden.code).toBe('ENOENT');
      expect(overridden.retryable).toBe(true);
      const bug = await call('0');
      expect(bug.errorCode).toBe(ErrorCode.INTERNAL);
      expect(bug.message).toContain('a bug in the handler');
    } finally {
      client.close();
      await stopGrpcServer(server, 100);
    }
  });
});
