// The TCP transport passes the BulkTransport conformance suite; beyond it, frames written by hand
// through a raw socket check the wire format, the CRC32C check, and that malformed peers (garbage,
// oversized lengths, no hello, REQUEST or ERROR frames in the wrong direction) lose their
// connection without harming the listener or other sessions.
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ANONYMOUS_ADMIN } from '../auth/principal.js';
import { crc32c } from '../crc32c.js';
import { ErrorCode, SpindleError } from '../errors.js';
import { describeBulkTransportConformance, expectCode, patternBytes } from './testing/conformance.js';
import { BULK_REQUESTS_IN_PROGRESS_MAX } from './constants.js';
import { FRAME_HEADER_BYTES, FrameType, TcpBulkTransport, encodeFrameHeader, parseHostPort } from './tcp-transport.js';
import type { BulkChannel, BulkListener } from './transport.js';

describeBulkTransportConformance('tcp', (options) => new TcpBulkTransport(options));
describeBulkTransportConformance(
  'tcp, read through data events',
  (options) => new TcpBulkTransport({ ...options, readPath: 'data-events' }),
);

function frame(type: FrameType, requestId: number, payload: Buffer, crc = crc32c(payload)): Buffer {
  return Buffer.concat([encodeFrameHeader(type, requestId, payload.length, crc), payload]);
}

/** A raw socket to `address`, with a promise of its close and of every byte it received. */
async function rawSocket(
  address: string,
): Promise<{ socket: net.Socket; closed: Promise<void>; received: () => Buffer }> {
  const { host, port } = parseHostPort(address)!;
  const socket = net.connect({ host, port });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, closed, received: () => Buffer.concat(chunks) };
}

