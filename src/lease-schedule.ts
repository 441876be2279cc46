// The lease keeper's pure rules, apart from its stream: when a lease is refreshed, when its stream counts as
// stalled, when it must be reported lost (its local deadline, and the optional grace after it), and the errors
// a lost lease is reported with. No state and no timers: unit-tested as plain functions.

import { ERROR_GRPC_DEADLINE_EXCEEDED, KeepAliveError } from './errors';

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

/**
 * Per lease: `kept` until its local deadline passes unrefreshed, then `doubt` until etcd answers or the grace ends.
 *
 * A keepalive is sent when it is added, a third of its TTL after each answer (at least 500 ms
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
 */
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
export function refreshFailure(id: bigint, code: number, message: string): KeepAliveError {
  return new KeepAliveError(id, `Failed to refresh lease: error code: ${code}, message: ${message}`, code);
}

/** The lease got no answer within its TTL (plus the grace): reported lost with code 4. */
export function unconfirmed(id: bigint, ttlSeconds: number, graceMs: number): KeepAliveError {
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

/** @internal One subscriber of a lease (a KeepAlive). */
export interface Subscriber {
  /** Called once, when the lease stops for good (never after `remove()`). */
  readonly onFinal: (err: Error) => void;
  readonly waiters: Set<Waiter>;
}

/** @internal A pending `refreshOnce`. */
export interface Waiter {
  resolve(ttl: number): void;
  reject(err: Error): void;
  timer: unknown;
}

/** @internal One lease the keeper keeps alive, with its subscribers. */
export interface Kept {
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

/** When the oldest unanswered keepalive on the open stream counts as stalled (Infinity: none pending). */
export function stalledAt(leases: Iterable<Pick<Kept, 'ttl' | 'unanswered'>>): number {
  let at = Infinity;
  for (const kept of leases) {
    const oldest = kept.unanswered[0];
    if (oldest !== undefined) at = Math.min(at, oldest + stallTimeoutMs(kept.ttl));
  }
  return at;
}
