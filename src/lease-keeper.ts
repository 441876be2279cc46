// The lease keepalive engine: every lease a client keeps alive shares one LeaseKeepAlive stream, run by the
// client's LeaseKeeper. The C++-shaped KeepAlive (keepalive.ts) and the locks (lock.ts) subscribe to it; this
// module knows nothing of either.

import {
  LeaseService,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
} from '../generated/etcdserver/etcdserverpb/rpc';
import { ClientSlot, type Connection } from './connection';
import {
  ClientClosedError,
  ERROR_GRPC_DEADLINE_EXCEEDED,
  ERROR_GRPC_PERMISSION_DENIED,
  ERROR_GRPC_UNKNOWN,
  GrpcStatusError,
  KeepAliveError,
  LeaseExpiredError,
  needsNewToken,
} from './errors';
import { backoffMs, streamMayReopen } from './retry';
import { StreamSession } from './stream-session';
import { timerDelay } from './timers';
import { trace } from './trace';
import type { StreamCall, StreamHandlers } from './transport/transport';

// ---- pure scheduling rules (unit-tested) -------------------------------------------------------------

/** Never refresh one lease more often than this, however short its TTL (Go's client: 500 ms). */
export const MIN_REFRESH_INTERVAL_MS = 500;

/** How long after a refresh the next one is due: a third of the TTL (as etcd's Go client), at least 500 ms. */
export function refreshIntervalMs(ttlSeconds: number): number {
  return Math.max(MIN_REFRESH_INTERVAL_MS, (ttlSeconds * 1000) / 3);
}

/**
 * How long a keepalive may stay unanswered before the stream is taken for stalled and reopened: a sixth of the
 * TTL, at least 500 ms. A member stopped with SIGSTOP (or behind a dead link) keeps the stream open and silent,
 * and HTTP/2 keepalive pings, which etcd allows only every 5 s, notice that too late for a short lease; a new
 * stream is balanced onto another member and re-sends every lease at once.
 */
export function stallTimeoutMs(ttlSeconds: number): number {
  return Math.max(MIN_REFRESH_INTERVAL_MS, (ttlSeconds * 1000) / 6);
}

/**
 * The earliest moment the server may have expired the lease if no later refresh succeeds. Counted from when the
 * answered request was *sent* (the server renewed the lease at some point after that), so the local deadline is
 * never later than the server's. A TTL of 0 means "not known yet" (no local deadline).
 */
export function localDeadline(sentAt: number, ttlSeconds: number): number {
  return ttlSeconds > 0 ? sentAt + ttlSeconds * 1000 : Infinity;
}

/**
 * The grace a client opts into with `keepAliveGraceMs` (ClientOptions) — the default is 0: a lease is reported
 * lost the moment its local deadline passes, as C++ and Go report it, which is what a lock or leader holder
 * needs (act as if the lease is gone before etcd can have expired it). With a grace, a lease whose deadline
 * passes is put *in doubt* — still refreshed, not reported — and reported lost only when etcd says so or when
 * the grace ends without any answer. A passed deadline often is a false alarm: a new raft leader extends every
 * lease when it takes over, and with no leader etcd cannot expire leases either. 5 s covers an election
 * (1–2.5 s with etcd's defaults) plus a reconnect, even for a 3 s lease; it is also how late a lease that
 * really expired while the client was cut off may then be reported.
 */
export const LOSS_GRACE_MS = 5000;

/** Per lease: `kept` until its local deadline passes unrefreshed, then `doubt` until etcd answers or the grace ends. */
export type LeasePhase = 'kept' | 'doubt';

/** When the engine must next act on a lease's deadline: enter doubt (kept), or report it lost (doubt). */
export function deadlineAt(l: { expiresAt: number; phase: LeasePhase }, graceMs: number): number {
  return l.phase === 'kept' ? l.expiresAt : l.expiresAt + graceMs;
}

/** The engine's next wake-up: the earliest send, deadline or reconnect still ahead (Infinity: none). */
export function nextWakeAt(
  leases: Iterable<{ nextSendAt: number; expiresAt: number; phase: LeasePhase }>,
  sending: boolean,
  reconnectAt: number | undefined,
  graceMs: number,
): number {
  let at = reconnectAt ?? Infinity;
  for (const l of leases) {
    at = Math.min(at, deadlineAt(l, graceMs));
    if (sending) at = Math.min(at, l.nextSendAt);
  }
  return at;
}

