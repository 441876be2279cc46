// A lean gRPC client on Node's own node:http2: the same observable behaviour as the grpc-js transport at a
// fraction of its CPU per call. grpc-js runs every call through a resolver, a load-balancer tree, interceptor
// and filter stacks and several object-mode streams; a call here is one object, one HTTP/2 stream and a few
// shared (closure-free) listeners.
//
// Connections, per endpoint (state table):
//
//   IDLE ──connect()──▶ CONNECTING ──server SETTINGS──▶ READY ──error/close/GOAWAY──▶ IDLE (reconnect on demand)
//                           │ error, close, 5 s timeout
//                           ▼
//                        BACKOFF ──100 ms doubling to 1 s, ±20 %──▶ IDLE
//
// A connection is READY when the server's SETTINGS frame arrived, not when TCP connected: the kernel accepts
// connections for a stopped (SIGSTOP) etcd, and calls must not be routed there (grpc-js waits the same way).
// Connections are opened lazily (the first call connects). round_robin connects to every endpoint and
// rotates over the READY ones; pick_first connects in list order, one at a time, and uses the first that
// becomes READY until it fails. A call with no READY session waits while a connection attempt is under way
// (at most 5 s, or until its deadline); when every endpoint is backing off after failed attempts it fails at
// once with UNAVAILABLE `sent: false` (grpc-js's TRANSIENT_FAILURE), and the retry table decides.
//
// Keepalive: while a session carries at least one stream it is pinged every 6 s (never below etcd's 5 s
// minimum, or etcd answers GOAWAY too_many_pings); no ack within 3 s resets its streams and then the TCP
// connection, so a silent connection fails its calls with UNAVAILABLE (`sent` unknown). Idle sessions are neither pinged nor
// keep the process alive (unref), like a grpc-js channel.

import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { formatHostPort } from '../endpoints';
import { GrpcStatusError } from '../errors';
import { timerDelay } from '../timers';
import { trace } from '../trace';
import { KEEPALIVE_MIN_TIME_MS, KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS, type CallOptions, type MethodDescriptor, type StreamCall, type StreamHandlers, type Transport, type TransportConfig } from './transport';
import {
  STATUS_CANCELLED,
  STATUS_DEADLINE_EXCEEDED,
  STATUS_INTERNAL,
  STATUS_OK,
  STATUS_UNAVAILABLE,
  STATUS_UNKNOWN,
  decodeGrpcMessage,
  grpcTimeout,
  httpStatusToGrpc,
  isGrpcContentType,
  parseGrpcStatus,
  rstCodeToGrpc,
} from './http2-wire';
import { frameRequest } from './framing';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** Per-stream receive window: a 3 MiB range arrives without waiting for WINDOW_UPDATEs. */
const STREAM_WINDOW = 8 * 1024 * 1024;
/** Connection receive window, shared by all streams (watch catch-ups next to big ranges). */
const CONNECTION_WINDOW = 16 * 1024 * 1024;
/** nghttp2's memory budget per session, in MB (Node's default of 10 is tight for 256 busy streams). */
const MAX_SESSION_MEMORY_MB = 128;
const CONNECT_TIMEOUT_MS = 5_000;
/** How long a call waits for a connection at most (its deadline may end the wait earlier). */
const PENDING_TIMEOUT_MS = 5_000;
const INITIAL_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 1_000;
/** Client stream ids are odd 31-bit numbers: retire a session well before they run out. */
const MAX_STREAMS_PER_SESSION = 1_000_000_000;
/** How often a unary call refused by the server (REFUSED_STREAM: never processed) is sent again at once. */
const MAX_TRANSPARENT_RETRIES = 2;
const USER_AGENT = 'etcd-apiv3-http2/0.1';
/** Headers we set ourselves; user metadata may not override them. */
const RESERVED_HEADERS = new Set(['content-type', 'te', 'grpc-timeout', 'user-agent', 'grpc-encoding', 'grpc-accept-encoding']);

