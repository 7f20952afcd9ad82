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