/** C++ wording of a failed refresh (`std::runtime_error` in refresh_once). */
function refreshFailure(id: bigint, code: number, message: string): KeepAliveError {
  return new KeepAliveError(id, `Failed to refresh lease: error code: ${code}, message: ${message}`, code);
}

function unconfirmed(id: bigint, ttlSeconds: number, graceMs: number): KeepAliveError {
  const within = graceMs > 0 ? `its TTL (${ttlSeconds} s) + ${graceMs / 1000} s grace` : `its TTL (${ttlSeconds} s)`;
  return new KeepAliveError(
    id,
    `Failed to refresh lease: no answer from etcd for lease ${id} within ${within} (etcd unreachable or without a leader); assuming it expired`,
    ERROR_GRPC_DEADLINE_EXCEEDED,
  );
}

/** The error a subscriber gets when its keepalive is cancelled before it settled. */
export function cancelledError(id: bigint): KeepAliveError {
  return new KeepAliveError(id, `KeepAlive of lease ${id} was cancelled`);
}

// ---- the engine --------------------------------------------------------------------------------------

/** What the engine needs from the outside world; injected so unit tests can drive it with a fake clock. */
export interface KeeperDeps {
  /** Opens a LeaseKeepAlive stream (rejects with ClientClosedError or an authentication failure). */
  open(handlers: StreamHandlers<LeaseKeepAliveResponse>): Promise<StreamCall<LeaseKeepAliveRequest>>;
  now(): number;
  /** A timer; `weak` ones must not keep the process alive. */
  setTimer(fn: () => void, ms: number, weak?: boolean): unknown;
  clearTimer(handle: unknown): void;
  /** Delay before reconnect attempt `attempt` (0-based). */
  backoff(attempt: number): number;
  /** Called when the server rejected the auth token; the next open should authenticate again. */
  renewToken?(): void;
  /** How long a lease stays in doubt past its local deadline before it is reported lost (default 0: none). */
  lossGraceMs?: number;
}

/** One subscriber of a lease (a KeepAlive). */
interface Subscriber {
  /** Called once, when the lease stops for good (never after `remove()`). */
  readonly onFinal: (err: Error) => void;
  readonly waiters: Set<Waiter>;
}

interface Waiter {
  resolve(ttl: number): void;
  reject(err: Error): void;
  timer: unknown;
}