const IDLE = 0;
const CONNECTING = 1;
const READY = 2;
const BACKOFF = 3;
type EndpointState = typeof IDLE | typeof CONNECTING | typeof READY | typeof BACKOFF;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A configured endpoint: how to reach it, its header templates, and its current session. */
class Endpoint {
  state: EndpointState = IDLE;
  session: Session | undefined = undefined;
  backoffMs: number;
  backoffTimer: NodeJS.Timeout | undefined = undefined;
  lastError = '';
  readonly url: string;
  readonly name: string;
  /** `:authority`: host:port, or the TLS target name override. */
  readonly authority: string;
  readonly scheme: 'http' | 'https';
  readonly connectOptions: http2.ClientSessionOptions;
  /** TLS options for tls.connect, when the endpoint uses TLS. */
  readonly tlsOptions: tls.ConnectionOptions | undefined;
  /** Request headers per method path for calls without deadline or metadata: Node copies them, never mutates. */
  private readonly headerCache = new Map<string, http2.OutgoingHttpHeaders>();
  private readonly metadataCache = new WeakMap<object, Map<string, http2.OutgoingHttpHeaders>>();

  constructor(
    readonly index: number,
    readonly host: string,
    readonly port: number,
    config: TransportConfig,
    initialBackoffMs: number,
  ) {
    this.backoffMs = initialBackoffMs;
    const hostPort = formatHostPort({ host, port });
    const t = config.tls;
    const co = config.channelOptions;
    const override = t?.targetNameOverride ?? (typeof co?.['grpc.ssl_target_name_override'] === 'string' ? co['grpc.ssl_target_name_override'] : undefined);
    const defaultAuthority = typeof co?.['grpc.default_authority'] === 'string' ? co['grpc.default_authority'] : undefined;
    this.scheme = t ? 'https' : 'http';
    this.name = hostPort;
    this.url = `${this.scheme}://${hostPort}`;
    this.authority = defaultAuthority ?? override ?? hostPort;
    this.connectOptions = {
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    };
    if (t) {
      const checkName = override ?? host;
      const options: tls.ConnectionOptions = { ALPNProtocols: ['h2'] };
      if (t.ca) options.ca = t.ca;
      if (t.cert) options.cert = t.cert;
      if (t.key) options.key = t.key;
      // SNI carries a name, never an IP address (RFC 6066).
      if (override !== undefined || !net.isIP(host)) options.servername = override ?? host;
      options.checkServerIdentity = (_name, cert) => tls.checkServerIdentity(checkName, cert);
      this.tlsOptions = options;
    }
  }

  /**
   * The request headers of a call. The fixed part is cached per path, and per metadata object when that object
   * is frozen (the client's shared `hasleader` metadata): Node copies headers, it never mutates them.
   */
  headers(path: string, timeoutMs: number, metadata: Readonly<Record<string, string>> | undefined): http2.OutgoingHttpHeaders {
    let base: http2.OutgoingHttpHeaders | undefined;
    if (metadata === undefined) {
      base = this.headerCache.get(path);
      if (base === undefined) this.headerCache.set(path, (base = this.newHeaders(path, undefined)));
    } else if (Object.isFrozen(metadata)) {
      let byPath = this.metadataCache.get(metadata);
      if (byPath === undefined) this.metadataCache.set(metadata, (byPath = new Map()));
      base = byPath.get(path);
      if (base === undefined) byPath.set(path, (base = this.newHeaders(path, metadata)));
    } else {
      base = this.newHeaders(path, metadata);
      if (timeoutMs >= 0) base['grpc-timeout'] = grpcTimeout(timeoutMs);
      return base;
    }
    return timeoutMs < 0 ? base : { ...base, 'grpc-timeout': grpcTimeout(timeoutMs) };
  }

  private newHeaders(path: string, metadata: Readonly<Record<string, string>> | undefined): http2.OutgoingHttpHeaders {
    const h: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':scheme': this.scheme,
      ':authority': this.authority,
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': USER_AGENT,
    };
    if (metadata !== undefined) {
      for (const key in metadata) {
        const k = key.toLowerCase();
        if (k.charCodeAt(0) === 58 /* ':' */ || RESERVED_HEADERS.has(k)) continue;
        h[k] = metadata[key];
      }
    }
    return h;
  }
}

