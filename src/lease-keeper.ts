// The lease keepalive engine: every lease a client keeps alive shares one LeaseKeepAlive stream, run by the
// client's LeaseKeeper. The C++-shaped KeepAlive (keepalive.ts) and the locks (lock.ts) subscribe to it; this
// module knows nothing of either.

import { LeaseService, type LeaseKeepAliveRequest, type LeaseKeepAliveResponse } from '../generated/etcdserver/etcdserverpb/rpc';
import { ClientSlot, type Connection } from './connection';
import { ClientClosedError, ERROR_GRPC_DEADLINE_EXCEEDED, ERROR_GRPC_PERMISSION_DENIED, GrpcStatusError, LeaseExpiredError } from './errors';
import { backoffDelay, STREAM_REOPEN } from './backoff';
import { ReconnectingStream, REAL_CLOCK, type Clock, type StreamState } from './reconnecting-stream';
import type { EndVerdict } from './stream-end';
import { trace } from './trace';
import {
  cancelledError,
  deadlineAt,
  localDeadline,
  nextWakeAt,
  refreshFailure,
  refreshIntervalMs,
  stalledAt,
  unconfirmed,
  type Kept,
  type Subscriber,
  type Waiter,
} from './lease-schedule';
import type { StreamCall, StreamHandlers } from './transport/transport';

export { cancelledError, LOSS_GRACE_MS } from './lease-schedule';

/**
 * What the engine needs from the outside world, injected so unit tests drive it with a fake clock: the clock
 * runs the keeper's own timer and the stream's backoff.
 */
export interface KeeperDeps extends Clock {
  /** Opens a LeaseKeepAlive stream (rejects with ClientClosedError or an authentication failure). */
  open(handlers: StreamHandlers<LeaseKeepAliveResponse>): Promise<StreamCall<LeaseKeepAliveRequest>>;
  /** Delay before reconnect attempt `attempt` (0-based). */
  backoff(attempt: number): number;
  /** Called when the server rejected the auth token; the next open should authenticate again. */
  renewToken?(): void;
  /** How long a lease stays in doubt past its local deadline before it is reported lost (default 0: none). */
  lossGraceMs?: number;
}

/** A subscription to one lease, as `LeaseKeeper.add` returns it. */
export interface KeptLease {
  readonly id: bigint;
  /**
   * Sends a keepalive for this lease now and resolves with the TTL of the next response for it. Rejects after
   * `timeoutMs` with a KeepAliveError (code 4), with the lease's final error if it stops meanwhile, with a
   * KeepAliveError if the subscription is removed, or with ClientClosedError. A transient disconnect does not
   * reject: the request is sent again on the new stream, within the same timeout.
   */
  refreshOnce(timeoutMs: number): Promise<number>;
  /** Stops keeping the lease alive for this subscriber (idempotent). Does not revoke. */
  remove(): void;
}

/**
 * Keeps every lease of one client alive over a single LeaseKeepAlive stream (etcd's Go client `lease.go`); the
 * refresh and its verdicts mirror C++ `etcd::KeepAlive::refresh_once` (TTL 0 → `std::out_of_range`, no answer →
 * `std::runtime_error`), minus its one-stream-for-life limitation.
 *
 * The stream runs on the shared reconnecting-stream machine (reconnecting-stream.ts), which owns the states, the
 * backoff and its timer, and renewing the token once per failure streak; the keeper adds:
 *
 * | state      | what the keeper holds                  | its own moves                                          |
 * |------------|----------------------------------------|--------------------------------------------------------|
 * | Idle       | no leases, no stream, no timer         | a lease is added → start the stream                    |
 * | Open       | one timer on the next send/expiry/stall| stalled → reopen at once, no backoff                   |
 * | Backoff    | one timer on the next expiry           | (the machine reopens)                                  |
 * | any        |                                        | last lease removed or failed → Idle (stream end()ed)   |
 * | any        |                                        | a halt fails every lease, except a refused keepalive (7) with requests in flight: only that lease |
 * | any        |                                        | client closed → Closed (final; stream cancelled)       |
 *
 * Per lease: the phases (kept → doubt → lost) and when a loss is reported are the rules of lease-schedule.ts
 * (see LeasePhase there); the keeper applies them with one timer.
 * - **close()** (idempotent) reports nothing: it cancels the stream and the one timer and rejects pending
 *   refreshes with ClientClosedError. With no lease left the engine is idle and holds no strong timer.
 */
