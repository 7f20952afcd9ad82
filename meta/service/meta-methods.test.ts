// The Meta RPCs are listed once (common/meta-methods.ts, from the generated MetaService): this
// checks that the proto's `service Meta`, that list, the namespace, the gRPC service and the
// client's MetaRpc all agree — same methods, each client wrapper reaching the service handler and
// namespace operation of its own name, with an idempotency tag exactly when the proto's request
// has one, and named as the proto names it in errors.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientConfig } from '../../common/config.js';
import { silentLogger } from '../../common/logger.js';
import { META_METHODS, type MetaHandlers, type MetaMethod } from '../../common/meta-methods.js';
import { startGrpcServer, stopGrpcServer, type CallContext } from '../../common/rpc.js';
import { MetaService } from '../../proto/index.js';
import { MetaRpc } from '../../client/meta-rpc.js';
import { Namespace } from '../namespace/namespace.js';
import { createMetaServiceImplementation } from './meta-service.js';

/** The proto's `service Meta`, read from the .proto itself: each RPC's name and request message. */
function protoService(): Array<{ rpc: string; method: string; tagged: boolean }> {
  const text = readFileSync(new URL('../../proto/meta.proto', import.meta.url), 'utf8');
  const service = /service Meta \{([^}]*)\}/.exec(text)?.[1];
  expect(service, 'meta.proto has a service Meta').toBeDefined();
  const messages = new Map([...text.matchAll(/message (\w+) \{([^}]*)\}/g)].map((m) => [m[1]!, m[2]!]));
  return [...service!.matchAll(/rpc (\w+)\((\w+)\)/g)].map(([, rpc, request]) => {
    const body = messages.get(request!);
    expect(body, `meta.proto defines ${request}`).toBeDefined();
    return {
      rpc: rpc!,
      method: rpc![0]!.toLowerCase() + rpc!.slice(1),
      tagged: /^\s*RequestTag tag = \d+;/m.test(body!),
    };
  });
}

/** Calls a MetaRpc method by name with an empty request (as the compiler cannot for a union of them). */
function callRpc(rpc: MetaRpc, method: MetaMethod, options?: { retry: boolean }): Promise<unknown> {
  const request: Record<string, unknown> = { ...MetaService[method].requestDeserialize(Buffer.alloc(0)) };
  delete request.tag;
  return (rpc[method] as (request: unknown, options?: unknown) => Promise<unknown>).call(rpc, request, options);
}

describe('the Meta method list', () => {
  const rpcs = protoService();
  const seen: Array<{ method: string; tagged: boolean }> = [];
  let server: Awaited<ReturnType<typeof startGrpcServer>>;
  let rpc: MetaRpc;

  beforeAll(async () => {
    // A namespace that records which operation each call reached, and whether it carried a tag.
    const recording = Object.fromEntries(
      META_METHODS.map((method) => [
        method,
        async (request: { tag?: unknown }) => {
          seen.push({ method, tagged: request.tag !== undefined });
          return MetaService[method].responseDeserialize(Buffer.alloc(0));
        },
      ]),
    ) as unknown as MetaHandlers<CallContext>;
    server = await startGrpcServer(
      [{ definition: MetaService, implementation: createMetaServiceImplementation(recording, silentLogger()) }],
      '127.0.0.1',
      0,
    );
    rpc = new MetaRpc({ address: server.address, clientId: 'methods', config: clientConfig('test') });
  });

  afterAll(async () => {
    rpc?.close();
    if (server) await stopGrpcServer(server.server, 100);
  });

  it("is the proto's service Meta, method for method, in its order", () => {
    expect(rpcs.length).toBeGreaterThan(0);
    expect([...META_METHODS]).toEqual(rpcs.map(({ method }) => method));
    expect(Object.keys(MetaService)).toEqual([...META_METHODS]);
  });

  it('is what the namespace implements and the service serves', () => {
    const service = createMetaServiceImplementation(
      Object.fromEntries(META_METHODS.map((m) => [m, async () => ({})])) as unknown as MetaHandlers<CallContext>,
      silentLogger(),
    );
    expect(Object.keys(service).sort()).toEqual([...META_METHODS].sort());
    for (const method of META_METHODS) expect(typeof Namespace.prototype[method], method).toBe('function');
  });

  it('has a MetaRpc method per RPC, reaching the operation of its name, tagged when the proto says so', async () => {
    for (const { method, tagged } of rpcs) {
      seen.length = 0;
      await callRpc(rpc, method as MetaMethod);
      expect(seen, `MetaRpc.${method}`).toEqual([{ method, tagged }]);
    }
  });

  it('names each call as the proto names its RPC', async () => {
    // Nothing listens there: each call fails at once with its name in the message.
    const nowhere = new MetaRpc({ address: '127.0.0.1:1', clientId: 'names', config: clientConfig('test') });
    try {
      for (const { method, rpc: name } of rpcs) {
        await expect(callRpc(nowhere, method as MetaMethod, { retry: false }), method).rejects.toThrow(
          new RegExp(`^meta\\.${name}: `),
        );
      }
    } finally {
      nowhere.close();
    }
  });
});
