// What every call on the node:http2 transport shares: its deadline and abort signal, the response status as
// headers, trailers and RST_STREAM deliver it, and the decision of how the call ended. The listeners on an
// HTTP/2 stream are module functions shared by every stream; they find the call through a symbol property, so
// a call costs no closures.

import * as http2 from 'node:http2';
import { GrpcStatusError } from '../../errors';
import { timerDelay } from '../../timers';
import { MessageDecoder } from './decoder';
import type { Session } from './session';
import {
  STATUS_CANCELLED,
  STATUS_DEADLINE_EXCEEDED,
  STATUS_INTERNAL,
  STATUS_OK,
  STATUS_UNAVAILABLE,
  STATUS_UNKNOWN,
  decodeGrpcMessage,
  httpStatusToGrpc,
  isGrpcContentType,
  parseGrpcStatus,
  rstCodeToGrpc,
} from './wire';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** The transport as its calls see it. */
export interface CallHost {
  /** The transport was closed: calls still open end with CANCELLED. */
  readonly closed: boolean;
  /** Sends the call on a ready session, or queues it until one is ready. */
  dispatch(call: Call): void;
  /** Takes the call out of the queue of calls waiting for a connection (no-op if it is not there). */
  unqueue(call: Call): void;
  /** The UNAVAILABLE `sent: false` of a call that found no connection. */
  noConnection(fallback: string): GrpcStatusError;
}

const CALL: unique symbol = Symbol('etcd-apiv3.http2.call');
const SESSION: unique symbol = Symbol('etcd-apiv3.http2.session');
/** An HTTP/2 stream with its call and session attached (a retried call moves on; its old stream does not). */
type H2Stream = http2.ClientHttp2Stream & { [CALL]?: Call; [SESSION]?: Session };

/**
 * One call: where it runs, its deadline, and the response status as it arrives; it decodes its own messages.
 * The outcome is delivered once through `settle`: on the server's status, on a deadline (DEADLINE_EXCEEDED,
 * `localDeadline`), on an abort (the signal's reason, or CANCELLED for a stream), or when the connection
 * goes away (UNAVAILABLE; `sent: false` only when the server surely did not process the request).
 */
export abstract class Call extends MessageDecoder {
  stream: H2Stream | undefined = undefined;
  session: Session | undefined = undefined;
  /** The outcome is decided (settled, or about to be): nothing more is delivered. */
  done = false;
  private deadlineTimer: NodeJS.Timeout | undefined = undefined;
  private waitTimer: NodeJS.Timeout | undefined = undefined;
  private onAbort: (() => void) | undefined = undefined;
  // response state
  httpStatus = 0;
  contentType: string | undefined = undefined;
  /** The response headers say this is not a gRPC response: its body is ignored. */
  notGrpc = false;
  status = -1;
  rawMessage: string | undefined = undefined;
  streamError: Error | undefined = undefined;

  /** When the call is abandoned here: the earlier of `deadline` and the local-only deadline. */
  readonly expiry: number | undefined;

  constructor(
    readonly t: CallHost,
    readonly path: string,
    /** The deadline the server is told (grpc-timeout). */
    readonly deadline: number | undefined,
    localDeadline: number | undefined,
    readonly metadata: Readonly<Record<string, string>> | undefined,
    readonly signal: AbortSignal | undefined,
  ) {
    super();
    this.expiry = localDeadline === undefined || (deadline !== undefined && deadline <= localDeadline) ? deadline : localDeadline;
  }

  /** The HTTP/2 stream is open: send what there is to send. */
  abstract opened(stream: http2.ClientHttp2Stream): void;
  /** One whole response message (a view that stays valid). */
  abstract message(bytes: Buffer): void;
  /** Delivers the outcome, exactly once: null for OK, a GrpcStatusError, or an abort signal's reason. */
  abstract settle(err: unknown): void;
  /** The caller's signal fired. */
  abstract signalAborted(): void;
  /** Whether the call may be dispatched again after the server refused its stream. */
  retryRefused(): boolean {
    return false;
  }

  protected decoded(bytes: Buffer): boolean {
    this.message(bytes);
    return !this.done;
  }