/** One HTTP/2 connection to an endpoint. */
class Session {
  /** Streams open on it; the session holds the process open (ref) only while there are any. */
  readonly streams = new Set<http2.ClientHttp2Stream>();
  opened = 0;
  ready = false;
  /** Takes no new calls (failed, closing, or told to GOAWAY); streams already on it may still finish. */
  retired = false;
  connectTimer: NodeJS.Timeout | undefined = undefined;
  keepaliveTimer: NodeJS.Timeout | undefined = undefined;
  pingTimer: NodeJS.Timeout | undefined = undefined;
  /** Why the session is going away, for the calls it takes down. */
  reason: string | undefined = undefined;

  constructor(
    readonly ep: Endpoint,
    readonly h2: http2.ClientHttp2Session,
    /** The TCP socket under the session (under TLS too), so a dead connection can be reset (RST). */
    readonly tcp: net.Socket,
  ) {}

  clearTimers(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    if (this.keepaliveTimer !== undefined) clearInterval(this.keepaliveTimer);
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    this.connectTimer = this.keepaliveTimer = this.pingTimer = undefined;
  }
}

// ---- calls -------------------------------------------------------------------------------------------

const CALL: unique symbol = Symbol('etcd-apiv3.http2.call');
const SESSION: unique symbol = Symbol('etcd-apiv3.http2.session');
/** An HTTP/2 stream with its call and session attached (a retried call moves on; its old stream does not). */
type H2Stream = http2.ClientHttp2Stream & { [CALL]?: Call; [SESSION]?: Session };

/**
 * What unary calls and streams share: where the call runs, its deadline, the response status as it arrives,
 * and the message decoder. Listeners on the HTTP/2 stream are shared module functions that find the call
 * through a symbol property, so a call costs no closures.
 */
abstract class Call {
  stream: H2Stream | undefined = undefined;
  session: Session | undefined = undefined;
  /** The outcome is decided (settled, or about to be): nothing more is delivered. */
  done = false;
  deadlineTimer: NodeJS.Timeout | undefined = undefined;
  waitTimer: NodeJS.Timeout | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  // response state
  httpStatus = 0;
  contentType: string | undefined = undefined;
  /** The response headers say this is not a gRPC response: its body is ignored. */
  notGrpc = false;
  status = -1;
  rawMessage: string | undefined = undefined;
  streamError: Error | undefined = undefined;
  // message decoder: a 5-byte prefix split over chunks is gathered in `prefix`; a body split over chunks is
  // copied once into `body` (allocated at its final size), so reassembly is linear in the bytes received.
  private prefix: Buffer | undefined = undefined;
  private prefixGot = 0;
  private body: Buffer | undefined = undefined;
  private bodyGot = 0;

  /** When the call is abandoned here: the earlier of `deadline` and the local-only deadline. */
  readonly expiry: number | undefined;

  constructor(
    readonly t: Http2Transport,
    readonly path: string,
    /** The deadline the server is told (grpc-timeout). */
    readonly deadline: number | undefined,
    localDeadline: number | undefined,
    readonly metadata: Readonly<Record<string, string>> | undefined,
    readonly signal: AbortSignal | undefined,
  ) {
    this.expiry = localDeadline === undefined || (deadline !== undefined && deadline <= localDeadline) ? deadline : localDeadline;
  }

  /** The HTTP/2 stream is open: send what there is to send. */
  abstract opened(stream: H2Stream): void;
  /** One whole response message (a view that stays valid). */
  abstract message(bytes: Buffer): void;
  /** Delivers the outcome, exactly once: null for OK, a GrpcStatusError, or an abort signal's reason. */
  abstract settle(err: unknown): void;
  /** Whether the call may be dispatched again after the server refused its stream. */
  retryRefused(): boolean {
    return false;
  }