export class LeaseKeeper {
  private readonly leases = new Map<bigint, Kept>();
  private readonly stream: ReconnectingStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>;
  /**
   * The lease ids of the requests on the current stream not answered yet, in the order sent. etcd answers a
   * keepalive stream's requests one at a time, in order (a lease it does not know gets TTL 0), so when it ends
   * the stream refusing one request, that request is the first here.
   */
  private readonly inFlight: bigint[] = [];
  private timer: unknown;
  private timerAt = Infinity;
  /** How many streams were opened so far (for tests and tracing). */
  streamsOpened = 0;
  /** How many times a lease's local deadline passed unanswered (it went into doubt), and how many of those etcd
   * then confirmed alive (for tests and tracing). */
  doubts = 0;
  confirmedAlive = 0;

  private readonly graceMs: number;

  constructor(private readonly deps: KeeperDeps) {
    this.graceMs = deps.lossGraceMs ?? 0;
    this.stream = new ReconnectingStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>(
      {
        open: (handlers) => this.deps.open(handlers),
        onOpen: () => this.onOpen(),
        onMessage: (m) => this.onMessage(m),
        wanted: () => this.leases.size > 0,
        onEnd: (err, verdict) => this.onStreamEnd(err, verdict),
        onLost: (err, wait) => this.onLost(err, wait),
        onHalt: (status) => this.halt(status),
        ...(deps.renewToken ? { renewToken: deps.renewToken } : {}),
      },
      { component: 'lease', label: 'keepalive', clock: deps, backoff: deps.backoff },
    );
  }

  /** The current state (for tests and tracing). */
  get currentState(): StreamState {
    return this.stream.state;
  }

  private get state(): StreamState {
    return this.stream.state;
  }

  /** How many distinct leases are being kept alive. */
  get size(): number {
    return this.leases.size;
  }

  /**
   * Starts keeping `id` alive; `ttlSeconds` is the TTL the caller believes it has (0 = unknown until the first
   * answer). Several subscribers may keep the same lease; each gets the final error. Throws ClientClosedError
   * once the engine is closed.
   */
  add(id: bigint, ttlSeconds: number, onFinal: (err: Error) => void): KeptLease {
    if (this.state === 'closed') throw new ClientClosedError();
    const now = this.deps.now();
    let kept = this.leases.get(id);
    if (!kept) {
      kept = { id, ttl: ttlSeconds, nextSendAt: now, expiresAt: localDeadline(now, ttlSeconds), phase: 'kept', unanswered: [], subs: new Set() };
      this.leases.set(id, kept);
    }
    const sub: Subscriber = { onFinal, waiters: new Set() };
    kept.subs.add(sub);
    trace('lease', `keeping lease ${id} alive (ttl ${ttlSeconds} s, ${this.leases.size} leases)`);
    if (this.state === 'idle') this.stream.start();
    else if (this.state === 'open') this.sendDue();
    this.schedule();
    return {
      id,
      refreshOnce: (timeoutMs) => this.refreshOnce(id, sub, timeoutMs),
      remove: () => this.remove(id, sub),
    };
  }

  /** Ends everything: cancels the stream and timers, rejects pending refreshes with ClientClosedError. */
  close(): void {
    if (this.state === 'closed') return;
    const call = this.stream.close();
    this.clearTimer();
    call?.cancel();
    for (const kept of this.leases.values()) {
      for (const sub of kept.subs) this.rejectWaiters(sub, new ClientClosedError());
    }
    this.leases.clear();
    trace('lease', 'keepalive engine closed');
  }