  protected malformed(flag: number): void {
    this.abort(
      new GrpcStatusError(
        STATUS_INTERNAL,
        flag & 1 ? 'server sent a compressed message, but no compression was negotiated' : `malformed message prefix (flag ${flag})`,
      ),
    );
  }

  /**
   * Arms the deadline and the abort signal before the first dispatch. False when the deadline has passed
   * already (the call is settled then).
   */
  arm(): boolean {
    const expiry = this.expiry;
    if (expiry !== undefined) {
      const ms = expiry - Date.now();
      if (ms <= 0) {
        this.deadlineExceeded();
        return false;
      }
      this.deadlineTimer = setTimeout(onDeadline, timerDelay(ms), this);
    }
    const signal = this.signal;
    if (signal !== undefined) {
      const onAbort = () => this.signalAborted();
      this.onAbort = onAbort;
      signal.addEventListener('abort', onAbort, { once: true });
    }
    return true;
  }

  /** Queued for a connection: the wait ends after `ms` with UNAVAILABLE `sent: false`. */
  startWaiting(ms: number): void {
    this.waitTimer = setTimeout(onWaitTimeout, ms, this);
  }

  /** Leaves the queue for a session. */
  stopWaiting(): void {
    if (this.waitTimer !== undefined) {
      clearTimeout(this.waitTimer);
      this.waitTimer = undefined;
    }
  }

  /** Runs the call on `stream`, opened for it on `session`. */
  bind(stream: http2.ClientHttp2Stream, session: Session): void {
    const s: H2Stream = stream;
    this.session = session;
    this.stream = s;
    s[CALL] = this;
    s[SESSION] = session;
    s.on('response', onStreamResponse);
    s.on('trailers', onStreamTrailers);
    s.on('data', onStreamData);
    s.on('end', onStreamEnd);
    s.on('error', onStreamError);
    s.on('close', onStreamClose);
    this.opened(s);
  }

  private resetResponse(): void {
    this.stream = undefined;
    this.session = undefined;
    this.httpStatus = 0;
    this.contentType = undefined;
    this.notGrpc = false;
    this.status = -1;
    this.rawMessage = undefined;
    this.streamError = undefined;
    this.resetDecoder();
  }

  /** Ends the call now with `err` (RST_STREAM CANCEL if the stream is open). */
  abort(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.cleanup();
    const stream = this.stream;
    if (stream !== undefined) stream.close(NGHTTP2_CANCEL);
    else this.t.unqueue(this);
    this.settle(err);
  }