  onData(chunk: Buffer): void {
    const n = chunk.length;
    let off = 0;
    while (off < n && !this.done) {
      const body = this.body;
      if (body === undefined) {
        let len: number;
        if (this.prefixGot === 0 && n - off >= 5) {
          if (chunk[off] !== 0) return this.protocolError(chunk[off]!);
          len = chunk.readUInt32BE(off + 1);
          off += 5;
        } else {
          const prefix = (this.prefix ??= Buffer.allocUnsafe(5));
          const take = Math.min(5 - this.prefixGot, n - off);
          chunk.copy(prefix, this.prefixGot, off, off + take);
          this.prefixGot += take;
          off += take;
          if (this.prefixGot < 5) return;
          this.prefixGot = 0;
          if (prefix[0] !== 0) return this.protocolError(prefix[0]!);
          len = prefix.readUInt32BE(1);
        }
        if (n - off >= len) {
          const msg = chunk.subarray(off, off + len);
          off += len;
          this.message(msg);
        } else {
          const b = Buffer.allocUnsafe(len);
          chunk.copy(b, 0, off, n);
          this.body = b;
          this.bodyGot = n - off;
          return;
        }
      } else {
        const take = Math.min(body.length - this.bodyGot, n - off);
        chunk.copy(body, this.bodyGot, off, off + take);
        this.bodyGot += take;
        off += take;
        if (this.bodyGot === body.length) {
          this.body = undefined;
          this.message(body);
        }
      }
    }
  }

  private protocolError(flag: number): void {
    this.abort(
      new GrpcStatusError(
        STATUS_INTERNAL,
        flag & 1 ? 'server sent a compressed message, but no compression was negotiated' : `malformed message prefix (flag ${flag})`,
      ),
    );
  }

  /** True when the server's data ended inside a message. */
  get partial(): boolean {
    return this.body !== undefined || this.prefixGot !== 0;
  }

  resetResponse(): void {
    this.stream = undefined;
    this.session = undefined;
    this.httpStatus = 0;
    this.contentType = undefined;
    this.notGrpc = false;
    this.status = -1;
    this.rawMessage = undefined;
    this.streamError = undefined;
    this.prefixGot = 0;
    this.body = undefined;
  }

  /** Ends the call now with `err` (RST_STREAM CANCEL if the stream is open). */
  abort(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.cleanup();
    const stream = this.stream;
    if (stream !== undefined) stream.close(NGHTTP2_CANCEL);
    else this.t.pending.delete(this);
    this.settle(err);
  }

  cleanup(): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    if (this.onAbort !== undefined) this.signal!.removeEventListener('abort', this.onAbort);
    this.deadlineTimer = this.waitTimer = this.onAbort = undefined;
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

// Far deadlines are re-armed when the capped timer fires (src/timers.ts).

function onDeadline(call: Call): void {
  const left = call.expiry! - Date.now();
  if (left > 0) {
    call.deadlineTimer = setTimeout(onDeadline, timerDelay(left), call);
    return;
  }
  call.deadlineExceeded();
}

function onWaitTimeout(call: Call): void {
  call.waitTimer = undefined;
  call.t.pending.delete(call);
  call.abort(call.t.noConnection('no endpoint became ready within 5 s'));
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
  if (!call.done && !call.notGrpc) call.onData(chunk);
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
  call.t.release(this[SESSION]!, this);
  if (!call.done && call.stream === this) call.streamClosed(this.rstCode ?? 0);
}

class UnaryCall<Req, Res> extends Call {
  private response: Res | undefined = undefined;
  private received = false;
  private retries = 0;

  constructor(
    t: Http2Transport,
    private readonly method: MethodDescriptor<Req, Res>,
    private readonly frame: Buffer,
    options: CallOptions,
    private readonly resolve: (value: Res) => void,
    private readonly reject: (reason: unknown) => void,
  ) {
    super(t, method.path, options.deadline, options.localDeadline, options.metadata, options.signal);
  }

