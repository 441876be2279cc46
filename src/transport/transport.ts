// The seam between the client layer and the wire. Everything above it (kv, lease, watch, ...) speaks in
// generated request/response objects; everything below it moves bytes. A second transport (node:http2) can
// be dropped in without touching the client layer.

import type { GrpcStatusError } from '../errors';

/**
 * One RPC of an etcd service: the shape ts-proto emits for `outputServices=grpc-js` (e.g. `KVService.range`),
 * reduced to what a client needs.
 */
export interface MethodDescriptor<Req, Res> {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (value: Req) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => Res;
}

export interface CallOptions {
  /** Absolute deadline in ms since the epoch, also sent to the server (`grpc-timeout`); undefined means none. */
  readonly deadline?: number | undefined;
  /**
   * A deadline of our own that the server is not told about (unary calls): past it the call is abandoned here
   * exactly as past `deadline` (code 4, `localDeadline`, the stream reset, which ends the server's work too).
   * The client's per-attempt deadline uses it: sending it would add a header to every read and have etcd
   * answer a moment before our timer in its own words.
   */
  readonly localDeadline?: number | undefined;
  /** Request metadata (e.g. the auth `token`). */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
  /** Cancels the call: a unary call rejects with the signal's reason, a stream is cancelled. */
  readonly signal?: AbortSignal | undefined;
}

export interface StreamHandlers<Res> {
  onMessage(message: Res): void;
  /**
   * Called exactly once when the stream is over: `null` for a clean end by the server, otherwise the
   * status. After `cancel()` it is called with CANCELLED.
   */
  onClose(error: GrpcStatusError | null): void;
}

/** The sending half of an open stream. All methods are safe to call after the stream closed (no-ops). */
export interface StreamCall<Req> {
  write(message: Req): void;
  /** Half-close: no more messages from us. */
  end(): void;
  /** Abort the stream (HTTP/2 RST_STREAM), so the server drops its state (watchers, observers). */
  cancel(): void;
}

export interface Transport {
  /** One request, one response. Rejects with GrpcStatusError (or the signal's reason when aborted). */
  unary<Req, Res>(method: MethodDescriptor<Req, Res>, request: Req, options: CallOptions): Promise<Res>;
  /**
   * Opens a stream: bidirectional, or server-streaming when `request` is given (`method.requestStream`
   * false). Failures arrive through `handlers.onClose`, never as exceptions.
   */
  stream<Req, Res>(
    method: MethodDescriptor<Req, Res>,
    options: CallOptions,
    handlers: StreamHandlers<Res>,
    request?: Req,
  ): StreamCall<Req>;
  /** Closes every connection. Idempotent. Calls in flight fail with UNAVAILABLE or CANCELLED. */
  close(): void;
}

/** What a transport needs to know to connect. */
export interface TransportConfig {
  readonly endpoints: readonly { host: string; port: number }[];
  readonly tls?:
    | {
        readonly ca?: Buffer | undefined;
        readonly cert?: Buffer | undefined;
        readonly key?: Buffer | undefined;
        readonly targetNameOverride?: string | undefined;
      }
    | undefined;
  readonly loadBalancer: 'round_robin' | 'pick_first';
  /** Extra channel options, passed through to the implementation. */
  readonly channelOptions?: Readonly<Record<string, string | number>> | undefined;
}

/**
 * HTTP/2 keepalive shared by both transports: a ping every 6 s while calls are open, answer expected within
 * 3 s, so a silent member is found within 9 s. etcd's `--grpc-keepalive-min-time` is 5 s: pinging more often
 * earns GOAWAY too_many_pings.
 */
export const KEEPALIVE_TIME_MS = 6_000;
export const KEEPALIVE_TIMEOUT_MS = 3_000;
export const KEEPALIVE_MIN_TIME_MS = 5_000;
