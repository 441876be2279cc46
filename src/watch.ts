// The watch engine: one gRPC Watch stream per client carries every watcher, and survives disconnects without
// losing or repeating an event.
//
// Each watcher remembers the next revision it needs (`nextRev`):
//   - a watcher from a given revision starts there;
//   - a "from now" watcher is pinned to the create response's header revision + 1;
//   - after delivering events, it is the last event's mod revision + 1;
//   - a progress notification (header revision R, no events) moves it to R + 1.
// Only etcd's timed notifications (`progress_notify`, addressed to one watcher, queued behind its events on every
// etcd version) count. The engine never sends a progress request and waits for no reply to one: before etcd
// 3.4.25/3.5.8 the reply could overtake pending events (trusting it would skip them on a resume), and since then
// etcd silently drops the request while any watcher on the stream is unsynced. A reply to all watchers
// (watch_id -1) is ignored.
// When the stream fails, every watcher is re-created from its `nextRev`, and events below it (already
// delivered) are dropped, so across any number of reconnects each event is delivered exactly once, in order.
//
// The stream runs on the shared reconnecting-stream machine (reconnecting-stream.ts: idle → connecting → open →
// backoff → connecting, closed with the client); it is wanted while any watcher is, and goes idle with the last.
// Creates are sent one at a time (etcd answers them in order, and the answer carries no request id); the
// queue holds the watchers waiting for a create, the one in flight is `creating`.

import { WatchService, type WatchRequest, type WatchResponse } from '../generated/etcdserver/etcdserverpb/rpc';
import type { Event as PbEvent } from '../generated/mvcc/mvccpb/kv';
import { ClientSlot, type Connection } from './connection';
import { ClientClosedError, ERROR_GRPC_RESOURCE_EXHAUSTED, GrpcStatusError, toFailure, watchCancelStatus } from './errors';
import { Link, type ConnectionListener, type ConnectionState } from './link';
import { ReconnectingStream, REAL_CLOCK, type Clock } from './reconnecting-stream';
import type { Response } from './response';
import type { EndVerdict } from './stream-end';
import { trace } from './trace';
import { compactedResponse, eventsResponse, failureResponse } from './watch-response';

export { ACTION_WATCH, eventsResponse, MESSAGE_COMPACTED } from './watch-response';

/** How long Cancel() waits for etcd to confirm before treating the watcher as gone. */
const CANCEL_ACK_TIMEOUT_MS = 1000;

/** What to watch. */
export interface WatchSpec {
  readonly key: Buffer;
  /** Empty for a single key. */
  readonly rangeEnd: Buffer;
  /** First revision wanted; 0 means "from now". */
  readonly startRevision: number;
}

/** Where a watcher's results go. Called synchronously, in order; never after `onEnd`. */
export interface WatchSink {
  /** One etcd watch response's events (after dropping any already delivered), as a C++-style Response. */
  onEvents(response: Response): void;
  /**
   * The watcher is over: `null` after `cancel()` or client close, otherwise the error Response (compaction:
   * code 11 with `compact_revision()`; a permanent server refusal: its code and text).
   */
  onEnd(error: Response | null): void;
  /** The server acknowledged the watcher (first time only); `revision` is the store revision then. */
  onCreated?(revision: number): void;
  /** The engine's connection signal changed (see {@link Link}). */
  onConnection?: ConnectionListener;
}

/** A watcher registered with the engine. */
export interface WatchHandle {
  /** Stops the watcher on the server; resolves when it is gone. Idempotent. */
  cancel(): Promise<void>;
  /** The next revision this watcher needs (0 until a "from now" watcher is created). */
  readonly nextRevision: number;
  /** The engine's connection state (see {@link Link}). */
  readonly connectionState: ConnectionState;
}

class Sub implements WatchHandle {
  nextRev: number;
  /** Server id on the current stream, or undefined when not created on it. */
  id: bigint | undefined;
  created = false;
  ended = false;
  cancelRequested = false;
  fragments: PbEvent[] | undefined;
  private cancelled: Promise<void> | undefined;
  resolveCancel: (() => void) | undefined;