interface Kept {
  readonly id: bigint;
  /** Seconds; from the last response (initially what the subscriber said; 0 = unknown). */
  ttl: number;
  nextSendAt: number;
  /** The local deadline: `sent + TTL` of the last answered keepalive (Infinity while the TTL is unknown). */
  expiresAt: number;
  /** `doubt` once `expiresAt` passed without an answer: still refreshed, reported lost at `expiresAt + grace`. */
  phase: LeasePhase;
  /** Send times of the requests on the current stream not answered yet, oldest first. */
  readonly unanswered: number[];
  readonly subs: Set<Subscriber>;
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

type KeeperState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

/**
 * Keeps every lease of one client alive over a single LeaseKeepAlive stream (etcd's Go client `lease.go`); the
 * refresh and its verdicts mirror C++ `etcd::KeepAlive::refresh_once` (TTL 0 → `std::out_of_range`, no answer →
 * `std::runtime_error`), minus its one-stream-for-life limitation.
 *
 * | state      | what holds                          | → next                                                   |
 * |------------|-------------------------------------|----------------------------------------------------------|
 * | Idle       | no leases, no stream, no timer      | a lease is added → Connecting                            |
 * | Connecting | stream being opened (token fetch)   | opened → Open; fails transiently → Backoff; else fail all |
 * | Open       | stream up, timer on next send/expiry| stream ends cleanly or transiently → Backoff; other → fail all |
 * | Backoff    | no stream, timer on reconnect/expiry| timer → Connecting                                       |
 * | any        |                                     | last lease removed or failed → Idle (stream end()ed)     |
 * | any        |                                     | client closed → Closed (final; stream cancelled)         |
 *
 * Per lease: a keepalive is sent when it is added, a third of its TTL after each answer (at least 500 ms
 * apart), and again for every lease right after the stream reopens. Each answer moves the local deadline to
 * `sent + TTL`; the deadline keeps running while disconnected.
 *
 * | lease phase | what holds                                 | → next                                                |
 * |-------------|--------------------------------------------|-------------------------------------------------------|
 * | kept        | answered within its TTL                    | local deadline passes unanswered → doubt (traced)     |
 * | doubt       | etcd may still have it; still re-sent, the | answer TTL > 0 → kept (traced: a false alarm avoided); |
 * |             | stream reconnects / reopens as usual       | local deadline + grace passes → lost (grace 0: at once) |
 * | any         |                                            | answer TTL ≤ 0, or non-transient stream error → lost  |
 *
 * The contract, per lease:
 * - **Lost is reported when etcd says so, or when the local deadline (plus the grace) passes.** etcd answers a
 *   keepalive for a lease it no longer has with TTL ≤ 0 (LeaseExpiredError, at once, in any phase); a
 *   non-transient stream error gives KeepAliveError with its code. Without an answer — no member reachable, or
 *   none with a leader — it is reported lost (KeepAliveError code 4) at `sent + TTL` of the last answered
 *   keepalive (never later than etcd could expire it), or, with a grace (`keepAliveGraceMs`, see
 *   LOSS_GRACE_MS), at `sent + TTL + grace`, unless an answer in between settles the doubt.
 * - **Disconnects** do not stop the deadline: the stream reconnects with backoff (or reopens at once when
 *   stalled) and re-sends every lease, which is how a lease in doubt is verified once a connection works.
 * - **close()** (idempotent) reports nothing: it cancels the stream and the one timer and rejects pending
 *   refreshes with ClientClosedError. With no lease left the engine is idle and holds no strong timer.
 */
export class LeaseKeeper {
  private state: KeeperState = 'idle';
  private readonly leases = new Map<bigint, Kept>();
  private readonly stream = new StreamSession<LeaseKeepAliveRequest, LeaseKeepAliveResponse>((handlers) => this.deps.open(handlers), {
    onOpen: () => {
      this.state = 'open';
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
    },
    onMessage: (m) => this.onMessage(m),
    onClose: (err) => this.onStreamClosed(err),
  });
  /**
   * The lease ids of the requests on the current stream not answered yet, in the order sent. etcd answers a
   * keepalive stream's requests one at a time, in order (a lease it does not know gets TTL 0), so when it ends
   * the stream refusing one request, that request is the first here.
   */
  private readonly inFlight: bigint[] = [];
  private attempt = 0;
  /** The token was renewed after a token error and no answer has arrived since (renew once, then give up). */
  private renewedToken = false;
  private reconnectAt: number | undefined;
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
  }

  /** The current state (for tests and tracing). */
  get currentState(): KeeperState {
    return this.state;
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
    if (this.state === 'idle') this.connect();
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
    this.state = 'closed';
    const call = this.stream.detach();
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
    this.state = 'idle';
    const call = this.stream.detach();
    this.attempt = 0;
    this.reconnectAt = undefined;
    this.clearTimer();
    if (call) {
      // etcd ends the stream once we half-close; the cancel is only a backstop in case it does not.
      call.end();
      this.deps.setTimer(() => call.cancel(), 2000, true);
    }
    trace('lease', 'no leases left: stream ended, engine idle');
  }

