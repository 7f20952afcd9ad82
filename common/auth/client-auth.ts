// The client half: every Spindle gRPC client is built with these channel options, which add
// `authorization: Bearer <token>` to each call (unary and streaming alike) through grpc-js's
// callInvocationTransformer — one metadata set per call, no interceptor chain.
import { type ChannelOptions, Metadata } from '@grpc/grpc-js';
import { CHANNEL_OPTIONS } from '../rpc.js';

/** The value of the authorization metadata for a token. */
function bearer(token: string): string {
  return `Bearer ${token}`;
}

/**
 * Options for a client that sends `token` on every call; CHANNEL_OPTIONS when there is none (a
 * cluster with authentication off). A fresh object each time: grpc-js removes the transformer from
 * the options it is given.
 */
export function channelOptionsWithToken(token: string | undefined): ChannelOptions {
  if (token === undefined) return CHANNEL_OPTIONS;
  const value = bearer(token);
  return {
    ...CHANNEL_OPTIONS,
    callInvocationTransformer: (properties: { metadata: Metadata }) => {
      properties.metadata.set('authorization', value);
      return properties;
    },
  };
}

/** Call metadata carrying `token`, for a raw call made without channelOptionsWithToken. */
export function tokenMetadata(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', bearer(token));
  return metadata;
}
