// The internal core of one Client: its transport, default timeout, auth token and everything it must close.
// Every call of every module goes through `unary` or `openStream` here, so closing, auth, deadlines and the
// retry table are applied in one place.

import { Auth } from './auth';
import { sleep } from './backoff';
import { ClientClosedError, ERROR_GRPC_DEADLINE_EXCEEDED, ERROR_GRPC_UNAVAILABLE, GrpcStatusError } from './errors';
import { attemptTimeoutMs, backoffMs, mayRetry, MAX_UNARY_ATTEMPTS, requiresLeader } from './retry';
import { classifyEnd } from './stream-end';
import type { MethodDescriptor, StreamCall, StreamHandlers, Transport } from './transport/transport';
import { MAX_TIMER_MS } from './timers';
import { trace } from './trace';

/** Anything a client owns that must end when it closes (watchers, keepalives, observers, engines). */
export interface Closeable {
  close(): Promise<void> | void;
}

/** The longest deadline we hand to a transport: the most a Node timer can wait (src/timers.ts). */
export const MAX_TIMEOUT_MS = MAX_TIMER_MS;

/** etcd's require-leader metadata (Go `WithRequireLeader`): a member without a raft leader refuses the call. */
const LEADER_METADATA: Readonly<Record<string, string>> = Object.freeze({ hasleader: 'true' });

export interface UnaryOptions {
  /** Apply the client's `set_grpc_timeout` deadline (default true). */
  timeout?: boolean;
  /** Apply the retry table (default true). */
  retry?: boolean;
  signal?: AbortSignal | undefined;
}

/**
 * A named piece of per-client state that a module keeps on the client's Connection — its engine (the watch
 * stream, the lease keepalive stream), a cache, a queue. The Connection holds it, so it lives and ends with its
 * client: no module keeps a table of clients. An engine in a slot registers its own close() with `track`.
 */
export class ClientSlot<T> {
  declare private readonly phantom: T;
  constructor(readonly name: string) {}
}

/** How close to the caller's deadline a server error counts as that deadline running out. */
const DEADLINE_SLACK_MS = 20;

export class Connection {
  /** Per-call deadline in ms; 0 = none (C++ `set_grpc_timeout`). */
  timeoutMs = 0;
  /** How long a kept-alive lease may stay unanswered past its TTL before it is reported lost (ClientOptions). */
  keepAliveGraceMs = 0;
  private closing: Promise<void> | undefined;
  private readonly resources = new Set<Closeable>();
  private readonly slots = new Map<ClientSlot<unknown>, unknown>();
  private readonly closeController = new AbortController();
  readonly auth: Auth | undefined;

