// The public surface of common/bulk: the BulkTransport interface, its TCP and in-process
// implementations, their options and limits, and the conformance suite every implementation runs.
export type {
  BulkReceiveOptions,
  BulkCallOptions,
  BulkRequestHandler,
  BulkChannel,
  BulkListener,
  BulkTransport,
  DataTransport,
} from './transport.js';
export {
  BULK_FRAME_MAX_DEFAULT_BYTES,
  BULK_UNCLAIMED_MAX_DEFAULT_BYTES,
  BULK_UNCLAIMED_TTL_DEFAULT_MS,
  BULK_HELLO_TIMEOUT_MS,
  BULK_CONNECT_TIMEOUT_DEFAULT_MS,
  BULK_SESSIONS_MAX,
  BULK_READ_BUFFER_BYTES,
  BULK_ERROR_MESSAGE_MAX_BYTES,
  BULK_ABANDONED_ANSWERS_MAX,
  BULK_REQUESTS_IN_PROGRESS_MAX,
} from './constants.js';
export {
  type BulkTransportOptions,
  type ResolvedBulkOptions,
  SESSION_ID_BYTES,
  randomSessionId,
  isSessionId,
  resolveBulkOptions,
  encodeErrorAnswer,
  decodeErrorAnswer,
} from './options.js';
export { FrameInbox, FrameSink, type FrameInboxOptions } from './frame-inbox.js';
export {
  TcpBulkTransport,
  type TcpBulkTransportOptions,
  FRAME_MAGIC,
  FRAME_VERSION,
  FRAME_HEADER_BYTES,
  FrameType,
  encodeFrameHeader,
  parseHostPort,
  formatHostPort,
} from './tcp-transport.js';
export { InProcessBulkTransport } from './in-process-transport.js';
export { BulkSessionPool, type BulkSessionPoolOptions } from './session-pool.js';
