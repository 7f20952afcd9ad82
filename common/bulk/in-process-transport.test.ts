// The in-process transport passes the BulkTransport conformance suite, and keeps each transport
// instance's listeners to itself.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import { describeBulkTransportConformance, expectCode } from './testing/conformance.js';
import { InProcessBulkTransport } from './in-process-transport.js';

describeBulkTransportConformance('in-process', (options) => new InProcessBulkTransport(options));

describe('InProcessBulkTransport', () => {
  it('keeps listeners per transport instance', async () => {
    const a = new InProcessBulkTransport();
    const b = new InProcessBulkTransport();
    const listener = await a.listen('ignored', 0);
    expect(listener.address).toMatch(/^inproc:\d+$/);
    await expectCode(b.connect(listener.address), ErrorCode.RPC_UNAVAILABLE);
    const channel = await a.connect(listener.address);
    channel.close();
    await listener.close();
  });

  it('refuses an address already in use and an unknown address', async () => {
    const transport = new InProcessBulkTransport();
    const listener = await transport.listen('ignored', 7);
    expect(listener.address).toBe('inproc:7');
    await expectCode(transport.listen('ignored', 7), ErrorCode.RPC_UNAVAILABLE);
    await expectCode(transport.connect('inproc:999'), ErrorCode.RPC_UNAVAILABLE);
    await listener.close();
  });
});
