// A minimal Redis client over raw RESP2 on node:net for the kvcache bench (bench/kvcache.ts): no
// npm dependency, pipelined commands, binary-safe keys and values.
//
// Guarantees: replies come back in command order; a bulk reply is copied once, straight from the
// socket's chunks into a buffer of its announced length (never by concatenating what arrived so
// far, which is quadratic for large values); values are written to the socket as they are (the
// command's framing around them is a small string), so a put copies nothing in the client. An
// error reply of one command is returned as a RespError in its place; a closed or failed
// connection rejects every command in flight.
import { connect, type Socket } from 'node:net';

export class RespError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RespError';
  }
}

export type RespReply = string | number | Buffer | null | RespError | RespReply[];
type RespArg = string | number | Uint8Array;

const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/** Incremental RESP2 reply parser: push socket chunks in, whole replies come out in order. */
export class RespParser {
  private buffer: Buffer = EMPTY;
  private at = 0;
  /** A bulk string being filled from chunks, then the CRLF after it still to skip. */
  private bulk: { data: Buffer; filled: number; crlfLeft: number } | undefined;
  /** Arrays being filled, innermost last. */
  private readonly arrays: Array<{ items: RespReply[]; left: number }> = [];

  /**
   * `onReply` gets each whole reply; `bulkTarget(length)` may give the buffer a bulk string of that
   * length is read into (a view of its first `length` bytes becomes the value); when it gives none,
   * or one too small, a buffer is allocated.
   */
  constructor(
    private readonly onReply: (reply: RespReply) => void,
    private readonly bulkTarget: (length: number) => Buffer | undefined = () => undefined,
  ) {}

  push(chunk: Buffer): void {
    // What is left over is at most a partial header line or CRLF: a few bytes, never a value.
    this.buffer = this.at < this.buffer.length ? Buffer.concat([this.buffer.subarray(this.at), chunk]) : chunk;
    this.at = 0;
    for (;;) {
      if (this.bulk !== undefined && !this.fillBulk()) return;
      const end = this.buffer.indexOf(CRLF, this.at);
      if (end < 0) return;
      const type = this.buffer[this.at];
      const line = this.buffer.toString('latin1', this.at + 1, end);
      this.at = end + 2;
      switch (type) {
        case 0x2b: // '+'
          this.emit(line);
          break;
        case 0x2d: // '-'
          this.emit(new RespError(line));
          break;
        case 0x3a: // ':'
          this.emit(Number(line));
          break;
        case 0x24: {
          // '$'
          const length = Number(line);
          if (length < 0) this.emit(null);
          else {
            const target = this.bulkTarget(length);
            const fits = target !== undefined && target.length >= length;
            const data = fits ? target.subarray(0, length) : Buffer.allocUnsafe(length);
            this.bulk = { data, filled: 0, crlfLeft: 2 };
          }
          break;
        }
        case 0x2a: {
          // '*'
          const count = Number(line);
          if (count < 0) this.emit(null);
          else if (count === 0) this.emit([]);
          else this.arrays.push({ items: [], left: count });
          break;
        }
        default:
          throw new RespError(`unexpected RESP type byte ${type} in a reply`);
      }
    }
  }

  /** Copies what this chunk holds of the current bulk string; true once it and its CRLF are complete. */
  private fillBulk(): boolean {
    const bulk = this.bulk!;
    if (bulk.filled < bulk.data.length) {
      const take = Math.min(bulk.data.length - bulk.filled, this.buffer.length - this.at);
      this.buffer.copy(bulk.data, bulk.filled, this.at, this.at + take);
      bulk.filled += take;
      this.at += take;
      if (bulk.filled < bulk.data.length) return false;
    }
    const skip = Math.min(bulk.crlfLeft, this.buffer.length - this.at);
    bulk.crlfLeft -= skip;
    this.at += skip;
    if (bulk.crlfLeft > 0) return false;
    this.bulk = undefined;
    this.emit(bulk.data);
    return true;
  }

  private emit(reply: RespReply): void {
    let value = reply;
    for (;;) {
      const top = this.arrays[this.arrays.length - 1];
      if (top === undefined) {
        this.onReply(value);
        return;
      }
      top.items.push(value);
      if (--top.left > 0) return;
      this.arrays.pop();
      value = top.items;
    }
  }
}

/** One connection to a Redis server; commands are pipelined (sent without waiting for replies). */
export class RespClient {
  private readonly waiting: Array<{
    resolve: (r: RespReply) => void;
    reject: (e: Error) => void;
    /** Buffers the reply's bulk strings are read into, in order (each used when large enough). */
    into?: readonly Buffer[];
    bulks: number;
  }> = [];
  private failure: Error | undefined;

  private constructor(private readonly socket: Socket) {
    const parser = new RespParser(
      (reply) => this.waiting.shift()?.resolve(reply),
      () => {
        // Replies arrive in command order: the one being parsed belongs to the oldest command waiting.
        const head = this.waiting[0];
        return head?.into?.[head.bulks++];
      },
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        parser.push(chunk);
      } catch (err) {
        this.fail(err as Error);
      }
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('the Redis connection closed')));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RespClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Sends one command; resolves with its reply (an error reply rejects). */
  async call(...args: RespArg[]): Promise<RespReply> {
    const [reply] = await this.pipeline([args]);
    if (reply instanceof RespError) throw reply;
    return reply!;
  }

  /**
   * MGET of `keys`, each value read straight into its buffer of `into` (a found value is a view of
   * it, as a caller's pinned or pooled memory would receive it); null for a missing key.
   */
  async mgetInto(keys: readonly Uint8Array[], into: readonly Buffer[]): Promise<RespReply> {
    const [reply] = await this.pipeline([['MGET', ...keys]], [into]);
    if (reply instanceof RespError) throw reply;
    return reply!;
  }

  /** Sends the commands back to back and resolves with every reply in order (error replies in place). */
  pipeline(
    commands: readonly RespArg[][],
    into: ReadonlyArray<readonly Buffer[] | undefined> = [],
  ): Promise<RespReply[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const replies = commands.map(
      (_, i) =>
        new Promise<RespReply>((resolve, reject) => {
          this.waiting.push({ resolve, reject, into: into[i], bulks: 0 });
        }),
    );
    this.socket.cork();
    for (const args of commands) this.write(args);
    this.socket.uncork();
    return Promise.all(replies);
  }

  close(): void {
    this.socket.destroy();
  }

  private write(args: readonly RespArg[]): void {
    let head = `*${args.length}\r\n`;
    for (const arg of args) {
      if (typeof arg === 'string' || typeof arg === 'number') {
        const text = String(arg);
        head += `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
      } else {
        // A value goes to the socket as it is; only the framing around it is a string.
        this.socket.write(`${head}$${arg.byteLength}\r\n`);
        this.socket.write(arg);
        head = '\r\n';
      }
    }
    this.socket.write(head);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }
}
