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
//                        BACKOFF ──HTTP2_CONNECT (src/backoff.ts)──▶ IDLE
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
// connection, so a silent connection fails its calls with UNAVAILABLE (`sent` unknown). Idle sessions are neither
// pinged nor keep the process alive (unref), like a grpc-js channel.
//
// The parts: ./endpoint.ts (addressing, TLS, headers), ./session.ts (one connection), ./picker.ts (the
// load-balancing choice), ./call.ts and ./calls.ts (the calls), ./decoder.ts (message reassembly).

import { GrpcStatusError } from '../../errors';
import { trace } from '../../trace';
import { frameRequest } from '../framing';
import {
  KEEPALIVE_MIN_TIME_MS,
  KEEPALIVE_TIME_MS,
  KEEPALIVE_TIMEOUT_MS,
  type CallOptions,
  type MethodDescriptor,
  type StreamCall,
  type StreamHandlers,
  type Transport,
  type TransportConfig,
} from '../transport';
import type { Call, CallHost } from './call';
import { StreamingCall, UnaryCall } from './calls';
import { HTTP2_CONNECT } from '../../backoff';
import { BACKOFF, CONNECTING, Endpoint, IDLE, READY, type EndpointState } from './endpoint';
import { Picker } from './picker';
import { Session, type SessionOwner } from './session';
import { STATUS_CANCELLED, STATUS_INTERNAL, STATUS_UNAVAILABLE, messageOf } from './wire';

/** How long a call waits for a connection at most (its deadline may end the wait earlier). */
const PENDING_TIMEOUT_MS = 5_000;

