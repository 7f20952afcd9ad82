// The meta address list: parsing (an empty entry is refused, duplicates collapse) and failover (a
// failure of the current client moves to the next address, wrapping; a stale failure of a client
// already left behind does not move again; close() closes each client once).
import { describe, expect, it } from 'vitest';
import { ErrorCode } from './errors.js';
import { FailoverClients, parseAddressList } from './failover-clients.js';

class FakeClient {
  closed = 0;
  constructor(readonly address: string) {}
  close(): void {
    this.closed++;
  }
}

describe('parseAddressList', () => {
  it('splits, trims and de-duplicates a comma-separated list', () => {
    expect(parseAddressList('127.0.0.1:7400')).toEqual(['127.0.0.1:7400']);
    expect(parseAddressList(' a:1 , b:2,a:1')).toEqual(['a:1', 'b:2']);
  });

  it('refuses an empty entry with CONFIG_INVALID naming the flag', () => {
    for (const text of ['', 'a:1,', ',a:1', 'a:1,,b:2']) {
      expect(() => parseAddressList(text, 'SPINDLE_META')).toThrow(
        expect.objectContaining({
          errorCode: ErrorCode.CONFIG_INVALID,
          message: expect.stringContaining('SPINDLE_META'),
        }),
      );
    }
  });
});

describe('FailoverClients', () => {
  it('moves to the next address when the current client fails, wrapping around', () => {
    const clients = new FailoverClients(['a:1', 'b:2', 'c:3'], (address) => new FakeClient(address));
    expect(clients.currentAddress).toBe('a:1');
    const first = clients.current;
    clients.failed(first);
    expect(clients.current.address).toBe('b:2');
    // A late failure of a client already left behind does not skip b.
    clients.failed(first);
    expect(clients.current.address).toBe('b:2');
    clients.failed(clients.current);
    clients.failed(clients.current);
    expect(clients.current.address).toBe('a:1');
  });

  it('stays on a single address and closes every client once', () => {
    const made: FakeClient[] = [];
    const clients = new FailoverClients(['a:1'], (address) => {
      const client = new FakeClient(address);
      made.push(client);
      return client;
    });
    clients.failed(clients.current);
    expect(clients.current.address).toBe('a:1');
    clients.close();
    clients.close();
    expect(made.map((client) => client.closed)).toEqual([1]);
  });
});