  constructor(
    readonly engine: WatchEngine,
    readonly spec: WatchSpec,
    readonly sink: WatchSink,
  ) {
    this.nextRev = spec.startRevision;
  }

  get nextRevision(): number {
    return this.nextRev;
  }

  get connectionState(): ConnectionState {
    return this.engine.link.state;
  }

  cancel(): Promise<void> {
    return (this.cancelled ??= new Promise<void>((resolve) => {
      this.resolveCancel = resolve;
      this.engine.cancel(this);
    }));
  }
}

/** Keeps the client's Watch stream and every watcher on it. One per Connection; closed with it. */
export class WatchEngine {
  private readonly stream: ReconnectingStream<WatchRequest, WatchResponse>;
  /** Watchers waiting for a create request on the current stream, in order. */
  private readonly queue: Sub[] = [];
  /** The watcher whose create request is in flight. */
  private creating: Sub | undefined;
  /** Watchers created on the current stream, by server id. */
  private readonly byId = new Map<bigint, Sub>();
  /** Every live watcher. */
  private readonly subs = new Set<Sub>();
  private readonly untrack: () => void;
  /** Streams opened so far (for tests and tracing). */
  streamsOpened = 0;
  /** @internal Whether etcd answers: the watchers' connection signal. */
  readonly link = new Link((state, error) => {
    trace('watch', `connection ${state}${error ? ` (${error.message})` : ''}`);
    for (const sub of [...this.subs]) sub.sink.onConnection?.(state, error);
  });

  /** `clock` is the seam unit tests drive the backoff and the cancel wait with (default: the real one). */
  constructor(
    private readonly conn: Connection,
    private readonly clock: Clock = REAL_CLOCK,
  ) {
    this.stream = new ReconnectingStream<WatchRequest, WatchResponse>(
      {
        open: (handlers) => this.conn.openStream(WatchService.watch, handlers, undefined, true),
        onOpen: () => {
          this.streamsOpened++;
          trace('watch', `stream open (#${this.streamsOpened}), ${this.subs.size} watchers`);
          this.pump();
        },
        onMessage: (m) => this.onMessage(m),
        // A cancel answer does not end the failure streak: a refused create may be the token refusal itself.
        countsAsAnswer: (m) => !m.canceled,
        wanted: () => this.subs.size > 0 && !this.conn.closed,
        onEnd: (err, verdict) => this.onStreamEnd(err, verdict),
        onLost: (err, wait) => this.requeue(err, wait),
        onHalt: (status) => this.halt(status),
        ...(conn.auth ? { renewToken: () => conn.auth?.invalidate(undefined) } : {}),
      },
      { component: 'watch', label: 'watch', clock },
    );
    this.untrack = conn.track(this);
  }

  /** Registers a watcher. Its events start arriving once the stream is open and etcd acknowledged it. */
  add(spec: WatchSpec, sink: WatchSink): WatchHandle {
    this.conn.assertOpen();
    const sub = new Sub(this, spec, sink);
    this.subs.add(sub);
    this.queue.push(sub);
    if (this.stream.state === 'idle') {
      this.link.waiting();
      this.stream.start();
    } else if (this.stream.state === 'open') this.pump();
    return sub;
  }