  constructor(
    readonly transport: Transport,
    credentials?: { username: string; password: string; ttlSeconds: number },
  ) {
    this.auth = credentials
      ? new Auth(transport, credentials.username, credentials.password, credentials.ttlSeconds, () => this.deadline())
      : undefined;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Aborted when the client closes: engines and backoff sleeps listen to it. */
  get closeSignal(): AbortSignal {
    return this.closeController.signal;
  }

  /** Throws ClientClosedError if the client is closed. */
  assertOpen(what?: string): void {
    if (this.closing) throw new ClientClosedError(what);
  }

  /**
   * The absolute deadline of a call starting now, from `set_grpc_timeout`. A timeout beyond MAX_TIMEOUT_MS (24.8
   * days) is cut to it: gRPC cannot express a deadline ~11,000 years ahead (grpc-js throws from inside the call,
   * crashing the process), and no timer holds more.
   */
  deadline(): number | undefined {
    return this.timeoutMs > 0 ? Date.now() + Math.min(this.timeoutMs, MAX_TIMEOUT_MS) : undefined;
  }

  /** The value in `slot`, made by `create` on first use. */
  slot<T>(slot: ClientSlot<T>, create: () => T): T {
    if (this.slots.has(slot)) return this.slots.get(slot) as T;
    const value = create();
    this.slots.set(slot, value);
    return value;
  }

  /** The value in `slot`, or undefined when nothing was put there yet. */
  peekSlot<T>(slot: ClientSlot<T>): T | undefined {
    return this.slots.get(slot) as T | undefined;
  }

  /** Puts `value` in `slot`. */
  setSlot<T>(slot: ClientSlot<T>, value: T): void {
    this.slots.set(slot, value);
  }

  /** Registers something to close with the client; returns a function that unregisters it. */
  track(resource: Closeable): () => void {
    this.resources.add(resource);
    return () => this.resources.delete(resource);
  }

  /** The metadata for a call: the auth token, when the client has credentials (and the server wants one). */
  async metadata(): Promise<Record<string, string> | undefined> {
    if (!this.auth) return undefined;
    const token = await this.auth.token();
    return token === '' ? undefined : { token };
  }

  /**
   * The token for one attempt of a unary call. When Authenticate fails, the call itself never left this process,
   * so its error is marked unsent: the retry table may then retry even a write (on UNAVAILABLE).
   */
  private async callToken(auth: Auth): Promise<string> {
    try {
      return await auth.token();
    } catch (err) {
      if (err instanceof GrpcStatusError && err.sent !== false) throw new GrpcStatusError(err.code, err.details, false, err.localDeadline);
      throw err;
    }
  }

  /**
   * Sends one request. Rejects with ClientClosedError when the client is (or gets) closed, otherwise with the
   * GrpcStatusError of the last attempt. Retries what the retry table allows, renews a stale token once.
   * Calls that need a raft leader carry `hasleader`; an attempt of a safe call that gets no answer within its
   * per-attempt deadline counts as UNAVAILABLE and is retried (retry.ts explains both).
   */
  async unary<Req, Res>(method: MethodDescriptor<Req, Res>, request: Req, options: UnaryOptions = {}): Promise<Res> {
    this.assertOpen();
    const deadline = options.timeout === false ? undefined : this.deadline();
    const leader = requiresLeader(method.path) ? LEADER_METADATA : undefined;
    let renewedToken = false;
    for (let attempt = 1; ; attempt++) {
      let token: string | undefined;
      const perAttempt = options.retry === false ? undefined : attemptTimeoutMs(method.path, attempt);
      const attemptDeadline = perAttempt === undefined ? deadline : Math.min(deadline ?? Infinity, Date.now() + perAttempt);
      try {
        if (this.auth) token = await this.callToken(this.auth);
        const metadata = token ? { ...leader, token } : leader;
        // etcd is told the caller's deadline only; the per-attempt one is ours to keep (a local timer whose
        // expiry resets the stream, which ends etcd's work on it as well).
        const localDeadline = attemptDeadline !== deadline ? attemptDeadline : undefined;
        return await this.transport.unary(method, request, { deadline, localDeadline, metadata, signal: options.signal });
      } catch (caught) {
        if (this.closing) throw new ClientClosedError();
        if (options.signal?.aborted) throw caught;
        let err = caught;
        // etcd is told the caller's deadline and may give up a moment before our own timer fires, in its own
        // words ("context deadline exceeded", code 2): an answer at a deadline is that deadline running out.
        const attemptExpired =
          err instanceof GrpcStatusError &&
          attemptDeadline !== undefined &&
          (err.code === ERROR_GRPC_DEADLINE_EXCEEDED || Date.now() >= attemptDeadline - DEADLINE_SLACK_MS);
        if (attemptExpired && attemptDeadline !== deadline && (deadline === undefined || Date.now() < deadline)) {
          // Our per-attempt deadline, not the caller's: the member did not answer in time.
          err = new GrpcStatusError(ERROR_GRPC_UNAVAILABLE, `etcd-apiv3: no answer from the member within ${perAttempt} ms`);
        } else if (err instanceof GrpcStatusError && !err.localDeadline && deadline !== undefined && Date.now() >= deadline - DEADLINE_SLACK_MS) {
          err = new GrpcStatusError(ERROR_GRPC_DEADLINE_EXCEEDED, 'Deadline exceeded', err.sent, true);
        }
        // The token branch of the one end rule (stream-end.ts): renewed once per call.
        if (this.auth && classifyEnd(err, { tokenRenewed: renewedToken }) === 'renew-token') {
          trace('auth', `renewing token after: ${(err as GrpcStatusError).details}`);
          renewedToken = true;
          this.auth.invalidate(token);
          continue;
        }
        if (options.retry === false || attempt >= MAX_UNARY_ATTEMPTS || !mayRetry(method.path, err)) throw err;
        const wait = backoffMs(attempt - 1);
        if (deadline !== undefined && Date.now() + wait >= deadline) throw err;
        trace('retry', `${method.path} attempt ${attempt} failed (${(err as GrpcStatusError).details}); retrying in ${wait} ms`);
        await this.sleep(wait);
        if (this.closing) throw new ClientClosedError();
      }
    }
  }

  /**
   * Opens a stream with the current token. Rejects with ClientClosedError when closed, or with the
   * authentication failure; later failures arrive through `handlers.onClose`.
   *
   * `requireLeader` adds etcd's `hasleader` metadata: a member that loses its raft leader then ends the
   * stream (UNAVAILABLE "no leader") instead of leaving it silent, so watches and keepalives fail over.
   */
  async openStream<Req, Res>(
    method: MethodDescriptor<Req, Res>,
    handlers: StreamHandlers<Res>,
    request?: Req,
    requireLeader = false,
  ): Promise<StreamCall<Req>> {
    this.assertOpen();
    let metadata = await this.metadata();
    this.assertOpen();
    if (requireLeader) metadata = metadata ? { ...metadata, ...LEADER_METADATA } : LEADER_METADATA;
    return this.transport.stream(method, { metadata }, handlers, request);
  }

  /** Resolves after `ms`, or early when the client closes (a ref'd timer: a call is waiting on it). */
  sleep(ms: number): Promise<void> {
    return sleep(ms, this.closeSignal);
  }

  /**
   * Closes every tracked resource (watchers, keepalives, observers), then the transport. Idempotent: every
   * call returns the same promise.
   */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.closeController.abort(new ClientClosedError());
      const all = [...this.resources];
      this.resources.clear();
      await Promise.allSettled(all.map((r) => r.close()));
      this.transport.close();
    })());
  }
}
