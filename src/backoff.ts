// Every backoff curve of the client, named in one place with the reason for its numbers, and the two helpers
// that use them: the pure delay of one attempt and an abortable sleep. A bottom-layer utility: it imports only
// the timer cap, so the transport, the engines and discovery may all use it.

import { timerDelay } from './timers';

/** A backoff curve: `initialMs` doubling per attempt up to `maxMs`, each delay scaled by 1 ± `jitter`. */
export interface BackoffPolicy {
  readonly name: string;
  readonly initialMs: number;
  readonly maxMs: number;
  /** The fraction a delay may move either way (0.25: ±25 %), so clients that failed together retry apart. */
  readonly jitter: number;
}

/**
 * Between two attempts of a unary call (retry.ts): short, because a call waits on it and a raft election (the
 * usual cause) is over in 1–2 s; 50 ms doubling to 1 s, ±25 %.
 */
export const UNARY_RETRY: BackoffPolicy = Object.freeze({ name: 'unary-retry', initialMs: 50, maxMs: 1000, jitter: 0.25 });

/**
 * Before reopening a long-lived stream (watch, lease keepalive, election observe) that ended: the same curve as
 * a unary retry, because a watcher or a lease waits on it just as a call does, and a lease's deadline keeps
 * running meanwhile; 50 ms doubling to 1 s, ±25 %.
 */
export const STREAM_REOPEN: BackoffPolicy = Object.freeze({ name: 'stream-reopen', initialMs: 50, maxMs: 1000, jitter: 0.25 });

/**
 * Between attempts of discovery's registration and resolver while etcd is unreachable: slower than a call,
 * since nobody waits on each attempt and a whole fleet of services may retry at once; 100 ms doubling to 2 s, ±25 %.
 */
export const DISCOVERY_RETRY: BackoffPolicy = Object.freeze({ name: 'discovery-retry', initialMs: 100, maxMs: 2000, jitter: 0.25 });

/**
 * Before the HTTP/2 transport connects again to an endpoint that refused or dropped its connection: pending
 * calls wait on it, but a dead endpoint must not be hammered; 100 ms doubling to 1 s, ±20 %.
 */
export const HTTP2_CONNECT: BackoffPolicy = Object.freeze({ name: 'http2-connect', initialMs: 100, maxMs: 1000, jitter: 0.2 });

/**
 * The delay before attempt `attempt` (0-based) under `policy`, in whole ms: `min(max, initial · 2^attempt)`
 * scaled by `1 - jitter + 2 · jitter · random()`. Pure: `random` (default Math.random, read at each call)
 * returns a number in [0, 1).
 */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** attempt);
  return Math.round(base * (1 - policy.jitter + random() * 2 * policy.jitter));
}

/** Options of {@link sleep}. */
export interface SleepOptions {
  /** When false the timer does not keep the process alive (default true: someone is waiting on it). */
  readonly ref?: boolean;
}

/**
 * Resolves after `ms` (capped to what a Node timer can wait), or at once when `signal` aborts — already
 * aborted: immediately. Never rejects: the caller checks why it woke. The abort listener is removed either way.
 */
export function sleep(ms: number, signal?: AbortSignal, options: SleepOptions = {}): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, timerDelay(ms));
    if (options.ref === false) timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
