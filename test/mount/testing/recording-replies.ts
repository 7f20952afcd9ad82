// Drives a SpindleFuseFs in-process with a recording reply table instead of the kernel: each
// request resolves with the one reply it got (method and arguments), so a test can await what the
// kernel would have been told, errno included. A second reply to one request throws (the
// filesystem promises exactly one). Needs no /dev/fuse.
import type { FuseReplies, SpindleFuseFs } from '../../../mount/fuse-fs.js';
import type { FuseRequest } from '../../../mount/native.js';

interface Reply {
  method: string;
  args: unknown[];
}

/** Sends one FUSE request (defaults for every field the test leaves out) and awaits its reply. */
export type FuseCall = (op: number, args: Partial<FuseRequest>) => Promise<Reply>;

/** A SpindleFuseFs built on recording replies, and the function that sends it requests. */
export function recordingFuse(fs: (replies: FuseReplies) => SpindleFuseFs): FuseCall {
  const waiting = new Map<number, (reply: Reply) => void>();
  const record =
    (method: string) =>
    (req: number, ...args: unknown[]): any => {
      const resolve = waiting.get(req);
      if (resolve === undefined) throw new Error(`second reply to request ${req} (${method})`);
      waiting.delete(req);
      resolve({ method, args });
      if (method === 'replyDir') {
        const [size, , entries] = args as [number, boolean, Array<{ name: string }>];
        // Roughly what fuse_add_direntry packs: 24 bytes + name, 8-byte aligned.
        let used = 0;
        let packed = 0;
        for (const entry of entries) {
          const length = Math.ceil((24 + Buffer.byteLength(entry.name)) / 8) * 8;
          if (used + length > size) break;
          used += length;
          packed++;
        }
        (args as unknown[]).push(packed);
        return packed;
      }
      return undefined;
    };
  const replies: FuseReplies = {
    replyErr: record('replyErr'),
    replyEntry: record('replyEntry'),
    replyCreate: record('replyCreate'),
    replyAttr: record('replyAttr'),
    replyReadlink: record('replyReadlink'),
    replyOpen: record('replyOpen'),
    replyWrite: record('replyWrite'),
    replyXattrSize: record('replyXattrSize'),
    replyLock: record('replyLock'),
    interrupted: () => false,
    invalidateInode: () => false,
    replyBuf: record('replyBuf'),
    replyStatfs: record('replyStatfs'),
    replyDir: record('replyDir'),
  };
  const target = fs(replies);
  let nextReq = 1;
  return (op, args) => {
    const req = nextReq++;
    const answered = new Promise<Reply>((resolve) => waiting.set(req, resolve));
    target.handle(op, req, {
      ino: 0,
      size: 0,
      offset: 0,
      flags: 0,
      mode: 0,
      uid: 0,
      gid: 0,
      pid: 1,
      umask: 0o022,
      ...args,
    });
    return answered;
  };
}
