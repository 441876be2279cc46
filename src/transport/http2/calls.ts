// The two kinds of call on the node:http2 transport: unary (one request, one response, sent again at once
// when the server refused its stream) and streaming (server-streaming or bidirectional).

import type * as http2 from 'node:http2';
import { GrpcStatusError } from '../../errors';
import { frameRequest } from '../framing';
import type { CallOptions, MethodDescriptor, StreamCall, StreamHandlers } from '../transport';
import { Call, type CallHost } from './call';
import { STATUS_CANCELLED, STATUS_INTERNAL, messageOf } from './wire';

/** How often a unary call refused by the server (REFUSED_STREAM: never processed) is sent again at once. */
const MAX_TRANSPARENT_RETRIES = 2;

/** A unary call: resolves with the one response, or rejects with a GrpcStatusError or the signal's reason. */
export class UnaryCall<Req, Res> extends Call {
  private response: Res | undefined = undefined;
  private received = false;
  private retries = 0;

  constructor(
    t: CallHost,
    private readonly method: MethodDescriptor<Req, Res>,
    private readonly frame: Buffer,
    options: CallOptions,
    private readonly resolve: (value: Res) => void,
    private readonly reject: (reason: unknown) => void,
  ) {
    super(t, method.path, options.deadline, options.localDeadline, options.metadata, options.signal);
  }

  opened(stream: http2.ClientHttp2Stream): void {
    stream.end(this.frame);
  }

  message(bytes: Buffer): void {
    if (this.received) {
      this.abort(new GrpcStatusError(STATUS_INTERNAL, 'the server sent more than one response to a unary call'));
      return;
    }
    this.received = true;
    try {
      this.response = this.method.responseDeserialize(bytes);
    } catch (e) {
      this.abort(new GrpcStatusError(STATUS_INTERNAL, `Response message parsing error: ${messageOf(e)}`));
    }
  }

  signalAborted(): void {
    this.abort(this.signal!.reason);
  }

  override retryRefused(): boolean {
    return this.retries++ < MAX_TRANSPARENT_RETRIES && !this.t.closed;
  }

  settle(err: unknown): void {
    if (err !== null) this.reject(err);
    else if (!this.received) this.reject(new GrpcStatusError(STATUS_INTERNAL, 'the server sent no response message'));
    else this.resolve(this.response as Res);
  }
}

function deliverClose(handlers: StreamHandlers<unknown>, err: GrpcStatusError | null): void {
  handlers.onClose(err);
}

/**
 * A streaming call: messages go to `handlers.onMessage`, the end to `handlers.onClose` (once, on a later tick).
 * Writes before the stream is open are queued; a signal's abort cancels it (CANCELLED).
 */
export class StreamingCall<Req, Res> extends Call implements StreamCall<Req> {
  /** Messages written before the stream opened. */
  private queue: Buffer[] | undefined = undefined;
  private ended = false;

  constructor(
    t: CallHost,
    private readonly method: MethodDescriptor<Req, Res>,
    options: CallOptions,
    private readonly handlers: StreamHandlers<Res>,
    /** The framed request of a server-streaming call. */
    private readonly request: Buffer | undefined,
  ) {
    super(t, method.path, options.deadline, undefined, options.metadata, options.signal);
  }

  write(message: Req): void {
    if (this.done || this.ended || this.request !== undefined) return;
    let frame: Buffer;
    try {
      frame = frameRequest(this.method, message);
    } catch (e) {
      this.abort(new GrpcStatusError(STATUS_INTERNAL, `Request message serialization failure: ${messageOf(e)}`));
      return;
    }
    if (this.stream !== undefined) this.stream.write(frame);
    else (this.queue ??= []).push(frame);
  }

  end(): void {
    if (this.done || this.ended) return;
    this.ended = true;
    if (this.stream !== undefined && this.request === undefined) this.stream.end();
  }

  cancel(): void {
    this.abort(new GrpcStatusError(STATUS_CANCELLED, 'Cancelled on client'));
  }

  signalAborted(): void {
    this.cancel();
  }

  /** Ends a call that never started (transport closed, request not serializable) with `err`. */
  failEarly(err: GrpcStatusError): void {
    this.done = true;
    this.settle(err);
  }

  opened(stream: http2.ClientHttp2Stream): void {
    if (this.request !== undefined) {
      stream.end(this.request);
      return;
    }
    const queue = this.queue;
    if (queue !== undefined) {
      this.queue = undefined;
      for (const frame of queue) stream.write(frame);
    }
    if (this.ended) stream.end();
  }

  message(bytes: Buffer): void {
    let m: Res;
    try {
      m = this.method.responseDeserialize(bytes);
    } catch (e) {
      this.abort(new GrpcStatusError(STATUS_INTERNAL, `Response message parsing error: ${messageOf(e)}`));
      return;
    }
    this.handlers.onMessage(m);
  }

  /**
   * Always on a later tick, like grpc-js: onClose never runs inside stream(), write() or cancel(), so a caller
   * never sees its stream closed before it holds it.
   */
  settle(err: unknown): void {
    this.queue = undefined;
    process.nextTick(deliverClose, this.handlers, err);
  }
}
