// Observing an election (C++ `Client::observe` / `SyncClient::Observer`) over the server-streaming
// Election.Observe RPC, resumed across disconnects.

import { ElectionService, type LeaderResponse } from '../generated/etcdserver/api/v3election/v3electionpb/v3election';
import type { Connection } from './connection';
import { ClientClosedError, ERROR_GRPC_CANCELLED, toFailure, type GrpcStatusError } from './errors';
import { Link, UNREACHABLE_AFTER_MS, type ConnectionListener, type ConnectionState } from './link';
import { ReconnectingStream } from './reconnecting-stream';
import { Response, Value } from './response';
import { trace } from './trace';

interface Waiter {
  resolve(r: Response): void;
  reject(err: Error): void;
}

/**
 * The leader changes of one election, as C++ `Observer` (`client.observe(name)`): each `WaitOnce()` resolves
 * with the next report — the current leader right after opening, then every new leader or proclaimed value —
 * as a Response with action "observe" (C++ "obverse"), `value()` = the leader's kv, `name()` = the election.
 * Reports that arrive while nobody waits are buffered, in order.
 *
 * The Observe stream runs on the shared reconnecting-stream machine (connecting → open → backoff → connecting,
 * reconnecting-stream.ts); the observer adds two final states of its own: *ended* (a permanent error was
 * delivered; the machine halted) and *closed* (`close()` or the client closed).
 *
 * - **Disconnects** (beyond C++): it reopens with backoff, as every stream does (stream-end.ts decides: a clean
 *   end, a transient status or an error that is not a status is retried; a refused token is renewed once per
 *   failure streak). etcd reports the current leader first on every new
 *   stream; a first report equal to the last one delivered (same key and mod revision) is skipped, so nothing
 *   is reported twice. A change that happened *and was superseded* while disconnected is not seen: observing
 *   reports the leader's state, not every intermediate step.
 * - **Permanent status**: `WaitOnce()` resolves with an error Response (the status code and message), and
 *   keeps doing so; the observer has ended.
 * - **`close()`** (idempotent): a pending or later `WaitOnce()` resolves with code 1 (CANCELLED) "observer closed".
 * - **Client closed**: a pending or later `WaitOnce()` rejects with ClientClosedError.
 * - **Async iteration**: `for await (const r of observer)` yields the same reports; it ends after yielding an
 *   error Response or when the observer or client is closed, and `break` closes the observer.
 */