  /** @internal Called by Sub.cancel. */
  cancel(sub: Sub): void {
    sub.cancelRequested = true;
    if (sub.ended) return sub.resolveCancel?.();
    const queued = this.queue.indexOf(sub);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.finish(sub, null);
    } else if (sub.id !== undefined && this.stream.call) {
      // The server answers with `canceled`, which finishes the watcher; a stream failure finishes it too. A
      // server that stays silent (frozen member, black-holed link) must not hold Cancel() forever: give up
      // waiting after a second, as C++ does; late responses for that id are ignored.
      this.stream.call.write({ requestUnion: { $case: 'cancelRequest', cancelRequest: { watchId: sub.id } } });
      this.clock.setTimer(() => this.finish(sub, null), CANCEL_ACK_TIMEOUT_MS, true);
    } else if (sub !== this.creating) {
      // Not on any stream (reconnecting): nothing to tell the server.
      this.finish(sub, null);
    }
    // If its create is in flight, the created answer sees `cancelRequested` and cancels it.
  }

  private finish(sub: Sub, error: Response | null): void {
    if (sub.ended) return;
    sub.ended = true;
    this.subs.delete(sub);
    if (sub.id !== undefined) this.byId.delete(sub.id);
    sub.id = undefined;
    try {
      sub.sink.onEnd(error);
    } finally {
      sub.resolveCancel?.();
      if (this.subs.size === 0 && this.stream.state !== 'closed') this.goIdle();
    }
  }

  /** No watchers left: cancel the stream so etcd drops it, and stop. */
  private goIdle(): void {
    this.link.stop();
    const call = this.stream.stop('no watcher left');
    this.creating = undefined;
    this.byId.clear();
    call?.cancel();
  }

  /** Sends the next create request if none is in flight. */
  private pump(): void {
    const call = this.stream.call;
    if (this.stream.state !== 'open' || this.creating || !call) return;
    let sub = this.queue.shift();
    while (sub?.ended) sub = this.queue.shift();
    if (!sub) return;
    this.creating = sub;
    call.write({
      requestUnion: {
        $case: 'createRequest',
        createRequest: {
          key: sub.spec.key,
          rangeEnd: sub.spec.rangeEnd,
          startRevision: BigInt(sub.nextRev),
          progressNotify: true,
          filters: [],
          prevKv: true,
          watchId: 0n,
          fragment: true,
        },
      },
    });
  }

  private onMessage(m: WatchResponse): void {
    // The stream works, token included (the machine ends the failure streak on the same messages).
    if (!m.canceled) this.link.answered();
    if (m.created) return this.onCreated(m);
    const sub = this.byId.get(m.watchId);
    if (!sub) return; // a watcher we already finished (etcd may still send its last responses), or watch_id -1
    if (m.canceled) return this.onCanceled(sub, m);
    if (m.fragment) {
      (sub.fragments ??= []).push(...m.events);
      return;
    }
    let events = m.events;
    if (sub.fragments) {
      sub.fragments.push(...events);
      events = sub.fragments;
      sub.fragments = undefined;
    }
    const revision = Number(m.header?.revision ?? 0n);
    if (events.length === 0) {
      // Progress notification: every revision up to the header's has been sent.
      if (revision + 1 > sub.nextRev) sub.nextRev = revision + 1;
      return;
    }
    this.deliver(sub, events, revision, m.watchId);
  }

  private onCreated(m: WatchResponse): void {
    const sub = this.creating;
    this.creating = undefined;
    if (!sub) return;
    const revision = Number(m.header?.revision ?? 0n);
    if (m.canceled) {
      // etcd can refuse a watcher in its create answer (created and canceled together).
      this.onCanceled(sub, m);
    } else if (sub.ended) {
      // finished meanwhile; nothing to do
    } else {
      sub.id = m.watchId;
      this.byId.set(m.watchId, sub);
      if (sub.nextRev === 0) sub.nextRev = revision + 1;
      if (!sub.created) {
        sub.created = true;
        sub.sink.onCreated?.(revision);
      }
      if (sub.cancelRequested) this.cancel(sub);
    }
    this.pump();
  }

  private onCanceled(sub: Sub, m: WatchResponse): void {
    if (sub.cancelRequested) return this.finish(sub, null);
    const compactRevision = Number(m.compactRevision);
    if (compactRevision > 0) {
      return this.finish(sub, compactedResponse(compactRevision, Number(m.header?.revision ?? 0n), Number(m.watchId)));
    }
    const status = watchCancelStatus(m.cancelReason);
    if (this.stream.classify(status) === 'renew-token') {
      // etcd checks the stream's token when a watcher is created, and refuses the create once that token expired
      // or the auth store changed (e.g. on a stream re-opened with the token it was first opened with). Renew the
      // token and re-create everything on a new stream — once: refused again, the watcher ends with the error.
      return this.stream.fail(status);
    }
    // Permission denied is 7 'etcdserver: permission denied', as for a unary call; an unknown reason is 1.
    this.finish(sub, failureResponse(status.code, status.details, Number(m.watchId)));
  }

  private deliver(sub: Sub, all: PbEvent[], revision: number, watchId: bigint): void {
    // Events come in revision order, so checking the first is enough in the common case.
    const events = Number(all[0]!.kv?.modRevision ?? 0n) >= sub.nextRev ? all : all.filter((e) => Number(e.kv?.modRevision ?? 0n) >= sub.nextRev);
    if (events.length === 0) return;
    sub.nextRev = Number(events[events.length - 1]!.kv!.modRevision) + 1;
    if (sub.cancelRequested) return;
    sub.sink.onEvents(eventsResponse(events, revision, Number(watchId)));
  }

  /**
   * The stream ended (the machine's verdict comes in): etcd drops the whole stream when one create request is
   * over its size limit, and sending it again would stall every watcher behind it forever, so that one watcher
   * ends with the error and the rest resume.
   */
  private onStreamEnd(err: unknown, verdict: EndVerdict): EndVerdict {
    if (verdict === 'retry' && err instanceof GrpcStatusError && err.code === ERROR_GRPC_RESOURCE_EXHAUSTED && this.creating) {
      const culprit = this.creating;
      this.creating = undefined;
      const { code, message } = toFailure(err);
      this.finish(culprit, failureResponse(code, message));
    }
    return verdict;
  }

  /** Permanent (permission denied, unimplemented, ...): end every watcher with the reason. */
  private halt(status: GrpcStatusError): void {
    const { code, message } = toFailure(status);
    trace('watch', `stream failed permanently: ${code} ${message}`);
    this.link.stop();
    this.queue.length = 0;
    this.creating = undefined;
    this.byId.clear();
    for (const sub of [...this.subs]) this.finish(sub, failureResponse(code, message));
  }

  /** The stream is lost and will be reopened: every watcher goes back in the queue, to be re-created from nextRev. */
  private requeue(err: unknown, wait: number): void {
    // In registration order.
    this.creating = undefined;
    this.byId.clear();
    this.queue.length = 0;
    for (const sub of this.subs) {
      sub.id = undefined;
      sub.fragments = undefined;
      if (sub.cancelRequested) this.finish(sub, null);
      else this.queue.push(sub);
    }
    if (this.subs.size === 0) return; // finish() made the engine idle
    this.link.waiting(err);
    trace('watch', `stream lost (${err instanceof Error ? err.message : String(err)}); reconnecting in ${wait} ms`);
  }

  /** Ends every watcher (their sinks get `onEnd(null)`) and the stream. */
  close(): void {
    if (this.stream.state === 'closed') return;
    this.link.stop();
    const call = this.stream.close();
    this.untrack();
    this.queue.length = 0;
    this.creating = undefined;
    for (const sub of [...this.subs]) this.finish(sub, null);
    call?.cancel();
  }
}

const WATCH_ENGINE = new ClientSlot<WatchEngine>('watch engine');

/** The client's watch engine, created on first use. */
export function watchEngine(conn: Connection): WatchEngine {
  return conn.slot(WATCH_ENGINE, () => new WatchEngine(conn));
}


/**
 * The one-shot watch (C++ `Client::watch`): resolves with the first etcd watch response that carries events
 * (or with the error that ended the watch), then cancels the watcher. Unlike C++ it does not resolve early
 * with no events when `fromIndex` is ahead of the store; it waits for that revision.
 */
export function watchOnce(conn: Connection, spec: WatchSpec): Promise<Response> {
  return new Promise<Response>((resolve, reject) => {
    let result: Response | undefined;
    const handle = watchEngine(conn).add(spec, {
      onEvents: (response) => {
        if (result) return;
        result = response;
        void handle.cancel();
      },
      onEnd: (error) => {
        if (result) resolve(result);
        else if (error) resolve(error);
        else reject(new ClientClosedError());
      },
    });
  });
}
