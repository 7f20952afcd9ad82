// The agent's limits, each with its unit and the reason for its value.

/**
 * Largest gRPC message the agent sends or receives, and the limit its clients should set: one
 * streamed Batch carries a rank's whole step (e.g. 256 images of 1 MiB), far above the 80 MiB
 * the cluster's own RPCs allow.
 */
export const AGENT_MESSAGE_MAX_BYTES = 256 * 1024 * 1024;

/** How long a stopping agent lets open calls finish before it cuts them. */
export const AGENT_STOP_GRACE_MS = 2_000;

/** How long the agent waits for the cluster at start before it gives up with a clear error. */
export const AGENT_CONNECT_TIMEOUT_MS = 30_000;

/** Where the agent listens unless told: any free port on loopback. */
export const AGENT_DEFAULT_LISTEN = '127.0.0.1:0';

/**
 * Checkpoint saves one agent keeps open at once (Begin without Finish or Abort yet): a trainer has
 * one per rank it serves; more means handles are leaking, and each holds a little memory until the
 * agent stops.
 */
export const AGENT_CHECKPOINT_SAVES_MAX = 4096;

/** Bytes per ShardData message of a ReadShard stream: small next to the message limit, large enough to stream fast. */
export const AGENT_SHARD_CHUNK_BYTES = 4 * 1024 * 1024;

/** Mode of the agent's Unix socket: only the user running the agent may connect (its callers' gate). */
export const AGENT_SOCKET_MODE = 0o600;