  private cleanup(): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    if (this.onAbort !== undefined) this.signal!.removeEventListener('abort', this.onAbort);
    this.deadlineTimer = this.waitTimer = this.onAbort = undefined;
  }

  /** The deadline timer fired. Far deadlines are re-armed when the capped timer fires (src/timers.ts). */
  deadlineFired(): void {
    const left = this.expiry! - Date.now();
    if (left > 0) {
      this.deadlineTimer = setTimeout(onDeadline, timerDelay(left), this);
      return;
    }
    this.deadlineExceeded();
  }

  /** The wait for a connection timed out. */
  waitTimedOut(): void {
    this.waitTimer = undefined;
    this.t.unqueue(this);
    this.abort(this.t.noConnection('no endpoint became ready within 5 s'));
  }

  deadlineExceeded(): void {
    this.deadlineTimer = undefined;
    this.abort(new GrpcStatusError(STATUS_DEADLINE_EXCEEDED, 'Deadline exceeded', undefined, true));
  }

  /** The HTTP/2 stream closed: decide the outcome from what arrived. */
  streamClosed(rstCode: number): void {
    let err: GrpcStatusError | null;
    if (this.status >= 0) {
      if (this.status === STATUS_OK) {
        err = this.partial ? new GrpcStatusError(STATUS_INTERNAL, 'the server ended the stream inside a message') : null;
      } else {
        err = new GrpcStatusError(
          this.status,
          this.rawMessage === undefined ? '' : decodeGrpcMessage(this.rawMessage),
          undefined,
          this.status === STATUS_DEADLINE_EXCEEDED && this.deadline !== undefined,
        );
      }
    } else {
      err = this.missingStatus(rstCode);
      if (err.sent === false && this.retryRefused()) {
        this.resetResponse();
        this.t.dispatch(this);
        return;
      }
    }
    if (err !== null && this.deadline !== undefined && Date.now() >= this.deadline && !(err.code === STATUS_DEADLINE_EXCEEDED && err.localDeadline)) {
      // The server's own deadline (from grpc-timeout) fired no earlier than ours, but its answer can overtake
      // our timer on a busy event loop: whatever it says, the call ran out of time.
      err = new GrpcStatusError(STATUS_DEADLINE_EXCEEDED, 'Deadline exceeded', undefined, true);
    }
    this.done = true;
    this.cleanup();
    this.settle(err);
  }

  /** The stream ended without a gRPC status: why? */
  private missingStatus(rstCode: number): GrpcStatusError {
    if (this.t.closed) return new GrpcStatusError(STATUS_CANCELLED, 'Cancelled on client');
    if (rstCode === NGHTTP2_REFUSED_STREAM && this.httpStatus === 0) {
      // The server promises it did not process a refused stream (also what GOAWAY does to streams above its
      // last stream id): the request surely had no effect.
      return new GrpcStatusError(STATUS_UNAVAILABLE, `stream refused by ${this.session!.ep.name}`, false);
    }
    const s = this.session!;
    if (s.h2.destroyed || s.h2.closed || s.reason !== undefined) {
      // The connection went away with the call on it. Whether the request reached etcd is unknown: `sent`
      // stays undefined, so a write is never retried.
      const why = s.reason ?? this.streamError?.message ?? 'connection closed';
      return new GrpcStatusError(STATUS_UNAVAILABLE, `connection to ${s.ep.name} lost: ${why}`);
    }
    if (this.httpStatus !== 0 && this.httpStatus !== 200) {
      return new GrpcStatusError(httpStatusToGrpc(this.httpStatus), `Received HTTP status code ${this.httpStatus}`);
    }
    if (this.notGrpc) {
      return new GrpcStatusError(STATUS_UNKNOWN, `Received unexpected content-type ${JSON.stringify(this.contentType ?? '')}`);
    }
    const { code, details } = rstCodeToGrpc(rstCode);
    return new GrpcStatusError(code, details);
  }
}

// Timer callbacks take the call as an argument: no closure per timer.

function onDeadline(call: Call): void {
  call.deadlineFired();
}

function onWaitTimeout(call: Call): void {
  call.waitTimedOut();
}

// Listeners shared by every stream (`this` is the stream).

function onStreamResponse(this: H2Stream, headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
  const call = this[CALL]!;
  call.httpStatus = headers[':status'] ?? 0;
  const gs = headers['grpc-status'];
  if (gs !== undefined) {
    // Trailers-only response: the status comes with the headers.
    call.status = parseGrpcStatus(gs);
    call.rawMessage = headers['grpc-message'] as string | undefined;
  } else {
    const ct = headers['content-type'];
    if (call.httpStatus !== 200 || !isGrpcContentType(ct)) {
      // Not a gRPC response (a proxy's error page, a wrong server): its body is not framed messages.
      call.contentType = ct ?? '';
      call.notGrpc = true;
    }
  }
}

function onStreamTrailers(this: H2Stream, trailers: http2.IncomingHttpHeaders): void {
  const call = this[CALL]!;
  const gs = trailers['grpc-status'];
  if (gs !== undefined) {
    call.status = parseGrpcStatus(gs);
    call.rawMessage = trailers['grpc-message'] as string | undefined;
  }
}

function onStreamData(this: H2Stream, chunk: Buffer): void {
  const call = this[CALL]!;
  if (!call.done && !call.notGrpc) call.decode(chunk);
}

function onStreamError(this: H2Stream, err: Error): void {
  this[CALL]!.streamError = err;
}

/**
 * The server's side ended (END_STREAM) and every message was delivered: the call is over even if our side
 * is still open (a bidi stream the server finished), so it is decided here and our side is reset.
 */
function onStreamEnd(this: H2Stream): void {
  const call = this[CALL]!;
  if (call.done || call.stream !== this) return;
  call.streamClosed(0);
  if (!this.writableEnded) this.close(NGHTTP2_NO_ERROR);
}

function onStreamClose(this: H2Stream): void {
  const call = this[CALL]!;
  this[SESSION]!.release(this);
  if (!call.done && call.stream === this) call.streamClosed(this.rstCode ?? 0);
}