  private connect(): void {
    this.state = 'connecting';
    this.reconnectAt = undefined;
    this.stream.open();
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
    this.attempt = 0;
    this.renewedToken = false;
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

  private onStreamClosed(err: unknown): void {
    this.stream.detach();
    if (this.state === 'closed' || this.state === 'idle') return;
    if (err instanceof ClientClosedError) return; // the client's close() closes us too
    if (this.leases.size === 0) return this.goIdle();
    const status = err === null ? null : err instanceof GrpcStatusError ? err : new GrpcStatusError(ERROR_GRPC_UNKNOWN, String((err as Error)?.message ?? err));
    if (status && needsNewToken(status) && this.deps.renewToken && !this.renewedToken) {
      // The token expired or the auth store changed: authenticate again for the next stream, once.
      this.renewedToken = true;
      this.deps.renewToken();
    } else if (status?.code === ERROR_GRPC_PERMISSION_DENIED && this.inFlight.length > 0) {
      // etcd 3.5.28+/3.6.9+/3.7 refuse a keepalive unless the user may put every key attached to the lease, and
      // end the whole stream to say so. Only the lease of the refused request is lost (the error is final: asking
      // again gets the same answer); the others did nothing wrong and carry on over a new stream.
      const refused = this.leases.get(this.inFlight[0]!);
      trace('lease', `keepalive of lease ${this.inFlight[0]} refused: ${status.details}`);
      if (refused) this.fail(refused, refreshFailure(refused.id, status.code, status.details));
      if (this.leases.size === 0) return this.goIdle();
    } else if (status && !streamMayReopen(status)) {
      trace('lease', `keepalive stream failed for good: ${status.code} ${status.details}`);
      for (const kept of [...this.leases.values()]) this.fail(kept, refreshFailure(kept.id, status.code, status.details));
      return this.goIdle();
    }
    this.state = 'backoff';
    const wait = this.deps.backoff(this.attempt++);
    this.reconnectAt = this.deps.now() + wait;
    trace('lease', `keepalive stream ${status ? `failed (${status.code} ${status.details})` : 'ended by the server'}; reconnecting in ${wait} ms`);
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
    if (this.state === 'open' && this.stalledAt() <= now) return this.restartStalled();
    if (this.state === 'open') this.sendDue();
    else if (this.state === 'backoff' && this.reconnectAt !== undefined && now >= this.reconnectAt) this.connect();
    this.schedule();
  }

  /** When the oldest unanswered keepalive on the open stream counts as stalled (Infinity: none pending). */
  private stalledAt(): number {
    let at = Infinity;
    for (const kept of this.leases.values()) {
      const oldest = kept.unanswered[0];
      if (oldest !== undefined) at = Math.min(at, oldest + stallTimeoutMs(kept.ttl));
    }
    return at;
  }

  /**
   * The stream's member stopped answering (etcd answers keepalives of one stream in order, so one hung renewal
   * holds up the rest): drop the stream and open a new one at once, which the balancer puts on the next member.
   * No backoff: the stall timeout already spaces these restarts at least 500 ms apart.
   */
  private restartStalled(): void {
    const oldest = Math.min(...[...this.leases.values()].map((k) => k.unanswered[0] ?? Infinity));
    trace('lease', `no keepalive answer for ${Math.round(this.deps.now() - oldest)} ms: stream stalled, reopening`);
    this.stream.detach()?.cancel();
    this.connect();
  }

  /** Sets the one timer to the earliest next action. */
  private schedule(): void {
    if (this.state === 'closed' || this.state === 'idle') return this.clearTimer();
    let at = nextWakeAt(this.leases.values(), this.state === 'open', this.state === 'backoff' ? this.reconnectAt : undefined, this.graceMs);
    if (this.state === 'open') at = Math.min(at, this.stalledAt());
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

const LEASE_KEEPER = new ClientSlot<LeaseKeeper>('lease keeper');

/** @internal The client's keepalive engine, created on first use and closed with the client. */
export function leaseKeeper(conn: Connection): LeaseKeeper {
  return conn.slot(LEASE_KEEPER, () => {
    conn.assertOpen();
    const k = new LeaseKeeper({
      open: (handlers) => conn.openStream(LeaseService.leaseKeepAlive, handlers, undefined, true),
      now: () => Date.now(),
      setTimer: (fn, ms, weak) => {
        // Capped (a huge TTL or Check timeout would otherwise fire at once); the engine re-arms a timer that
        // fired early.
        const t = setTimeout(fn, timerDelay(ms));
        if (weak) t.unref();
        return t;
      },
      clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
      backoff: backoffMs,
      lossGraceMs: conn.keepAliveGraceMs,
      renewToken: () => conn.auth?.invalidate(undefined),
    });
    conn.track({ close: () => k.close() });
    return k;
  });
}
