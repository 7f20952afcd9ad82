// Limits of the credential checks. Each bounds memory or work an unauthenticated caller can cause.

/** Longest bearer token accepted: a minted one is ~250 characters; anything far longer is refused unread. */
export const TOKEN_MAX_CHARS = 2048;
/** Longest user name a token may carry (bytes of UTF-8 are at most 4× this). */
export const TOKEN_USER_MAX_CHARS = 128;
/**
 * Verified tokens a server remembers, so a token already seen costs one Map lookup and no crypto.
 * A cluster has few distinct tokens (one per node, a handful of users); when full the cache starts over.
 */
export const VERIFIED_TOKENS_MAX = 4096;
