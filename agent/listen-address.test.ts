// --listen parsing: TCP on loopback by default, unix sockets, and remote hosts only when allowed.
import { describe, expect, it } from 'vitest';
import { ErrorCode, SpindleError } from '../common/errors.js';
import { formatListenAddress, isLoopbackHost, parseListenAddress } from './listen-address.js';

function refusal(text: string, allowRemote = false): SpindleError {
  try {
    parseListenAddress(text, allowRemote);
  } catch (err) {
    expect(err).toBeInstanceOf(SpindleError);
    expect((err as SpindleError).errorCode).toBe(ErrorCode.INVALID_ARGUMENT);
    return err as SpindleError;
  }
  throw new Error(`${text} was accepted`);
}

describe('parseListenAddress', () => {
  it('reads loopback TCP addresses, v4 and v6, and formats them back', () => {
    expect(parseListenAddress('127.0.0.1:0', false)).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('127.1.2.3:7600', false)).toEqual({ kind: 'tcp', host: '127.1.2.3', port: 7600 });
    expect(parseListenAddress('localhost:7600', false)).toEqual({ kind: 'tcp', host: 'localhost', port: 7600 });
    const v6 = parseListenAddress('[::1]:7600', false);
    expect(v6).toEqual({ kind: 'tcp', host: '::1', port: 7600 });
    expect(formatListenAddress(v6)).toBe('[::1]:7600');
    expect(formatListenAddress({ kind: 'tcp', host: '127.0.0.1', port: 5 })).toBe('127.0.0.1:5');
  });

  it('reads unix sockets with absolute paths only', () => {
    const unix = parseListenAddress('unix:/run/spindle/agent.sock', false);
    expect(unix).toEqual({ kind: 'unix', path: '/run/spindle/agent.sock' });
    expect(formatListenAddress(unix)).toBe('unix:/run/spindle/agent.sock');
    expect(refusal('unix:agent.sock').message).toMatch(/absolute socket path/);
  });

  it('refuses a non-loopback host unless remote access is allowed, and says how', () => {
    for (const text of ['0.0.0.0:7600', '10.1.2.3:7600', '[::]:7600', 'example.org:7600']) {
      expect(refusal(text).message).toMatch(/not a loopback address.*--allow-remote/);
    }
    expect(parseListenAddress('0.0.0.0:7600', true)).toEqual({ kind: 'tcp', host: '0.0.0.0', port: 7600 });
  });

  it('refuses malformed addresses and ports out of range, naming the flag', () => {
    for (const text of ['', '7600', '127.0.0.1', '127.0.0.1:', 'a b:1', '[::1:7600']) {
      expect(refusal(text).message).toMatch(/--listen must be HOST:PORT/);
    }
    expect(refusal('127.0.0.1:65536').message).toMatch(/--listen port must be a port/);
  });

  it('knows loopback hosts', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
    expect(isLoopbackHost('128.0.0.1')).toBe(false);
    expect(isLoopbackHost('127.example.org')).toBe(false);
  });
});
