// The bytes every bulk session of one transport (a node) holds that nobody has taken yet — unclaimed
// frames, frames arriving into the transport's own buffers, requests a handler works on — summed,
// against one budget (BULK_NODE_HELD_MAX_DEFAULT_BYTES).
//
// Guarantee: the sum never exceeds the budget. A session asking for more than is left makes room by
// closing the session that holds the most (itself, if that is it): a peer that pins memory loses
// its own session first, and sessions holding little — ordinary traffic — keep working.
import { ErrorCode, SpindleError, assert } from '../errors.js';

/** One session's side of the budget (a FrameInbox). */
export interface HeldBytesHolder {
  /** Bytes this session holds now. */
  readonly heldBytes: number;
  /** Names the session in messages. */
  readonly what: string;
  /** Closes the session for being over budget; everything it holds is released (synchronously). */
  evict(error: SpindleError): void;
}

export class NodeHeldBytes {
  private total = 0;
  private readonly holders = new Set<HeldBytesHolder>();

  constructor(readonly maxBytes: number) {}

  get totalBytes(): number {
    return this.total;
  }

  /**
   * Takes `bytes` for `holder`, closing the largest holders until they fit. False when `holder`
   * itself was closed to make room (it must not hold them).
   */
  reserve(holder: HeldBytesHolder, bytes: number): boolean {
    while (this.total + bytes > this.maxBytes) {
      let largest: HeldBytesHolder = holder;
      let largestBytes = holder.heldBytes + bytes;
      for (const other of this.holders) {
        if (other !== holder && other.heldBytes > largestBytes) {
          largest = other;
          largestBytes = other.heldBytes;
        }
      }
      const error = new SpindleError(
        ErrorCode.RPC_UNAVAILABLE,
        `${largest.what}: closed, it holds ${largestBytes} bytes of frames nobody took and the node's ` +
          `bulk sessions together may hold ${this.maxBytes}; send frames only for messages that follow them`,
      );
      largest.evict(error);
      if (largest === holder) return false;
      assert(!this.holders.has(largest), 'an evicted bulk session released what it held');
    }
    this.total += bytes;
    this.holders.add(holder);
    return true;
  }

  /** Gives back `bytes` of `holder`; `holder.heldBytes` is what it still holds after. */
  release(holder: HeldBytesHolder, bytes: number): void {
    this.total -= bytes;
    assert(this.total >= 0, 'bulk held bytes went negative');
    if (holder.heldBytes === 0) this.holders.delete(holder);
  }
}
