// The conformance suite every BulkTransport passes (TCP, in-process, a future RDMA one): one
// vitest describe block per transport, called from that transport's test file:
//
//   describeBulkTransportConformance('tcp', (options) => new TcpBulkTransport(options));
//
// It checks the contract of transport.ts: round trips both ways; a receive registered before or
// after its frame arrives; `into` receiving the bytes itself (the result is a view of it); frames
// longer than `into`/`maxBytes` failing that receive only; empty and 64 MiB payloads; 200
// concurrent sends of mixed sizes each way; a wrong CRC32C; timeouts and aborts; the peer or the
// listener closing; `listener.channel` waiting for a session; unclaimed frames expiring and
// bounded; connecting to a closed listener. Calls (`call` / `handleRequests`): round trips, 200
// concurrent calls from two sessions, the handler's errors (code and message; INTERNAL for a
// non-Spindle error), no handler, answer limits, timeouts and aborts, a session or listener
// closing under a pending call, a replaced handler. No test asserts on speed.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { ANONYMOUS_ADMIN, type Principal } from '../../auth/principal.js';
import { crc32c } from '../../crc32c.js';
import { ErrorCode, SpindleError } from '../../errors.js';
import type { BulkTransportOptions } from '../options.js';
import type { BulkChannel, BulkListener, BulkTransport } from '../transport.js';

export type MakeBulkTransport = (options: BulkTransportOptions) => BulkTransport;

const KIB = 1024;
const MIB = 1024 * KIB;
/** Request id of the frame a test sends last to know every earlier frame has arrived (in order per direction). */
const MARKER_ID = 1_000_000;

/** `size` bytes of a pattern that depends on `seed` and does not repeat at any power-of-two stride. */
export function patternBytes(seed: number, size: number): Buffer {
  const block = Buffer.alloc(4099);
  let x = (seed * 2654435761 + 12345) >>> 0;
  for (let i = 0; i < block.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    block[i] = x >>> 24;
  }
  const out = Buffer.allocUnsafe(size);
  if (size > 0) out.fill(block);
  return out;
}