describe('TcpBulkTransport on the wire', () => {
  const transport = new TcpBulkTransport();
  const listeners: BulkListener[] = [];
  const sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(listeners.splice(0).map((listener) => listener.close()));
  });

  async function listen(): Promise<BulkListener> {
    const listener = await transport.listen('127.0.0.1', 0);
    listeners.push(listener);
    return listener;
  }

  async function rawSession(listener: BulkListener, sessionId: string) {
    const raw = await rawSocket(listener.address);
    sockets.push(raw.socket);
    raw.socket.write(frame(FrameType.HELLO, 0, Buffer.from(sessionId, 'hex')));
    const channel = await listener.channel(sessionId, 5_000);
    return { ...raw, channel };
  }

  it('answers a hand-written hello with a hello-ack and reads hand-written frames split at every byte', async () => {
    const listener = await listen();
    const { socket, channel, received } = await rawSession(listener, '1'.repeat(32));
    const payload = patternBytes(1, 1000);
    const bytes = frame(FrameType.DATA, 2 ** 40 + 3, payload);
    const receiving = channel.receive(2 ** 40 + 3);
    for (let i = 0; i < 40; i++) socket.write(bytes.subarray(i, i + 1));
    socket.write(bytes.subarray(40));
    expect((await receiving).equals(payload)).toBe(true);
    const ack = received().subarray(0, FRAME_HEADER_BYTES);
    expect(ack.equals(encodeFrameHeader(FrameType.HELLO_ACK, 0, 0, 0))).toBe(true);

    // Frames from the listener's end have the documented layout.
    await channel.send(9, Buffer.from('abc'));
    await expect.poll(() => received().length).toBe(2 * FRAME_HEADER_BYTES + 3);
    expect(
      received()
        .subarray(FRAME_HEADER_BYTES)
        .equals(frame(FrameType.DATA, 9, Buffer.from('abc'))),
    ).toBe(true);
  });

  it('reports a corrupted payload byte as CHECKSUM_MISMATCH and keeps the session', async () => {
    const listener = await listen();
    const { socket, channel } = await rawSession(listener, '2'.repeat(32));
    const payload = patternBytes(2, 100_000);
    const corrupted = frame(FrameType.DATA, 1, payload);
    corrupted[FRAME_HEADER_BYTES + 50_000]! ^= 0x40;
    const receiving = channel.receive(1, { into: Buffer.alloc(payload.length) });
    socket.write(corrupted);
    await expectCode(receiving, ErrorCode.CHECKSUM_MISMATCH);
    const next = channel.receive(2);
    socket.write(frame(FrameType.DATA, 2, payload));
    expect((await next).equals(payload)).toBe(true);
    expect(channel.closed).toBe(false);
  });

  it('closes a connection sending garbage, an oversized length or a bad hello; other sessions still work', async () => {
    const listener = await listen();
    const good = await transport.connect(listener.address);
    const goodServer = await listener.channel(good.sessionId, 5_000);

    // Garbage instead of a hello.
    const garbage = await rawSocket(listener.address);
    sockets.push(garbage.socket);
    garbage.socket.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await garbage.closed;

    // A hello with a session id of the wrong length.
    const badHello = await rawSocket(listener.address);
    sockets.push(badHello.socket);
    badHello.socket.write(frame(FrameType.HELLO, 0, Buffer.from('short')));
    await badHello.closed;

    // A proper session that then sends an oversized length: its pending receive fails.
    const oversized = await rawSession(listener, '3'.repeat(32));
    const pending = expectCode(oversized.channel.receive(1), ErrorCode.RPC_UNAVAILABLE);
    const header = encodeFrameHeader(FrameType.DATA, 1, 0, 0);
    header.writeUInt32BE(0xffffffff, 12);
    oversized.socket.write(header);
    await oversized.closed;
    await pending;

    // A session that sends garbage after its hello.
    const later = await rawSession(listener, '4'.repeat(32));
    later.socket.write(Buffer.alloc(FRAME_HEADER_BYTES, 0xee));
    await later.closed;
    await expectCode(listener.channel('4'.repeat(32)), ErrorCode.RPC_UNAVAILABLE);

    // Data before the hello, and a hello twice.
    const early = await rawSocket(listener.address);
    sockets.push(early.socket);
    early.socket.write(frame(FrameType.DATA, 1, Buffer.from('x')));
    await early.closed;

    const [received] = await Promise.all([goodServer.receive(1), good.send(1, patternBytes(1, 50_000))]);
    expect(received.equals(patternBytes(1, 50_000))).toBe(true);
    const fresh = await transport.connect(listener.address);
    const [back] = await Promise.all([
      fresh.receive(1),
      (await listener.channel(fresh.sessionId, 5_000)).send(1, Buffer.from('ok')),
    ]);
    expect(back.toString()).toBe('ok');
    good.close();
    fresh.close();
  });

  it('hands a frame still arriving to a receive that starts mid-frame (its `into` gets the bytes)', async () => {
    const listener = await listen();
    const { socket, channel } = await rawSession(listener, '6'.repeat(32));
    const payload = patternBytes(6, 300_000);
    const bytes = frame(FrameType.DATA, 1, payload);
    const half = FRAME_HEADER_BYTES + 100_000;
    // Nothing on the wire says when the first half has been parsed; a short pause makes the
    // takeover path the usual one here (frame-inbox.test.ts checks it deterministically).
    socket.write(bytes.subarray(0, half));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const into = Buffer.alloc(payload.length + 10);
    const receiving = channel.receive(1, { into, timeoutMs: 5_000 });
    socket.write(bytes.subarray(half));
    const result = await receiving;
    expect(result.buffer).toBe(into.buffer);
    expect(result.equals(payload)).toBe(true);
  });

  it("reads a large payload straight into the receiver's `into`, all but its first bytes", async () => {
    const listener = await listen();
    const sender = await transport.connect(listener.address);
    const receiver = (await listener.channel(sender.sessionId)) as BulkChannel & { directReadBytes: number };
    const payload = patternBytes(8, 4 * 1024 * 1024);
    for (const requestId of [1, 2]) {
      const into = Buffer.alloc(payload.length);
      const receiving = receiver.receive(requestId, { into, timeoutMs: 5_000 });
      await sender.send(requestId, payload);
      expect((await receiving).equals(payload)).toBe(true);
    }
    // The rest went through the staging buffer: a header's read takes at most 1 MiB of its payload
    // (64 KiB after a large frame).
    expect(receiver.directReadBytes).toBeGreaterThanOrEqual(2 * payload.length - 1024 * 1024 - 64 * 1024);
    sender.close();
  });

  it('skips the rest of a frame whose receive timed out midway, `into` untouched; reads the next frame', async () => {
    const listener = await listen();
    const { socket, channel } = await rawSession(listener, '7'.repeat(32));
    const payload = patternBytes(7, 200_000);
    const bytes = frame(FrameType.DATA, 1, payload);
    const into = Buffer.alloc(payload.length);
    const receiving = expectCode(channel.receive(1, { into, timeoutMs: 100 }), ErrorCode.TIMEOUT);
    socket.write(bytes.subarray(0, FRAME_HEADER_BYTES + 50_000));
    await receiving;
    into.fill(0);
    const next = channel.receive(2, { timeoutMs: 5_000 });
    socket.write(
      Buffer.concat([bytes.subarray(FRAME_HEADER_BYTES + 50_000), frame(FrameType.DATA, 2, Buffer.from('next'))]),
    );
    expect((await next).toString()).toBe('next');
    expect(into.every((byte) => byte === 0)).toBe(true);
    await expectCode(channel.receive(1, { timeoutMs: 20 }), ErrorCode.TIMEOUT);
  });

  it('closes a connection that sends a request id beyond 2^53', async () => {
    const listener = await listen();
    const { socket, closed } = await rawSession(listener, '8'.repeat(32));
    const header = encodeFrameHeader(FrameType.DATA, 1, 0, 0);
    header.writeUInt32BE(0xffffffff, 4);
    socket.write(header);
    await closed;
    await expectCode(listener.channel('8'.repeat(32)), ErrorCode.RPC_UNAVAILABLE);
  });

  it('answers a hand-written REQUEST with a DATA frame, or an ERROR frame of code + UTF-8 message', async () => {
    const listener = await listen();
    listener.handleRequests(async (payload) => {
      if (payload.toString() === 'missing') throw new SpindleError(ErrorCode.CHUNK_NOT_FOUND, 'no chunk é');
      return Buffer.concat([Buffer.from('got '), payload]);
    });
    const { socket, received } = await rawSession(listener, '9'.repeat(32));
    const request = frame(FrameType.REQUEST, 2 ** 33 + 1, Buffer.from('chunk 1'));
    // Split across writes, like any frame.
    socket.write(request.subarray(0, 25));
    socket.write(request.subarray(25));
    const answer = frame(FrameType.DATA, 2 ** 33 + 1, Buffer.from('got chunk 1'));
    await expect.poll(() => received().length).toBe(FRAME_HEADER_BYTES + answer.length);
    expect(received().subarray(FRAME_HEADER_BYTES).equals(answer)).toBe(true);

    socket.write(frame(FrameType.REQUEST, 2, Buffer.from('missing')));
    const message = Buffer.from('no chunk é');
    const errorPayload = Buffer.concat([Buffer.from([0, 0, 0, 0]), message]);
    errorPayload.writeUInt32BE(ErrorCode.CHUNK_NOT_FOUND, 0);
    const errorFrame = frame(FrameType.ERROR, 2, errorPayload);
    const before = FRAME_HEADER_BYTES + answer.length;
    await expect.poll(() => received().length).toBe(before + errorFrame.length);
    expect(received().subarray(before).equals(errorFrame)).toBe(true);

    // A REQUEST whose payload fails its CRC32C is answered CHECKSUM_MISMATCH; the session stays.
    socket.write(frame(FrameType.REQUEST, 3, Buffer.from('chunk 3'), 12345));
    const after = before + errorFrame.length;
    await expect.poll(() => received().length).toBeGreaterThan(after + FRAME_HEADER_BYTES + 4);
    const checksum = received().subarray(after);
    expect(checksum[3]).toBe(FrameType.ERROR);
    expect(checksum.readUInt32BE(FRAME_HEADER_BYTES)).toBe(ErrorCode.CHECKSUM_MISMATCH);
    expect((await listener.channel('9'.repeat(32))).closed).toBe(false);
  });

  it('closes a connection that sends an ERROR frame to the listener', async () => {
    const listener = await listen();
    listener.handleRequests(async () => Buffer.from('x'));
    const { socket, closed, channel } = await rawSession(listener, 'a'.repeat(32));
    const pending = expectCode(channel.receive(1), ErrorCode.RPC_UNAVAILABLE);
    socket.write(frame(FrameType.ERROR, 1, Buffer.from([0, 0, 0x0f, 0xa2, 0x41])));
    await closed;
    await pending;
    await expectCode(listener.channel('a'.repeat(32)), ErrorCode.RPC_UNAVAILABLE);
  });

  it('closes a connecting side sent a REQUEST or malformed ERROR frame; a valid ERROR fails its call', async () => {
    // A hand-written listener: answers the hello, then sends what `next` says.
    const peers: net.Socket[] = [];
    const server = net.createServer((socket) => {
      peers.push(socket);
      socket.on('error', () => {});
      let seen = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        const wasHello = seen.length < FRAME_HEADER_BYTES + 16;
        seen = Buffer.concat([seen, chunk]);
        if (wasHello && seen.length >= FRAME_HEADER_BYTES + 16)
          socket.write(encodeFrameHeader(FrameType.HELLO_ACK, 0, 0, 0));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      // A well-formed ERROR answer fails the call with its code and message.
      const good = await transport.connect(address);
      const calling = good.call(Buffer.from('q'));
      await expect.poll(() => peers.length).toBe(1);
      const errorPayload = Buffer.concat([Buffer.alloc(4), Buffer.from('gone')]);
      errorPayload.writeUInt32BE(ErrorCode.CHUNK_NOT_FOUND, 0);
      peers[0]!.write(frame(FrameType.ERROR, 1, errorPayload));
      expect((await expectCode(calling, ErrorCode.CHUNK_NOT_FOUND)).message).toBe('gone');

      // A REQUEST toward the connecting side is a protocol error.
      const pending = expectCode(good.receive(5), ErrorCode.RPC_UNAVAILABLE);
      peers[0]!.write(frame(FrameType.REQUEST, 1, Buffer.from('not yours')));
      await pending;
      expect(good.closed).toBe(true);

      // An ERROR frame too short to hold a code, likewise.
      const short = await transport.connect(address);
      await expect.poll(() => peers.length).toBe(2);
      const shortPending = expectCode(short.call(Buffer.from('q')), ErrorCode.RPC_UNAVAILABLE);
      peers[1]!.write(frame(FrameType.ERROR, 1, Buffer.from([1, 2])));
      await shortPending;
      expect(short.closed).toBe(true);
    } finally {
      for (const peer of peers) peer.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('stops reading a session whose requests fill the handler, and reads again as they are answered', async () => {
    const listener = await listen();
    const gates: Array<() => void> = [];
    let started = 0;
    listener.handleRequests(async (payload) => {
      started++;
      await new Promise<void>((resolve) => gates.push(resolve));
      return payload;
    });
    const client = await transport.connect(listener.address);
    const total = 2 * BULK_REQUESTS_IN_PROGRESS_MAX;
    const calls: Array<Promise<Buffer>> = [];
    // In batches over several turns, so they reach the listener in several reads.
    for (let i = 0; i < total; i++) {
      calls.push(client.call(Buffer.from(String(i)), { timeoutMs: 30_000 }));
      if (i % 64 === 63) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await expect.poll(() => started).toBeGreaterThanOrEqual(BULK_REQUESTS_IN_PROGRESS_MAX);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(started).toBeLessThan(total);
    // Answering lets the rest in.
    const release = (): void => {
      for (const open of gates.splice(0)) open();
    };
    const releaser = setInterval(release, 1);
    try {
      const answers = await Promise.all(calls);
      answers.forEach((answer, i) => expect(answer.toString()).toBe(String(i)));
    } finally {
      clearInterval(releaser);
    }
    expect(started).toBe(total);
    client.close();
  });

  it('refuses a second session with the id of an open one', async () => {
    const listener = await listen();
    const first = await rawSession(listener, '5'.repeat(32));
    const second = await rawSocket(listener.address);
    sockets.push(second.socket);
    second.socket.write(frame(FrameType.HELLO, 0, Buffer.from('5'.repeat(32), 'hex')));
    await second.closed;
    expect(first.channel.closed).toBe(false);
  });

  it('rejects a connect to a port nobody listens on, and a malformed address', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const error = await expectCode(
      transport.connect(`127.0.0.1:${port}`, { timeoutMs: 2_000 }),
      ErrorCode.RPC_UNAVAILABLE,
    );
    expect(error.retryable).toBe(true);
    await expectCode(transport.connect('no-port-here'), ErrorCode.INVALID_ARGUMENT);
  });

  it('rejects a connect whose peer never answers the hello', async () => {
    const silent = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    await expectCode(transport.connect(`127.0.0.1:${port}`, { timeoutMs: 100 }), ErrorCode.RPC_UNAVAILABLE);
    const controller = new AbortController();
    const connecting = transport.connect(`127.0.0.1:${port}`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expectCode(connecting, ErrorCode.CANCELLED);
    for (const socket of sockets.splice(0)) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });
});

describe('TcpBulkTransport limits of the accepting side', () => {
  // Short limits so each is reached within a test; the listener sweeps every 50 ms (a quarter of 200).
  const limits = {
    sessionsMax: 6,
    sessionsPerPeerMax: 3,
    helloTimeoutMs: 200,
    idleTimeoutMs: 400,
    progressTimeoutMs: 300,
  };
  const transport = new TcpBulkTransport(limits);
  const listeners: BulkListener[] = [];
  const sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(listeners.splice(0).map((listener) => listener.close()));
  });

  async function listen(): Promise<BulkListener> {
    const listener = await transport.listen('127.0.0.1', 0);
    listeners.push(listener);
    return listener;
  }

  /** A raw connection from `localAddress` that sent a hello; resolves with whether it was acked. */
  async function helloFrom(listener: BulkListener, localAddress: string) {
    const { host, port } = parseHostPort(listener.address)!;
    const socket = net.connect({ host, port, localAddress });
    sockets.push(socket);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const sessionId = randomBytes(16);
    socket.write(frame(FrameType.HELLO, 0, sessionId));
    const answered = await Promise.race([
      closed.then(() => 'closed' as const),
      (async () => {
        while (Buffer.concat(chunks).length < FRAME_HEADER_BYTES) await new Promise((r) => setTimeout(r, 5));
        return 'answered' as const;
      })(),
    ]);
    const received = Buffer.concat(chunks);
    const acked = answered === 'answered' && received[3] === FrameType.HELLO_ACK;
    return { socket, closed, acked, received, sessionId: sessionId.toString('hex') };
  }

  it('refuses connections beyond the per-address and per-listener limits, saying why', async () => {
    const listener = await listen();
    const fromA = await Promise.all([1, 2, 3, 4].map(() => helloFrom(listener, '127.0.0.2')));
    expect(fromA.map((c) => c.acked).sort()).toEqual([false, true, true, true]);
    const refused = fromA.find((c) => !c.acked)!;
    expect(refused.received[3]).toBe(FrameType.ERROR);
    expect(refused.received.toString('utf8', FRAME_HEADER_BYTES + 4)).toMatch(/127\.0\.0\.2 holds the most sessions/);
    const fromB = await Promise.all([1, 2, 3].map(() => helloFrom(listener, '127.0.0.3')));
    expect(fromB.every((c) => c.acked)).toBe(true);
    // 6 held: a seventh from a third address is refused by the listener's own limit.
    expect((await helloFrom(listener, '127.0.0.4')).acked).toBe(false);
    // A slot freed is a slot to take.
    fromA.find((c) => c.acked)!.socket.destroy();
    await expect.poll(async () => (await helloFrom(listener, '127.0.0.4')).acked, { timeout: 5_000 }).toBe(true);
  });

  it('closes a connection with no hello, an idle session, and a frame that stalls', async () => {
    const listener = await listen();
    const { host, port } = parseHostPort(listener.address)!;
    const silent = net.connect({ host, port });
    sockets.push(silent);
    silent.on('error', () => {});
    await new Promise<void>((resolve) => silent.once('close', () => resolve()));

    const idle = await helloFrom(listener, '127.0.0.1');
    expect(idle.acked).toBe(true);
    await idle.closed;

    const stalled = await helloFrom(listener, '127.0.0.1');
    stalled.socket.write(encodeFrameHeader(FrameType.DATA, 1, 1000, 0));
    stalled.socket.write(Buffer.alloc(10));
    const server = await listener.channel(stalled.sessionId);
    const waiting = server.receive(1, { timeoutMs: 10_000 });
    await expectCode(waiting, ErrorCode.RPC_UNAVAILABLE);
    await stalled.closed;
  });

  it('keeps a session that is busy: a receive waiting, or frames that keep coming', async () => {
    const listener = await listen();
    const busy = await helloFrom(listener, '127.0.0.1');
    const server = await listener.channel(busy.sessionId);
    const waiting = server.receive(5, { timeoutMs: 10_000 });
    for (let i = 0; i < 8; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      busy.socket.write(frame(FrameType.DATA, 100 + i, Buffer.from('tick')));
    }
    expect(server.closed).toBe(false);
    busy.socket.write(frame(FrameType.DATA, 5, Buffer.from('done')));
    expect((await waiting).toString()).toBe('done');
  });

  it('closes a session whose peer reads nothing of what it is sent; the sends fail', async () => {
    const listener = await listen();
    const deaf = await helloFrom(listener, '127.0.0.1');
    deaf.socket.pause();
    const server = await listener.channel(deaf.sessionId);
    const payload = Buffer.alloc(16 * 1024 * 1024);
    const sends = [1, 2, 3, 4].map((id) => server.send(id, payload));
    for (const send of sends) await expectCode(send, ErrorCode.RPC_UNAVAILABLE);
    expect(server.closed).toBe(true);
  });

  it('refuses a version-1 hello (no credential) and a hello without a valid token', async () => {
    const listener = await listen();
    const { host, port } = parseHostPort(listener.address)!;
    const old = net.connect({ host, port });
    sockets.push(old);
    old.on('error', () => {});
    const oldHello = frame(FrameType.HELLO, 0, randomBytes(16));
    oldHello[2] = 1;
    old.write(oldHello);
    await new Promise<void>((resolve) => old.once('close', () => resolve()));

    const checked = new TcpBulkTransport({
      authenticate: (credential) => (credential === 'ok' ? ANONYMOUS_ADMIN : undefined),
    });
    const guarded = await checked.listen('127.0.0.1', 0);
    listeners.push(guarded);
    const refusal = await expectCode(
      new TcpBulkTransport({ credential: 'wrong' }).connect(guarded.address, { timeoutMs: 5_000 }),
      ErrorCode.UNAUTHENTICATED,
    );
    expect(refusal.message).toMatch(/credential is not valid/);
    const accepted = await new TcpBulkTransport({ credential: 'ok' }).connect(guarded.address, { timeoutMs: 5_000 });
    accepted.close();
  });
});