export class Observer implements AsyncIterable<Response> {
  /** Set once a permanent error was delivered. */
  private ended = false;
  private closed = false;
  /** Server-streaming: nothing is ever written on it. Wanted until the observer ends or closes. */
  private readonly stream: ReconnectingStream<never, LeaderResponse>;
  private readonly buffer: Response[] = [];
  private readonly waiters: Waiter[] = [];
  /** Key and mod revision of the last report delivered, to skip its repetition after a reopen. */
  private last: { key: Buffer; modRevision: bigint } | undefined;
  private reopened = false;
  /** Whether the current stream delivered a report since it opened (see the onEnd hook). */
  private heardSinceOpen = false;
  private final: Response | undefined;
  private closedByClient = false;
  private readonly untrack: () => void;
  private readonly nameText: string;
  private readonly closedResponse: Response;
  private stableTimer: NodeJS.Timeout | undefined;
  private readonly connectionListeners = new Set<ConnectionListener>();
  private readonly link = new Link((state, error) => {
    trace('election', `observe connection ${state}${error ? ` (${error.message})` : ''}`);
    for (const l of [...this.connectionListeners]) {
      try {
        l(state, error);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  });
  /** @internal Streams opened so far (for tests and tracing). */
  streamsOpened = 0;
  /** @internal Repeated reports skipped after a reopen (for tests). */
  reportsSkipped = 0;

  /** @internal Use `client.observe(name)`. */
  constructor(
    private readonly conn: Connection,
    private readonly name: Buffer,
  ) {
    conn.assertOpen();
    this.nameText = name.toString('utf8');
    this.closedResponse = new Response({ code: ERROR_GRPC_CANCELLED, message: 'observer closed', action: 'observe', name: this.nameText });
    this.stream = new ReconnectingStream<never, LeaderResponse>(
      {
        open: (handlers) => this.conn.openStream(ElectionService.observe, handlers, { name: this.name }, true),
        onOpen: () => {
          this.heardSinceOpen = false;
          this.streamsOpened++;
          trace('election', `observe stream open (#${this.streamsOpened}) for ${JSON.stringify(this.nameText)}`);
          // Observe stays silent while the election has no leader: a stream that stays up for the bound counts
          // as etcd answering.
          const current = this.stream.guard();
          clearTimeout(this.stableTimer);
          this.stableTimer = setTimeout(() => {
            if (current() && this.stream.state === 'open') this.link.answered();
          }, UNREACHABLE_AFTER_MS / 2).unref();
        },
        onMessage: (m) => {
          this.heardSinceOpen = true;
          this.onMessage(m);
        },
        // etcd (seen on 3.7) ends an Observe stream opened with an expired token cleanly, without the token
        // error a watch or keepalive gets; a clean end before any report is therefore treated as a possible token
        // refusal, and the token is renewed (once per failure streak, as for a real refusal).
        onEnd: (err, verdict) =>
          err === null && verdict === 'retry' && !this.heardSinceOpen && this.conn.auth && !this.stream.tokenRenewedInStreak
            ? 'renew-token'
            : verdict,
        wanted: () => !this.ended && !this.closed,
        onLost: (err) => {
          this.link.waiting(err ?? undefined);
          this.reopened = true;
        },
        onHalt: (status) => this.end(status),
        onClientClosed: () => this.shutdown(true),
        ...(this.conn.auth ? { renewToken: () => this.conn.auth?.invalidate(undefined) } : {}),
      },
      { component: 'election', label: 'observe' },
    );
    this.untrack = conn.track({ close: () => this.shutdown(true) });
    this.link.waiting();
    this.stream.start();
  }

  /**
   * The next leader report (see the class comment for what happens on error, close and client close).
   */
  WaitOnce(): Promise<Response> {
    const buffered = this.buffer.shift();
    if (buffered) return Promise.resolve(buffered);
    if (this.closed) {
      return this.closedByClient ? Promise.reject(new ClientClosedError()) : Promise.resolve(this.closedResponse);
    }
    if (this.ended) return Promise.resolve(this.final!);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /**
   * Subscribes to the connection signal (beyond C++; as `Watcher.onConnection`): `'disconnected'` with an
   * UnreachableError when etcd has not answered for `UNREACHABLE_AFTER_MS` (3 s), `'connected'` when it
   * answers (a report, or the stream staying up for half that bound) — first and after every
   * `'disconnected'`. The observer keeps reopening meanwhile. Returns the unsubscribe function.
   */
  onConnection(listener: ConnectionListener): () => void {
    if (typeof listener !== 'function') throw new TypeError('listener must be a function');
    this.connectionListeners.add(listener);
    return () => void this.connectionListeners.delete(listener);
  }

  /** `'connecting'` until etcd first answers, then `'connected'` or `'disconnected'`. */
  connectionState(): ConnectionState {
    return this.link.state;
  }

  /** Stops observing (cancels the stream). Idempotent. */
  close(): Promise<void> {
    this.shutdown(false);
    return Promise.resolve();
  }

  /** `await using observer = client.observe(name)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Response, void, undefined> {
    try {
      for (;;) {
        let r: Response;
        try {
          r = await this.WaitOnce();
        } catch (err) {
          if (err instanceof ClientClosedError) return;
          throw err;
        }
        if (r === this.closedResponse) return;
        yield r;
        if (!r.is_ok()) return;
      }
    } finally {
      this.shutdown(false);
    }
  }

  private onMessage(m: LeaderResponse): void {
    this.link.answered();
    const kv = m.kv;
    if (!kv) return;
    if (this.reopened) {
      this.reopened = false;
      if (this.last && this.last.modRevision === kv.modRevision && this.last.key.equals(kv.key)) {
        this.reportsSkipped++;
        return;
      }
    }
    this.last = { key: kv.key, modRevision: kv.modRevision };
    this.deliver(new Response({ action: 'observe', index: Number(m.header?.revision ?? 0n), value: Value.fromKv(kv), name: this.nameText }));
  }

  private deliver(r: Response): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(r);
    else this.buffer.push(r);
  }

  /** The stream failed for good: every pending and later `WaitOnce()` gets the error Response. */
  private end(status: GrpcStatusError): void {
    if (this.closed || this.ended) return;
    const { code, message } = toFailure(status);
    trace('election', `observe stream failed for good: ${code} ${message}`);
    this.ended = true;
    this.link.stop();
    this.final = new Response({ code, message, action: 'observe', name: this.nameText });
    this.deliver(this.final);
    for (const w of this.waiters.splice(0)) w.resolve(this.final);
  }

  private shutdown(byClient: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.closedByClient = byClient;
    this.link.stop();
    clearTimeout(this.stableTimer);
    this.stream.close()?.cancel();
    this.untrack();
    this.buffer.length = 0;
    for (const w of this.waiters.splice(0)) {
      if (byClient) w.reject(new ClientClosedError());
      else w.resolve(this.closedResponse);
    }
  }
}
