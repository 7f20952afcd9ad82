// Bulk sessions over TLS: with TLS configured for the process (common/tls.ts), the TCP bulk
// transport passes the whole BulkTransport conformance suite over TLS sockets; a peer that does
// not trust the server's CA cannot open a session, and one that speaks plain TCP gets nothing.
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { TcpBulkTransport } from '../../common/bulk/tcp-transport.js';
import { describeBulkTransportConformance } from '../../common/bulk/testing/conformance.js';
import { ErrorCode, SpindleError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { configureTls } from '../../common/tls.js';
import { makeTestCa } from './testing/test-ca.js';

const ca = makeTestCa();
configureTls({ certPath: ca.certPath, keyPath: ca.keyPath, caPath: ca.caPath }, {});
afterAll(() => ca.remove());

describeBulkTransportConformance('tcp over TLS', (options) => new TcpBulkTransport(options));

describe('bulk sessions over TLS', () => {
  it('a peer that does not trust the CA, or speaks plain TCP, opens no session', async () => {
    const server = new TcpBulkTransport({ logger: silentLogger() });
    const listener = await server.listen('127.0.0.1', 0);
    try {
      // Trusts another CA: the server's certificate does not check out.
      configureTls({ caPath: ca.otherCaPath }, {});
      const stranger = new TcpBulkTransport({ logger: silentLogger() });
      const err = await stranger.connect(listener.address, { timeoutMs: 10_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SpindleError);
      expect((err as SpindleError).errorCode).toBe(ErrorCode.RPC_UNAVAILABLE);
      expect((err as SpindleError).message).toMatch(/certificate/);

      // Plain TCP: the bytes of a hello are not a TLS handshake; the server closes the connection.
      const [host, port] = listener.address.split(':');
      const closed = await new Promise<boolean>((resolve) => {
        const socket = connect({ host, port: Number(port) }, () => socket.write(Buffer.alloc(64, 0x53)));
        socket.on('data', () => undefined);
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(true));
        setTimeout(() => resolve(false), 10_000).unref();
      });
      expect(closed).toBe(true);
    } finally {
      configureTls({ certPath: ca.certPath, keyPath: ca.keyPath, caPath: ca.caPath }, {});
      await listener.close();
    }
  });
});