  private refreshOnce(id: bigint, sub: Subscriber, timeoutMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (this.state === 'closed') return reject(new ClientClosedError());
      const kept = this.leases.get(id);
      if (!kept || !kept.subs.has(sub)) return reject(cancelledError(id));
      const waiter: Waiter = {
        resolve,
        reject,
        timer: this.deps.setTimer(() => {
          sub.waiters.delete(waiter);
          reject(refreshFailure(id, ERROR_GRPC_DEADLINE_EXCEEDED, 'gRPC timeout'));
        }, timeoutMs),
      };
      sub.waiters.add(waiter);
      if (this.state === 'open') this.send(kept);
      this.schedule();
    });
  }

  private remove(id: bigint, sub: Subscriber): void {
    const kept = this.leases.get(id);
    if (!kept || !kept.subs.delete(sub)) return;
    this.rejectWaiters(sub, cancelledError(id));
    if (kept.subs.size === 0) {
      this.leases.delete(id);
      trace('lease', `stopped keeping lease ${id} alive`);
      if (this.leases.size === 0) this.goIdle();
      else this.schedule();
    }
  }

  private rejectWaiters(sub: Subscriber, err: Error): void {
    for (const w of sub.waiters) {
      this.deps.clearTimer(w.timer);
      w.reject(err);
    }
    sub.waiters.clear();
  }

  /** The lease stopped for good: tell every subscriber once, then forget it. */
  private fail(kept: Kept, err: Error): void {
    if (this.leases.get(kept.id) !== kept) return;
    this.leases.delete(kept.id);
    trace('lease', `lease ${kept.id} stopped: ${err.message}`);
    for (const sub of kept.subs) {
      sub.onFinal(err);
      this.rejectWaiters(sub, err);
    }
    kept.subs.clear();
  }

  private goIdle(): void {
    if (this.state === 'closed') return;
    const call = this.stream.stop('no leases left');
    this.clearTimer();
    if (call) {
      // etcd ends the stream once we half-close; the cancel is only a backstop in case it does not.
      call.end();
      this.deps.setTimer(() => call.cancel(), 2000, true);
    }
    trace('lease', 'no leases left: stream ended, engine idle');
  }

  private onOpen(): void {
    this.streamsOpened++;
    trace('lease', `keepalive stream open (#${this.streamsOpened}), ${this.leases.size} leases`);
    // Requests sent on an earlier stream will never be answered; re-send every lease at once.
    const now = this.deps.now();
    this.inFlight.length = 0;
    for (const kept of this.leases.values()) {
      kept.unanswered.length = 0;
      kept.nextSendAt = now;
    }
    this.sendDue();
    this.schedule();
  }

  private send(kept: Kept): void {
    const now = this.deps.now();
    this.stream.call!.write({ ID: kept.id });
    this.inFlight.push(kept.id);
    kept.unanswered.push(now);
    kept.nextSendAt = now + refreshIntervalMs(kept.ttl);
  }

  /**
   * Sends every keepalive that is due, and those due within a quarter of their interval: a refresh a little
   * early costs nothing, and leases granted close together then share one wake-up and one burst of writes
   * instead of one timer each (1,000 leases: a few wake-ups per interval, not 1,000).
   */
  private sendDue(): void {
    const now = this.deps.now();
    for (const kept of this.leases.values()) {
      if (kept.nextSendAt <= now + refreshIntervalMs(kept.ttl) / 4) this.send(kept);
    }
  }

  private onMessage(res: LeaseKeepAliveResponse): void {
    this.inFlight.shift();
    const kept = this.leases.get(res.ID);
    if (!kept) return; // answer for a lease removed meanwhile
    const now = this.deps.now();
    const sentAt = kept.unanswered.shift() ?? now;
    const ttl = Number(res.TTL);
    if (ttl <= 0) {
      if (kept.phase === 'doubt') trace('lease', `lease ${kept.id} in doubt: etcd answers it is gone`);
      this.fail(kept, new LeaseExpiredError(kept.id));
      if (this.leases.size === 0) this.goIdle();
      else this.schedule();
      return;
    }
    if (kept.phase === 'doubt') {
      kept.phase = 'kept';
      this.confirmedAlive++;
      trace('lease', `lease ${kept.id} in doubt: etcd answers it is alive (TTL ${ttl} s), ${Math.round(now - kept.expiresAt)} ms past its local deadline; carrying on`);
    }
    kept.ttl = ttl;
    kept.expiresAt = localDeadline(sentAt, ttl);
    kept.nextSendAt = now + refreshIntervalMs(ttl);
    for (const sub of kept.subs) {
      for (const w of sub.waiters) {
        this.deps.clearTimer(w.timer);
        w.resolve(ttl);
      }
      sub.waiters.clear();
    }
    // An answer only moves this lease's times later, so a pending timer is still early enough (it recomputes
    // when it fires); rescheduling on every answer would cost O(leases) per answer.
    if (this.timer === undefined) this.schedule();
  }

  /**
   * The stream ended; the machine's verdict comes in. etcd 3.5.28+/3.6.9+/3.7 refuse a keepalive unless the user
   * may put every key attached to the lease, and end the whole stream to say so: only the lease of the refused
   * request is lost (the error is final: asking again gets the same answer); the others did nothing wrong and
   * carry on over a new stream.
   */
  private onStreamEnd(err: unknown, verdict: EndVerdict): EndVerdict {
    if (this.leases.size === 0) {
      this.goIdle();
      return verdict;
    }
    if (typeof verdict === 'object' && verdict.halt.code === ERROR_GRPC_PERMISSION_DENIED && this.inFlight.length > 0) {
      const refused = this.leases.get(this.inFlight[0]!);
      trace('lease', `keepalive of lease ${this.inFlight[0]} refused: ${verdict.halt.details}`);
      if (refused) this.fail(refused, refreshFailure(refused.id, verdict.halt.code, verdict.halt.details));
      if (this.leases.size === 0) this.goIdle();
      return 'retry';
    }
    return verdict;
  }

  /** The stream failed for good: every lease is lost with its status. */
  private halt(status: GrpcStatusError): void {
    trace('lease', `keepalive stream failed for good: ${status.code} ${status.details}`);
    for (const kept of [...this.leases.values()]) this.fail(kept, refreshFailure(kept.id, status.code, status.details));
    this.goIdle();
  }

  /** The stream is lost and reopens after `wait` (the machine's timer); lease deadlines keep running meanwhile. */
  private onLost(err: unknown, wait: number): void {
    if (this.leases.size === 0) return this.goIdle();
    const status = err instanceof GrpcStatusError ? err : null;
    trace('lease', `keepalive stream ${status ? `failed (${status.code} ${status.details})` : err === null ? 'ended by the server' : `failed (${String((err as Error)?.message ?? err)})`}; reconnecting in ${wait} ms`);
    this.schedule();
  }

  /** Timer callback: put overdue leases in doubt or report them lost, send due keepalives, reconnect when due. */
  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.state === 'closed' || this.state === 'idle') return;
    const now = this.deps.now();
    for (const kept of [...this.leases.values()]) {
      // Without a grace there is no doubt phase: the lease is reported lost at its local deadline.
      if (kept.phase === 'kept' && now >= kept.expiresAt && this.graceMs > 0) {
        kept.phase = 'doubt';
        this.doubts++;
        trace('lease', `lease ${kept.id}: no answer within its TTL (${kept.ttl} s, stream ${this.state}); in doubt, still refreshing, reported lost in ${Math.round(deadlineAt(kept, this.graceMs) - now)} ms unless etcd answers`);
      }
      if (now >= deadlineAt(kept, this.graceMs)) this.fail(kept, unconfirmed(kept.id, kept.ttl, this.graceMs));
    }
    if (this.leases.size === 0) return this.goIdle();
    if (this.state === 'open' && stalledAt(this.leases.values()) <= now) return this.restartStalled();
    if (this.state === 'open') this.sendDue();
    this.schedule();
  }

  /**
   * The stream's member stopped answering (etcd answers keepalives of one stream in order, so one hung renewal
   * holds up the rest): drop the stream and open a new one at once, which the balancer puts on the next member.
   * No backoff: the stall timeout already spaces these restarts at least 500 ms apart.
   */
  private restartStalled(): void {
    const oldest = Math.min(...[...this.leases.values()].map((k) => k.unanswered[0] ?? Infinity));
    trace('lease', `no keepalive answer for ${Math.round(this.deps.now() - oldest)} ms: stream stalled, reopening`);
    this.stream.reopenNow('stalled');
  }

  /** Sets the one timer to the earliest next action. */
  private schedule(): void {
    if (this.state === 'closed' || this.state === 'idle') return this.clearTimer();
    // The reopen after a backoff is the stream machine's own timer; this one serves the leases.
    let at = nextWakeAt(this.leases.values(), this.state === 'open', undefined, this.graceMs);
    if (this.state === 'open') at = Math.min(at, stalledAt(this.leases.values()));
    if (at === this.timerAt && this.timer !== undefined) return;
    this.clearTimer();
    if (at === Infinity) return;
    this.timerAt = at;
    this.timer = this.deps.setTimer(() => this.onTimer(), Math.max(0, at - this.deps.now()));
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.deps.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }
}

/** @internal Where a Connection keeps its keeper; unit tests put one on a fake clock here before first use. */
export const LEASE_KEEPER = new ClientSlot<LeaseKeeper>('lease keeper');

/** @internal The client's keepalive engine, created on first use and closed with the client. */
export function leaseKeeper(conn: Connection): LeaseKeeper {
  return conn.slot(LEASE_KEEPER, () => {
    conn.assertOpen();
    const k = new LeaseKeeper({
      open: (handlers) => conn.openStream(LeaseService.leaseKeepAlive, handlers, undefined, true),
      // The real clock caps timers (a huge TTL or Check timeout would otherwise fire at once); the engine
      // re-arms a timer that fired early.
      now: REAL_CLOCK.now,
      setTimer: REAL_CLOCK.setTimer,
      clearTimer: REAL_CLOCK.clearTimer,
      backoff: (attempt) => backoffDelay(STREAM_REOPEN, attempt),
      lossGraceMs: conn.keepAliveGraceMs,
      renewToken: () => conn.auth?.invalidate(undefined),
    });
    conn.track({ close: () => k.close() });
    return k;
  });
}