export async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<SpindleError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected ${ErrorCode[code]}, but it succeeded`);
    },
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SpindleError);
  expect(ErrorCode[(error as SpindleError).errorCode]).toBe(ErrorCode[code]);
  return error as SpindleError;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function describeBulkTransportConformance(name: string, makeTransport: MakeBulkTransport): void {
  describe(`BulkTransport conformance: ${name}`, () => {
    const listeners: BulkListener[] = [];
    const channels: BulkChannel[] = [];

    afterEach(async () => {
      for (const channel of channels.splice(0)) channel.close();
      await Promise.all(listeners.splice(0).map((listener) => listener.close()));
    });

    async function listen(transport: BulkTransport): Promise<BulkListener> {
      const listener = await transport.listen('127.0.0.1', 0);
      listeners.push(listener);
      return listener;
    }

    /** A session: the connecting end and the listener's end. */
    async function pair(
      options: BulkTransportOptions = {},
    ): Promise<{ client: BulkChannel; server: BulkChannel; listener: BulkListener; transport: BulkTransport }> {
      const transport = makeTransport(options);
      const listener = await listen(transport);
      const client = await transport.connect(listener.address, { timeoutMs: 5_000 });
      channels.push(client);
      const server = await listener.channel(client.sessionId, 5_000);
      channels.push(server);
      expect(server.sessionId).toBe(client.sessionId);
      return { client, server, listener, transport };
    }

    /** Sends a marker from `from` and waits for it at `to`: every frame sent before has arrived. */
    async function settleFrames(from: BulkChannel, to: BulkChannel): Promise<void> {
      const arrived = to.receive(MARKER_ID, { timeoutMs: 5_000 });
      await from.send(MARKER_ID, Buffer.from('marker'));
      expect((await arrived).toString()).toBe('marker');
    }

    it('round-trips frames in both directions', async () => {
      const { client, server } = await pair();
      const id = client.nextRequestId();
      const up = patternBytes(1, 10_000);
      const down = patternBytes(2, 70_000);
      const [received] = await Promise.all([server.receive(id), client.send(id, up)]);
      expect(received.equals(up)).toBe(true);
      const [back] = await Promise.all([client.receive(id), server.send(id, down)]);
      expect(back.equals(down)).toBe(true);
      expect(client.closed).toBe(false);
      expect(server.closed).toBe(false);
    });

    it('hands out increasing, distinct request ids on the connecting side', async () => {
      const { client } = await pair();
      const ids = Array.from({ length: 100 }, () => client.nextRequestId());
      expect(new Set(ids).size).toBe(100);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    });

    it('delivers a frame to a receive registered before it arrives and to one registered after', async () => {
      const { client, server } = await pair();
      const early = server.receive(1);
      await client.send(1, patternBytes(1, 5_000));
      expect((await early).equals(patternBytes(1, 5_000))).toBe(true);

      await client.send(2, patternBytes(2, 300 * KIB));
      await settleFrames(client, server);
      const late = await server.receive(2, { timeoutMs: 5_000 });
      expect(late.equals(patternBytes(2, 300 * KIB))).toBe(true);
    });

    it('writes the payload into `into` and returns a view of it (registered before and after arrival)', async () => {
      const { client, server } = await pair();
      const payload = patternBytes(3, 200 * KIB + 7);
      const into = new Uint8Array(256 * KIB);
      const receiving = server.receive(3, { into });
      await client.send(3, payload);
      const result = await receiving;
      expect(result.buffer).toBe(into.buffer);
      expect(result.byteOffset).toBe(into.byteOffset);
      expect(result.length).toBe(payload.length);
      expect(Buffer.from(into.buffer, into.byteOffset, payload.length).equals(payload)).toBe(true);

      // Already arrived (unclaimed) when asked for; `into` is a view into a larger buffer.
      const backing = new Uint8Array(300 * KIB);
      const into2 = backing.subarray(1000, 1000 + payload.length);
      await client.send(4, payload);
      await settleFrames(client, server);
      const result2 = await server.receive(4, { into: into2 });
      expect(result2.buffer).toBe(backing.buffer);
      expect(result2.byteOffset).toBe(1000);
      expect(Buffer.from(result2).equals(payload)).toBe(true);
    });

    it('fails a receive whose frame is longer than `into` or maxBytes, and the session keeps working', async () => {
      const { client, server } = await pair();
      const big = patternBytes(5, 64 * KIB);
      // Waiting receive, too small `into` (the expectation is attached before the send: the refusal
      // may come while the send still waits for the socket, e.g. over TLS).
      const waiting = expectCode(server.receive(5, { into: new Uint8Array(1000) }), ErrorCode.INVALID_ARGUMENT);
      await client.send(5, big);
      await waiting;
      // Waiting receive, maxBytes.
      const capped = expectCode(server.receive(6, { maxBytes: 100 }), ErrorCode.INVALID_ARGUMENT);
      await client.send(6, big);
      await capped;
      // Unclaimed frame, too small `into` / maxBytes.
      await client.send(7, big);
      await client.send(8, big);
      await settleFrames(client, server);
      await expectCode(server.receive(7, { into: new Uint8Array(10) }), ErrorCode.INVALID_ARGUMENT);
      await expectCode(server.receive(8, { maxBytes: 64 * KIB - 1 }), ErrorCode.INVALID_ARGUMENT);
      // Still usable, both ways; exactly fitting limits are fine.
      const after = server.receive(9, { into: new Uint8Array(big.length), maxBytes: big.length });
      await client.send(9, big);
      expect((await after).equals(big)).toBe(true);
      const [back] = await Promise.all([client.receive(10), server.send(10, big)]);
      expect(back.equals(big)).toBe(true);
      expect(server.closed).toBe(false);
    });

    it('rejects a send larger than the frame limit with INVALID_ARGUMENT', async () => {
      const { client, server } = await pair({ maxFrameBytes: 4 * KIB });
      await expectCode(client.send(1, new Uint8Array(4 * KIB + 1)), ErrorCode.INVALID_ARGUMENT);
      await expectCode(client.send(-1, new Uint8Array(1)), ErrorCode.INVALID_ARGUMENT);
      const [received] = await Promise.all([server.receive(2), client.send(2, patternBytes(2, 4 * KIB))]);
      expect(received.length).toBe(4 * KIB);
    });

    it('carries empty payloads', async () => {
      const { client, server } = await pair();
      const waiting = server.receive(1);
      await client.send(1, new Uint8Array(0));
      expect((await waiting).length).toBe(0);
      const into = new Uint8Array(16);
      const waitingInto = server.receive(2, { into });
      await client.send(2, Buffer.alloc(0));
      const result = await waitingInto;
      expect(result.length).toBe(0);
      expect(result.buffer).toBe(into.buffer);
      await client.send(3, Buffer.alloc(0));
      await settleFrames(client, server);
      expect((await server.receive(3, { maxBytes: 0 })).length).toBe(0);
    });

    it('carries a 64 MiB payload intact', async () => {
      const { client, server } = await pair();
      const payload = randomBytes(64 * MIB);
      const crc = crc32c(payload);
      const into = Buffer.allocUnsafe(64 * MIB);
      const receiving = server.receive(1, { into, timeoutMs: 30_000 });
      await client.send(1, payload, crc);
      const result = await receiving;
      expect(result.length).toBe(payload.length);
      expect(crc32c(result)).toBe(crc);
      // And the other way, into a buffer of its own.
      const [back] = await Promise.all([client.receive(2, { timeoutMs: 30_000 }), server.send(2, payload)]);
      expect(crc32c(back)).toBe(crc);
    });

    it('keeps 200 concurrent sends of mixed sizes apart, in both directions', async () => {
      const { client, server } = await pair();
      const sizes = [0, 1, 100, 64 * KIB - 1, 64 * KIB + 1, 300 * KIB, MIB + 3];
      const count = 200;
      const sizeOf = (id: number): number => sizes[id % sizes.length]!;
      const ids = Array.from({ length: count }, (_, i) => i + 1);
      const payloadOf = (id: number, direction: number): Buffer => patternBytes(id * 2 + direction, sizeOf(id));

      async function run(from: BulkChannel, to: BulkChannel, direction: number): Promise<void> {
        // Even ids: receive registered before the send (half of them with `into`); odd: after.
        const early = new Map<number, Promise<Buffer>>();
        for (const id of ids) {
          if (id % 2 === 0)
            early.set(
              id,
              to.receive(
                id,
                id % 4 === 0 ? { into: Buffer.alloc(sizeOf(id) + 5), timeoutMs: 30_000 } : { timeoutMs: 30_000 },
              ),
            );
        }
        await Promise.all(ids.map((id) => from.send(id, payloadOf(id, direction))));
        const results = await Promise.all(ids.map((id) => early.get(id) ?? to.receive(id, { timeoutMs: 30_000 })));
        results.forEach((result, index) => {
          const id = ids[index]!;
          expect(result.length, `frame ${id}`).toBe(sizeOf(id));
          expect(result.equals(payloadOf(id, direction)), `frame ${id}`).toBe(true);
        });
      }

      await Promise.all([run(client, server, 0), run(server, client, 1)]);
    });

    it('reports a frame whose CRC32C does not match as CHECKSUM_MISMATCH, and keeps going', async () => {
      const { client, server } = await pair();
      const payload = patternBytes(1, 10_000);
      const waiting = server.receive(1);
      await client.send(1, payload, (crc32c(payload) ^ 1) >>> 0);
      const error = await expectCode(waiting, ErrorCode.CHECKSUM_MISMATCH);
      expect(error.retryable).toBe(true);
      // Unclaimed bad frame: the error waits for whoever asks.
      await client.send(2, payload, (crc32c(payload) + 1) >>> 0);
      await settleFrames(client, server);
      await expectCode(server.receive(2), ErrorCode.CHECKSUM_MISMATCH);
      const [good] = await Promise.all([server.receive(3), client.send(3, payload, crc32c(payload))]);
      expect(good.equals(payload)).toBe(true);
    });

    it('checks a frame against the CRC32C its receiver expects (waiting or unclaimed)', async () => {
      const { client, server } = await pair();
      const payload = patternBytes(2, 20_000);
      const crc = crc32c(payload);
      const [matched] = await Promise.all([server.receive(1, { expectCrc32c: crc }), client.send(1, payload)]);
      expect(matched.equals(payload)).toBe(true);
      // Intact bytes, but not the ones the receiver was told about.
      const waiting = server.receive(2, { expectCrc32c: (crc ^ 0x10) >>> 0 });
      await client.send(2, payload);
      expect((await expectCode(waiting, ErrorCode.CHECKSUM_MISMATCH)).message).toMatch(/not the \d+ its request names/);
      await client.send(3, payload, crc);
      await settleFrames(client, server);
      await expectCode(server.receive(3, { expectCrc32c: (crc + 1) >>> 0 }), ErrorCode.CHECKSUM_MISMATCH);
      await client.send(4, payload, crc);
      await settleFrames(client, server);
      expect((await server.receive(4, { expectCrc32c: crc })).equals(payload)).toBe(true);
    });

    it('times out and aborts a receive; a frame that comes later is still delivered to a new receive', async () => {
      const { client, server } = await pair();
      const timeout = await expectCode(server.receive(1, { timeoutMs: 20 }), ErrorCode.TIMEOUT);
      expect(timeout.retryable).toBe(true);

      const controller = new AbortController();
      const aborted = server.receive(2, { signal: controller.signal });
      controller.abort();
      await expectCode(aborted, ErrorCode.CANCELLED);
      await expectCode(server.receive(3, { signal: AbortSignal.abort() }), ErrorCode.CANCELLED);

      // A second receive of an id already waiting is a caller bug, reported as INVALID_ARGUMENT.
      const first = server.receive(4);
      await expectCode(server.receive(4), ErrorCode.INVALID_ARGUMENT);

      await client.send(1, patternBytes(1, 1000));
      await client.send(4, patternBytes(4, 1000));
      expect((await first).equals(patternBytes(4, 1000))).toBe(true);
      expect((await server.receive(1, { timeoutMs: 5_000 })).equals(patternBytes(1, 1000))).toBe(true);
    });

    for (const closer of ['connecting', 'accepting'] as const) {
      it(`rejects pending receives and later sends with RPC_UNAVAILABLE when the ${closer} end closes`, async () => {
        const { client, server, listener } = await pair();
        const [closing, peer] = closer === 'connecting' ? [client, server] : [server, client];
        const peerWaiting = peer.receive(1);
        const ownWaiting = closing.receive(2);
        closing.close();
        closing.close(); // idempotent
        expect(closing.closed).toBe(true);
        await expectCode(ownWaiting, ErrorCode.RPC_UNAVAILABLE);
        const error = await expectCode(peerWaiting, ErrorCode.RPC_UNAVAILABLE);
        expect(error.retryable).toBe(true);
        expect(peer.closed).toBe(true);
        await expectCode(peer.send(3, Buffer.from('late')), ErrorCode.RPC_UNAVAILABLE);
        await expectCode(closing.send(3, Buffer.from('late')), ErrorCode.RPC_UNAVAILABLE);
        await expectCode(peer.receive(4), ErrorCode.RPC_UNAVAILABLE);
        // The listener forgets the session.
        await expectCode(listener.channel(client.sessionId), ErrorCode.RPC_UNAVAILABLE);
      });
    }

    it('listener.channel waits for a session that is not there yet, and gives up with RPC_UNAVAILABLE', async () => {
      const ids = ['a'.repeat(32), 'b'.repeat(32)];
      const transport = makeTransport({ newSessionId: () => ids.shift() ?? randomBytes(16).toString('hex') });
      const listener = await listen(transport);
      const unknown = await expectCode(listener.channel('c'.repeat(32), 30), ErrorCode.RPC_UNAVAILABLE);
      expect(unknown.retryable).toBe(true);
      await expectCode(listener.channel('c'.repeat(32)), ErrorCode.RPC_UNAVAILABLE);

      const waiting = listener.channel('a'.repeat(32), 5_000);
      const client = await transport.connect(listener.address);
      channels.push(client);
      expect(client.sessionId).toBe('a'.repeat(32));
      const server = await waiting;
      channels.push(server);
      expect(server.sessionId).toBe('a'.repeat(32));
      const [received] = await Promise.all([server.receive(1), client.send(1, Buffer.from('hello'))]);
      expect(received.toString()).toBe('hello');
    });

    it('drops unclaimed frames after their TTL', async () => {
      const { client, server } = await pair({ unclaimedTtlMs: 100 });
      await client.send(1, patternBytes(1, 1000));
      await client.send(2, patternBytes(2, 1000));
      await settleFrames(client, server);
      expect((await server.receive(2, { timeoutMs: 5_000 })).equals(patternBytes(2, 1000))).toBe(true);
      await sleep(300);
      await expectCode(server.receive(1, { timeoutMs: 50 }), ErrorCode.TIMEOUT);
      // A waiting receive is not subject to the TTL.
      const [late] = await Promise.all([
        server.receive(3, { timeoutMs: 5_000 }),
        sleep(200).then(() => client.send(3, Buffer.from('x'))),
      ]);
      expect(late.toString()).toBe('x');
    });

    it('bounds unclaimed frames by bytes, dropping the oldest first', async () => {
      const { client, server } = await pair({ unclaimedMaxBytes: 3000 });
      for (let id = 1; id <= 4; id++) await client.send(id, patternBytes(id, 1000));
      await client.send(5, patternBytes(5, 3001)); // larger than the whole bound: never kept
      await settleFrames(client, server);
      await expectCode(server.receive(1, { timeoutMs: 50 }), ErrorCode.TIMEOUT);
      await expectCode(server.receive(5, { timeoutMs: 50 }), ErrorCode.TIMEOUT);
      for (let id = 2; id <= 4; id++) {
        expect((await server.receive(id, { timeoutMs: 5_000 })).equals(patternBytes(id, 1000))).toBe(true);
      }
      // A frame someone waits for is not bounded by the unclaimed limit.
      const [big] = await Promise.all([server.receive(6), client.send(6, patternBytes(6, 10_000))]);
      expect(big.length).toBe(10_000);
    });

    it('listener.close() ends its sessions and refuses new ones', async () => {
      const { client, server, listener, transport } = await pair();
      // Each expectation is attached before the close, so no rejection goes unhandled meanwhile.
      const waiting = expectCode(client.receive(1), ErrorCode.RPC_UNAVAILABLE);
      const serverWaiting = expectCode(server.receive(1), ErrorCode.RPC_UNAVAILABLE);
      const pendingChannel = expectCode(listener.channel('d'.repeat(32), 5_000), ErrorCode.RPC_UNAVAILABLE);
      await listener.close();
      await listener.close(); // idempotent
      await Promise.all([waiting, serverWaiting, pendingChannel]);
      expect(client.closed).toBe(true);
      expect(server.closed).toBe(true);
      await expectCode(client.send(2, Buffer.from('x')), ErrorCode.RPC_UNAVAILABLE);
      await expectCode(listener.channel(client.sessionId), ErrorCode.RPC_UNAVAILABLE);
      await expectCode(transport.connect(listener.address, { timeoutMs: 2_000 }), ErrorCode.RPC_UNAVAILABLE);
    });

    it('rejects a connect to a closed listener with RPC_UNAVAILABLE (retryable)', async () => {
      const transport = makeTransport({});
      const listener = await transport.listen('127.0.0.1', 0);
      const address = listener.address;
      await listener.close();
      const error = await expectCode(transport.connect(address, { timeoutMs: 2_000 }), ErrorCode.RPC_UNAVAILABLE);
      expect(error.retryable).toBe(true);
      await expectCode(transport.connect(address, { signal: AbortSignal.abort() }), ErrorCode.CANCELLED);
    });

    it("checks the hello's credential: the accepted end knows its principal; a bad one is refused", async () => {
      const alice: Principal = { role: 'client', user: 'alice', uid: 1000, gid: 1000 };
      const authenticate = (credential: string): Principal | undefined =>
        credential === 'token-of-alice' ? alice : undefined;
      const accepted = await pair({ credential: 'token-of-alice', authenticate });
      expect(accepted.server.principal).toEqual(alice);
      await accepted.client.send(1, Buffer.from('ok'));
      expect((await accepted.server.receive(1, { timeoutMs: 5_000 })).toString()).toBe('ok');

      for (const credential of ['token-of-mallory', undefined]) {
        const transport = makeTransport({ credential, authenticate });
        const listener = await listen(transport);
        const error = await expectCode(
          transport.connect(listener.address, { timeoutMs: 5_000 }),
          ErrorCode.UNAUTHENTICATED,
        );
        expect(error.retryable).toBe(false);
      }
      // Without a check, every session is accepted as the anonymous admin (authentication off).
      const open = await pair({ credential: 'anything' });
      expect(open.server.principal).toEqual(ANONYMOUS_ADMIN);
      expect(open.client.principal).toBeUndefined();
    });

    it('keeps sessions of one listener apart', async () => {
      const transport = makeTransport({});
      const listener = await listen(transport);
      const clients = await Promise.all([0, 1, 2].map(() => transport.connect(listener.address)));
      channels.push(...clients);
      const servers = await Promise.all(clients.map((client) => listener.channel(client.sessionId, 5_000)));
      channels.push(...servers);
      expect(new Set(clients.map((client) => client.sessionId)).size).toBe(3);
      const received = await Promise.all(
        servers.map(async (server, index) => {
          const [payload] = await Promise.all([
            server.receive(1),
            clients[index]!.send(1, Buffer.from(`session ${index}`)),
          ]);
          return payload.toString();
        }),
      );
      expect(received).toEqual(['session 0', 'session 1', 'session 2']);
      clients[0]!.close();
      await expectCode(servers[0]!.receive(2), ErrorCode.RPC_UNAVAILABLE);
      const [still] = await Promise.all([servers[1]!.receive(2), clients[1]!.send(2, Buffer.from('still here'))]);
      expect(still.toString()).toBe('still here');
    });

    // Calls: BulkChannel.call answered by BulkListener.handleRequests.

    it("answers a call with the handler's result; the handler sees the caller's session", async () => {
      const { client, listener } = await pair();
      const seen: string[] = [];
      listener.handleRequests(async (payload, session) => {
        seen.push(session.sessionId);
        return Buffer.concat([Buffer.from('echo:'), payload, patternBytes(payload.length, 4 * KIB)]);
      });
      const request = Buffer.from('read chunk 7');
      const answering = client.call(request, { timeoutMs: 5_000 });
      request.fill(0); // the payload is the caller's again once call has returned
      const answer = await answering;
      expect(answer.subarray(0, 17).toString()).toBe('echo:read chunk 7');
      expect(answer.subarray(17).equals(patternBytes(12, 4 * KIB))).toBe(true);
      expect(seen).toEqual([client.sessionId]);
      // Empty request and empty answer.
      listener.handleRequests(async (payload) => payload.subarray(0, 0));
      expect((await client.call(new Uint8Array(0))).length).toBe(0);
      // Calls and plain frames share the session without getting in each other's way.
      const id = client.nextRequestId();
      const server = await listener.channel(client.sessionId);
      const [received] = await Promise.all([server.receive(id), client.send(id, Buffer.from('frame'))]);
      expect(received.toString()).toBe('frame');
    });

    it('keeps 200 concurrent calls from two sessions apart', async () => {
      const transport = makeTransport({});
      const listener = await listen(transport);
      const clients = await Promise.all([0, 1].map(() => transport.connect(listener.address, { timeoutMs: 5_000 })));
      channels.push(...clients);
      listener.handleRequests(async (payload, session) => {
        // Answer out of order: a later request may finish first.
        if (payload[0]! % 3 === 0) await sleep(1);
        return Buffer.concat([Buffer.from(`${session.sessionId}/`), payload]);
      });
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const client = clients[i % 2]!;
          return client.call(patternBytes(i, 100 + i), { timeoutMs: 30_000 }).then((answer) => ({ i, client, answer }));
        }),
      );
      for (const { i, client, answer } of results) {
        const prefix = `${client.sessionId}/`;
        expect(answer.subarray(0, prefix.length).toString(), `call ${i}`).toBe(prefix);
        expect(answer.subarray(prefix.length).equals(patternBytes(i, 100 + i)), `call ${i}`).toBe(true);
      }
    });

    it("fails a call with the handler's error: its code and message, INTERNAL for a non-Spindle error", async () => {
      const { client, listener } = await pair();
      listener.handleRequests(async (payload) => {
        const what = payload.toString();
        if (what === 'spindle') throw new SpindleError(ErrorCode.CHUNK_NOT_FOUND, 'chunk 42 of chain 7 not found');
        if (what === 'plain') throw new Error('handler bug');
        if (what === 'long') throw new SpindleError(ErrorCode.CHUNK_NOT_FOUND, 'é'.repeat(100_000));
        return Buffer.from('fine');
      });
      const notFound = await expectCode(client.call(Buffer.from('spindle')), ErrorCode.CHUNK_NOT_FOUND);
      expect(notFound.message).toBe('chunk 42 of chain 7 not found');
      expect(notFound.retryable).toBe(false);
      const internal = await expectCode(client.call(Buffer.from('plain')), ErrorCode.INTERNAL);
      expect(internal.message).toBe('handler bug');
      // A long message arrives cut, at a character boundary.
      const long = await expectCode(client.call(Buffer.from('long')), ErrorCode.CHUNK_NOT_FOUND);
      expect(long.message.length).toBeGreaterThan(1000);
      expect(long.message.length).toBeLessThan(100_000);
      expect(/^é+$/.test(long.message)).toBe(true);
      // A handler that throws instead of returning a rejected promise.
      listener.handleRequests(((): Promise<Uint8Array> => {
        throw new SpindleError(ErrorCode.CHUNK_NOT_FOUND, 'thrown at once');
      }) as never);
      expect((await expectCode(client.call(Buffer.from('x')), ErrorCode.CHUNK_NOT_FOUND)).message).toBe(
        'thrown at once',
      );
      expect(client.closed).toBe(false);
    });

    it('fails a call with RPC_UNAVAILABLE when the listener has no handler; a handler set later answers', async () => {
      const { client, listener } = await pair();
      const error = await expectCode(
        client.call(Buffer.from('anyone?'), { timeoutMs: 5_000 }),
        ErrorCode.RPC_UNAVAILABLE,
      );
      expect(error.message).toMatch(/answers no requests/);
      expect(client.closed).toBe(false);
      listener.handleRequests(async () => Buffer.from('first'));
      expect((await client.call(Buffer.from('x'))).toString()).toBe('first');
      listener.handleRequests(async () => Buffer.from('second'));
      expect((await client.call(Buffer.from('x'))).toString()).toBe('second');
    });

    it('fails a call whose answer is over its maxBytes (INVALID_ARGUMENT) or the frame limit (INTERNAL)', async () => {
      const { client, listener } = await pair({ maxFrameBytes: 4 * KIB });
      listener.handleRequests(async (payload) => Buffer.alloc(payload.readUInt32BE(0)));
      const size = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
      expect((await client.call(size(4 * KIB))).length).toBe(4 * KIB);
      await expectCode(client.call(size(4 * KIB + 1)), ErrorCode.INTERNAL);
      await expectCode(client.call(size(101), { maxBytes: 100 }), ErrorCode.INVALID_ARGUMENT);
      await expectCode(client.call(new Uint8Array(4 * KIB + 1)), ErrorCode.INVALID_ARGUMENT);
      expect((await client.call(size(100), { maxBytes: 100 })).length).toBe(100);
    });

    it('times out and aborts a call; the late answer does not disturb the session', async () => {
      const { client, listener } = await pair();
      const gates: Array<() => void> = [];
      listener.handleRequests(async (payload) => {
        if (payload.toString() === 'slow') await new Promise<void>((resolve) => gates.push(resolve));
        return Buffer.concat([Buffer.from('answer:'), payload]);
      });
      const timedOut = await expectCode(client.call(Buffer.from('slow'), { timeoutMs: 20 }), ErrorCode.TIMEOUT);
      expect(timedOut.retryable).toBe(true);
      const controller = new AbortController();
      const aborted = client.call(Buffer.from('slow'), { signal: controller.signal });
      await expect.poll(() => gates.length).toBe(2);
      controller.abort();
      await expectCode(aborted, ErrorCode.CANCELLED);
      await expectCode(client.call(Buffer.from('x'), { signal: AbortSignal.abort() }), ErrorCode.CANCELLED);
      for (const release of gates.splice(0)) release();
      // The late answers go out (the handlers finish within this turn), arrive before the marker
      // and are dropped; the session carries on.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const server = await listener.channel(client.sessionId);
      await settleFrames(server, client);
      expect((await client.call(Buffer.from('fast'), { timeoutMs: 5_000 })).toString()).toBe('answer:fast');
      expect(client.closed).toBe(false);
    });

    for (const closer of ['connecting', 'accepting'] as const) {
      it(`fails a pending call with RPC_UNAVAILABLE when the ${closer} end closes; its answer is dropped`, async () => {
        const { client, server, listener } = await pair();
        let release!: () => void;
        const started = new Promise<void>((handlerStarted) => {
          listener.handleRequests(async () => {
            handlerStarted();
            await new Promise<void>((resolve) => (release = resolve));
            return Buffer.from('too late');
          });
        });
        const pending = expectCode(client.call(Buffer.from('x')), ErrorCode.RPC_UNAVAILABLE);
        await started;
        (closer === 'connecting' ? client : server).close();
        const error = await pending;
        expect(error.retryable).toBe(true);
        release();
        await sleep(10); // the answer to a closed session goes nowhere, without an error
        await expectCode(client.call(Buffer.from('y')), ErrorCode.RPC_UNAVAILABLE);
      });
    }

    it('fails pending calls with RPC_UNAVAILABLE when the listener closes', async () => {
      const { client, listener } = await pair();
      listener.handleRequests(() => new Promise<Uint8Array>(() => {}));
      const pending = expectCode(client.call(Buffer.from('x')), ErrorCode.RPC_UNAVAILABLE);
      await sleep(5);
      await listener.close();
      await pending;
    });
  });
}