  opened(stream: H2Stream): void {
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

class StreamingCall<Req, Res> extends Call implements StreamCall<Req> {
  /** Messages written before the stream opened. */
  private queue: Buffer[] | undefined = undefined;
  private ended = false;

  constructor(
    t: Http2Transport,
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

  opened(stream: H2Stream): void {
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

// ---- the transport -----------------------------------------------------------------------------------

function numberOption(config: TransportConfig, name: string, fallback: number): number {
  const v = config.channelOptions?.[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

function keepaliveTick(t: Http2Transport, s: Session): void {
  t.keepalive(s);
}

function onPingTimeout(t: Http2Transport, s: Session): void {
  s.pingTimer = undefined;
  t.pingTimedOut(s);
}

function onBackoffDone(t: Http2Transport, ep: Endpoint): void {
  ep.backoffTimer = undefined;
  t.backoffDone(ep);
}

function ignore(): void {}

function resetSession(s: Session): void {
  if (!s.tcp.destroyed) s.tcp.resetAndDestroy();
  if (!s.h2.destroyed) s.h2.destroy();
}

function destroySocket(tcp: net.Socket): void {
  tcp.destroy();
}

function onConnectTimeout(t: Http2Transport, s: Session): void {
  s.connectTimer = undefined;
  t.connectTimedOut(s);
}

export class Http2Transport implements Transport {
  closed = false;
  /** Calls waiting for a ready session, in arrival order. */
  readonly pending = new Set<Call>();
  private readonly endpoints: Endpoint[];
  /** READY sessions in endpoint order. */
  private readonly ready: Session[] = [];
  /** Every session not yet closed (retired ones may still carry streams). */
  private readonly sessions = new Set<Session>();
  private readonly pickFirst: boolean;
  private rr = 0;
  private idleCount: number;
  /** The most recent connection failure, for the message of calls that found no connection. */
  private lastError = '';
  private readonly keepaliveMs: number;
  private readonly keepaliveTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(config: TransportConfig) {
    if (config.endpoints.length === 0) throw new TypeError('at least one endpoint is required');
    this.pickFirst = config.loadBalancer === 'pick_first';
    const ka = numberOption(config, 'grpc.keepalive_time_ms', KEEPALIVE_TIME_MS);
    this.keepaliveMs = ka <= 0 ? 0 : Math.max(KEEPALIVE_MIN_TIME_MS, ka);
    this.keepaliveTimeoutMs = Math.max(1, numberOption(config, 'grpc.keepalive_timeout_ms', KEEPALIVE_TIMEOUT_MS));
    this.initialBackoffMs = Math.max(1, numberOption(config, 'grpc.initial_reconnect_backoff_ms', INITIAL_BACKOFF_MS));
    this.maxBackoffMs = Math.max(this.initialBackoffMs, numberOption(config, 'grpc.max_reconnect_backoff_ms', MAX_BACKOFF_MS));
    this.endpoints = config.endpoints.map((e, i) => new Endpoint(i, e.host, e.port, config, this.initialBackoffMs));
    this.idleCount = this.endpoints.length;
  }

  unary<Req, Res>(method: MethodDescriptor<Req, Res>, request: Req, options: CallOptions): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      if (this.closed) return reject(new GrpcStatusError(STATUS_UNAVAILABLE, 'transport is closed', false));
      const signal = options.signal;
      if (signal?.aborted) return reject(signal.reason);
      let frame: Buffer;
      try {
        frame = frameRequest(method, request);
      } catch (e) {
        return reject(new GrpcStatusError(STATUS_INTERNAL, `Request message serialization failure: ${messageOf(e)}`, false));
      }
      this.start(new UnaryCall(this, method, frame, options, resolve, reject));
    });
  }

  stream<Req, Res>(method: MethodDescriptor<Req, Res>, options: CallOptions, handlers: StreamHandlers<Res>, request?: Req): StreamCall<Req> {
    let frame: Buffer | undefined;
    let early: GrpcStatusError | undefined;
    if (this.closed) early = new GrpcStatusError(STATUS_UNAVAILABLE, 'transport is closed', false);
    else if (!method.requestStream) {
      try {
        frame = frameRequest(method, request as Req);
      } catch (e) {
        early = new GrpcStatusError(STATUS_INTERNAL, `Request message serialization failure: ${messageOf(e)}`, false);
      }
    }
    const call = new StreamingCall(this, method, options, handlers, frame);
    if (early !== undefined) {
      call.done = true;
      call.settle(early);
    } else if (options.signal?.aborted) {
      call.cancel();
    } else {
      this.start(call);
    }
    return call;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const cancelled = new GrpcStatusError(STATUS_CANCELLED, 'Cancelled on client');
    for (const call of this.pending) call.abort(cancelled);
    this.pending.clear();
    for (const ep of this.endpoints) {
      if (ep.backoffTimer !== undefined) clearTimeout(ep.backoffTimer);
      ep.backoffTimer = undefined;
      ep.session = undefined;
    }
    this.ready.length = 0;
    // Destroying a session closes its streams; their calls end with CANCELLED (see Call.missingStatus).
    for (const s of this.sessions) {
      s.clearTimers();
      s.retired = true;
      s.h2.destroy();
    }
    this.sessions.clear();
    trace('http2', 'transport closed');
  }

  // ---- dispatching calls ----

  private start(call: Call): void {
    const expiry = call.expiry;
    if (expiry !== undefined) {
      const ms = expiry - Date.now();
      if (ms <= 0) {
        call.deadlineExceeded();
        return;
      }
      call.deadlineTimer = setTimeout(onDeadline, timerDelay(ms), call);
    }
    const signal = call.signal;
    if (signal !== undefined) {
      const onAbort = call instanceof StreamingCall ? () => call.cancel() : () => call.abort(signal.reason);
      call.onAbort = onAbort;
      signal.addEventListener('abort', onAbort, { once: true });
    }
    this.dispatch(call);
  }

  /** Sends the call on a ready session, or parks it until one is ready. */
  dispatch(call: Call): void {
    for (;;) {
      const s = this.pick();
      if (s === undefined) return this.enqueue(call);
      if (this.attach(call, s)) return;
    }
  }

  private pick(): Session | undefined {
    if (this.idleCount !== 0 && !this.pickFirst) this.kick();
    const ready = this.ready;
    const n = ready.length;
    if (n <= 1) return ready[0];
    if (this.pickFirst) return ready[0];
    let i = this.rr;
    if (i >= n) i = 0;
    this.rr = i + 1;
    return ready[i];
  }

  /** Opens the call's HTTP/2 stream on `s`. False when the session refused (it is retired then). */
  private attach(call: Call, s: Session): boolean {
    let timeoutMs = -1;
    if (call.expiry !== undefined) {
      if (call.expiry <= Date.now()) {
        call.deadlineExceeded();
        return true;
      }
      if (call.deadline !== undefined) timeoutMs = Math.max(1, call.deadline - Date.now());
    }
    const headers = s.ep.headers(call.path, timeoutMs, call.metadata);
    let stream: H2Stream;
    try {
      stream = s.h2.request(headers);
    } catch (e) {
      // ERR_HTTP2_GOAWAY_SESSION, ERR_HTTP2_INVALID_SESSION, ERR_HTTP2_OUT_OF_STREAMS: nothing was sent.
      this.retire(s, messageOf(e));
      return false;
    }
    if (++s.opened >= MAX_STREAMS_PER_SESSION) this.retire(s, 'stream ids used up', true);
    if (s.streams.size === 0) s.h2.ref();
    s.streams.add(stream);
    call.session = s;
    call.stream = stream;
    stream[CALL] = call;
    stream[SESSION] = s;
    stream.on('response', onStreamResponse);
    stream.on('trailers', onStreamTrailers);
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    call.opened(stream);
    return true;
  }

  /** A stream on `s` closed. */
  release(s: Session, stream: http2.ClientHttp2Stream): void {
    s.streams.delete(stream);
    if (s.streams.size === 0 && !s.h2.destroyed) s.h2.unref();
  }

  private enqueue(call: Call): void {
    if (this.closed) {
      call.abort(new GrpcStatusError(STATUS_CANCELLED, 'Cancelled on client'));
      return;
    }
    this.pending.add(call);
    // The wait is bounded; a shorter deadline bounds it by itself.
    if (call.expiry === undefined || call.expiry - Date.now() > PENDING_TIMEOUT_MS) {
      call.waitTimer = setTimeout(onWaitTimeout, PENDING_TIMEOUT_MS, call);
    }
    this.kick();
    if (!this.connecting()) {
      // Every endpoint is backing off after failed attempts: fail now, as grpc-js does in TRANSIENT_FAILURE.
      this.pending.delete(call);
      call.abort(this.noConnection('connection failed'));
    }
  }

  /** Whether a connection attempt is under way (or a session is ready). */
  private connecting(): boolean {
    for (const ep of this.endpoints) if (ep.state === CONNECTING || ep.state === READY) return true;
    return false;
  }

  /** Sends every pending call (a session just became ready). */
  private drain(): void {
    for (const call of this.pending) {
      const s = this.pick();
      if (s === undefined) return;
      this.pending.delete(call);
      if (call.waitTimer !== undefined) {
        clearTimeout(call.waitTimer);
        call.waitTimer = undefined;
      }
      if (!this.attach(call, s)) {
        this.pending.add(call); // back at the end; the loop will reach it again
      }
    }
  }

  /** The UNAVAILABLE a call gets when no connection could be made; `sent: false` lets even writes retry. */
  noConnection(fallback: string): GrpcStatusError {
    return new GrpcStatusError(STATUS_UNAVAILABLE, `no connection to any etcd endpoint: ${this.lastError || fallback}`, false);
  }

  // ---- connections ----

  /** Starts connection attempts the policy wants now. */
  private kick(): void {
    if (this.closed) return;
    const eps = this.endpoints;
    if (this.pickFirst) {
      if (this.ready.length > 0) return;
      for (const ep of eps) if (ep.state === CONNECTING) return;
      for (const ep of eps) {
        if (ep.state === IDLE) {
          this.connect(ep);
          return;
        }
      }
    } else if (this.idleCount !== 0) {
      for (const ep of eps) if (ep.state === IDLE) this.connect(ep);
    }
  }

  private connect(ep: Endpoint): void {
    if (ep.state === IDLE) this.idleCount--;
    ep.state = CONNECTING;
    let h2: http2.ClientHttp2Session;
    let tcp: net.Socket | undefined;
    let socket: net.Socket | undefined;
    try {
      tcp = net.connect({ host: ep.host, port: ep.port });
      socket = ep.tlsOptions ? tls.connect({ ...ep.tlsOptions, socket: tcp }) : tcp;
      if (socket !== tcp) tcp.on('error', ignore); // reported by the TLS socket
      const connection = socket;
      h2 = http2.connect(ep.url, { ...ep.connectOptions, createConnection: () => connection });
    } catch (e) {
      tcp?.destroy();
      ep.lastError = this.lastError = messageOf(e);
      this.backoff(ep);
      this.attemptFailed();
      return;
    }
    const s = new Session(ep, h2, tcp);
    // After a TLS error (e.g. the server's "certificate required" alert under TLS 1.3, which arrives after our
    // side of the handshake finished) Node marks the session destroyed but waits forever for the socket to
    // flush: it never emits 'close'. Closing the TCP socket ourselves lets the session finish.
    socket.on('error', (err: Error) => {
      s.reason ??= messageOf(err);
      setImmediate(destroySocket, s.tcp);
    });
    ep.session = s;
    this.sessions.add(s);
    trace('http2', `connecting to ${ep.url}`);
    // An idle client must not keep the process alive; calls waiting for this connection hold timers that do.
    h2.unref();
    s.connectTimer = setTimeout(onConnectTimeout, CONNECT_TIMEOUT_MS, this, s);
    s.connectTimer.unref();
    // READY on the server's SETTINGS, not on TCP connect (see the top of the file).
    h2.once('remoteSettings', () => this.onConnect(s));
    h2.on('error', (err: Error) => {
      s.reason ??= messageOf(err);
    });
    h2.on('goaway', (code: number) => {
      s.reason ??= `server sent GOAWAY (code ${code})`;
      trace('http2', `${ep.name}: GOAWAY code ${code}`);
      this.retire(s, s.reason);
    });
    h2.on('close', () => this.onSessionClose(s));
  }

  private onConnect(s: Session): void {
    if (s.connectTimer !== undefined) clearTimeout(s.connectTimer);
    s.connectTimer = undefined;
    if (this.closed || s.retired) return;
    const ep = s.ep;
    try {
      s.h2.setLocalWindowSize(CONNECTION_WINDOW);
    } catch {
      // an old peer or a session already closing: the default window still works
    }
    s.ready = true;
    ep.state = READY;
    ep.backoffMs = this.initialBackoffMs;
    ep.lastError = '';
    let i = 0;
    while (i < this.ready.length && this.ready[i]!.ep.index < ep.index) i++;
    this.ready.splice(i, 0, s);
    if (this.keepaliveMs > 0) {
      s.keepaliveTimer = setInterval(keepaliveTick, this.keepaliveMs, this, s);
      s.keepaliveTimer.unref();
    }
    trace('http2', `connected to ${ep.url}`);
    this.drain();
  }

  private onSessionClose(s: Session): void {
    s.clearTimers();
    this.sessions.delete(s);
    this.retire(s, s.reason ?? 'connection closed');
  }

  /**
   * `s` takes no new calls. Streams already on it finish (GOAWAY) or fail (connection lost). A session that
   * was READY is replaced on demand at once; a failed attempt backs off and may fail the waiting calls.
   */
  private retire(s: Session, why: string, closeGracefully = false): void {
    if (s.retired) return;
    s.retired = true;
    if (s.connectTimer !== undefined) clearTimeout(s.connectTimer);
    s.connectTimer = undefined;
    if (s.ready) {
      const i = this.ready.indexOf(s);
      if (i >= 0) this.ready.splice(i, 1);
    }
    if (closeGracefully && !s.h2.closed) s.h2.close();
    const ep = s.ep;
    if (ep.session !== s || this.closed) return;
    ep.session = undefined;
    if (s.ready) {
      trace('http2', `${ep.name}: connection retired (${why})`);
      ep.state = IDLE;
      this.idleCount++;
      ep.backoffMs = this.initialBackoffMs;
      ep.lastError = why;
      if (this.pending.size > 0) this.kick();
    } else {
      trace('http2', `${ep.name}: connection attempt failed (${why})`);
      ep.lastError = why;
      this.lastError = why;
      this.backoff(ep);
      this.attemptFailed();
    }
  }

  private backoff(ep: Endpoint): void {
    ep.state = BACKOFF;
    const delay = Math.round(ep.backoffMs * (0.8 + 0.4 * Math.random()));
    ep.backoffMs = Math.min(ep.backoffMs * 2, this.maxBackoffMs);
    ep.backoffTimer = setTimeout(onBackoffDone, delay, this, ep);
    ep.backoffTimer.unref();
  }

  backoffDone(ep: Endpoint): void {
    if (this.closed || ep.state !== BACKOFF) return;
    ep.state = IDLE;
    this.idleCount++;
    if (this.pending.size > 0) this.kick();
  }

  /** A connection attempt failed: try the next endpoint, or fail the waiting calls if none is in progress. */
  private attemptFailed(): void {
    if (this.pending.size === 0) return;
    this.kick();
    if (this.connecting()) return;
    const err = this.noConnection('connection failed');
    for (const call of this.pending) call.abort(err);
    this.pending.clear();
  }

  connectTimedOut(s: Session): void {
    if (s.ready || s.retired) return;
    s.reason = `connection attempt timed out after ${CONNECT_TIMEOUT_MS} ms`;
    s.h2.destroy();
  }

  // ---- keepalive ----

  keepalive(s: Session): void {
    if (s.streams.size === 0 || s.pingTimer !== undefined || s.h2.destroyed) return;
    let sent: boolean;
    try {
      sent = s.h2.ping((err) => {
        if (s.pingTimer !== undefined) clearTimeout(s.pingTimer);
        s.pingTimer = undefined;
        if (err) trace('http2', `${s.ep.name}: ping failed: ${err.message}`);
      });
    } catch {
      return;
    }
    if (!sent) return;
    s.pingTimer = setTimeout(onPingTimeout, this.keepaliveTimeoutMs, this, s);
    s.pingTimer.unref();
  }

  pingTimedOut(s: Session): void {
    if (s.h2.destroyed) return;
    s.reason = `keepalive ping not answered within ${this.keepaliveTimeoutMs} ms`;
    trace('http2', `${s.ep.name}: ${s.reason}`);
    this.retire(s, s.reason);
    // As grpc-js does: reset every stream (RST_STREAM CANCEL follows each request on the wire, so a member that
    // wakes up drops what it had not started) and fail the calls with UNAVAILABLE as their streams close. An
    // event-loop turn later, once those frames are out, the TCP connection is reset (RST, not FIN): the
    // kernel of a stopped member then discards whatever it holds for it, unread requests included.
    for (const stream of s.streams) stream.close(NGHTTP2_CANCEL);
    setImmediate(resetSession, s);
  }
}

/** The node:http2 transport (`transport: 'http2'` or ETCD_APIV3_TRANSPORT=http2). */
export function createHttp2Transport(config: TransportConfig): Transport {
  return new Http2Transport(config);
}