function numberOption(config: TransportConfig, name: string, fallback: number): number {
  const v = config.channelOptions?.[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

function rankOf(s: Session): number {
  return s.ep.index;
}

function onBackoffDone(t: Http2Transport, ep: Endpoint): void {
  ep.backoffTimer = undefined;
  t.backoffDone(ep);
}

/**
 * The node:http2 implementation of {@link Transport}: the calls, the queue of calls waiting for a connection,
 * and the connection policy over the endpoints (when to connect, back off, and fail waiting calls).
 */
export class Http2Transport implements Transport, CallHost, SessionOwner {
  closed = false;
  readonly keepaliveMs: number;
  readonly keepaliveTimeoutMs: number;
  /** Calls waiting for a ready session, in arrival order. */
  private readonly pending = new Set<Call>();
  private readonly endpoints: Endpoint[];
  /** READY sessions and the load-balancing choice among them. */
  private readonly picker: Picker<Session>;
  /** Every session not yet closed (retired ones may still carry streams). */
  private readonly sessions = new Set<Session>();
  private readonly pickFirst: boolean;
  /** How many endpoints are IDLE; kept by `setState` (checked on every call). */
  private idleCount: number;
  /** The most recent connection failure, for the message of calls that found no connection. */
  private lastError = '';

  constructor(config: TransportConfig) {
    if (config.endpoints.length === 0) throw new TypeError('at least one endpoint is required');
    this.pickFirst = config.loadBalancer === 'pick_first';
    this.picker = new Picker(this.pickFirst, rankOf);
    const ka = numberOption(config, 'grpc.keepalive_time_ms', KEEPALIVE_TIME_MS);
    this.keepaliveMs = ka <= 0 ? 0 : Math.max(KEEPALIVE_MIN_TIME_MS, ka);
    this.keepaliveTimeoutMs = Math.max(1, numberOption(config, 'grpc.keepalive_timeout_ms', KEEPALIVE_TIMEOUT_MS));
    // grpc.initial_reconnect_backoff_ms / grpc.max_reconnect_backoff_ms override the policy's bounds.
    const initialBackoffMs = Math.max(1, numberOption(config, 'grpc.initial_reconnect_backoff_ms', HTTP2_CONNECT.initialMs));
    const maxBackoffMs = Math.max(initialBackoffMs, numberOption(config, 'grpc.max_reconnect_backoff_ms', HTTP2_CONNECT.maxMs));
    this.endpoints = config.endpoints.map((e, i) => new Endpoint(i, e.host, e.port, config, initialBackoffMs, maxBackoffMs));
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
      const call = new UnaryCall(this, method, frame, options, resolve, reject);
      if (call.arm()) this.dispatch(call);
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
    if (early !== undefined) call.failEarly(early);
    else if (options.signal?.aborted) call.cancel();
    else if (call.arm()) this.dispatch(call);
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
    this.picker.clear();
    // Destroying a session closes its streams; their calls end with CANCELLED (see Call.missingStatus).
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    trace('http2', 'transport closed');
  }

  // ---- dispatching calls ----

  /** Sends the call on a ready session, or parks it until one is ready. */
  dispatch(call: Call): void {
    for (;;) {
      const s = this.pick();
      if (s === undefined) return this.enqueue(call);
      if (this.attach(call, s)) return;
    }
  }

  unqueue(call: Call): void {
    this.pending.delete(call);
  }

  private pick(): Session | undefined {
    if (this.idleCount !== 0 && !this.pickFirst) this.kick();
    return this.picker.pick();
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
    const stream = s.request(s.ep.headers(call.path, timeoutMs, call.metadata));
    if (stream === undefined) return false;
    call.bind(stream, s);
    return true;
  }

  private enqueue(call: Call): void {
    if (this.closed) {
      call.abort(new GrpcStatusError(STATUS_CANCELLED, 'Cancelled on client'));
      return;
    }
    this.pending.add(call);
    // The wait is bounded; a shorter deadline bounds it by itself.
    if (call.expiry === undefined || call.expiry - Date.now() > PENDING_TIMEOUT_MS) call.startWaiting(PENDING_TIMEOUT_MS);
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
      call.stopWaiting();
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

  private setState(ep: Endpoint, state: EndpointState): void {
    if (ep.state === IDLE) this.idleCount--;
    if (state === IDLE) this.idleCount++;
    ep.state = state;
  }

  /** Starts connection attempts the policy wants now. */
  private kick(): void {
    if (this.closed) return;
    const eps = this.endpoints;
    if (this.pickFirst) {
      if (this.picker.size > 0) return;
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
    this.setState(ep, CONNECTING);
    let s: Session;
    try {
      s = Session.open(this, ep);
    } catch (e) {
      ep.lastError = this.lastError = messageOf(e);
      this.backoff(ep);
      this.attemptFailed();
      return;
    }
    ep.session = s;
    this.sessions.add(s);
  }

  sessionReady(s: Session): void {
    const ep = s.ep;
    this.setState(ep, READY);
    ep.resetBackoff();
    ep.lastError = '';
    this.picker.add(s);
    this.drain();
  }

  sessionClosed(s: Session): void {
    this.sessions.delete(s);
    this.retire(s, s.reason ?? 'connection closed');
  }

  /**
   * `s` takes no new calls. Streams already on it finish (GOAWAY) or fail (connection lost). A session that
   * was READY is replaced on demand at once; a failed attempt backs off and may fail the waiting calls.
   */
  retire(s: Session, why: string, closeGracefully = false): void {
    if (!s.markRetired()) return;
    if (s.ready) this.picker.remove(s);
    if (closeGracefully) s.closeGracefully();
    const ep = s.ep;
    if (ep.session !== s || this.closed) return;
    ep.session = undefined;
    if (s.ready) {
      trace('http2', `${ep.name}: connection retired (${why})`);
      this.setState(ep, IDLE);
      ep.resetBackoff();
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
    this.setState(ep, BACKOFF);
    ep.backoffTimer = setTimeout(onBackoffDone, ep.nextBackoff(), this, ep);
    ep.backoffTimer.unref();
  }

  /** The backoff timer of `ep` fired. */
  backoffDone(ep: Endpoint): void {
    if (this.closed || ep.state !== BACKOFF) return;
    this.setState(ep, IDLE);
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
}
