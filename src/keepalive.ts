// Keeping leases alive (C++ etcd::KeepAlive): a thin subscriber of the client's LeaseKeeper engine
// (lease-keeper.ts) that turns the engine's final verdict into the C++ contract (handler, Check, Cancel).
//
// KeepAlive takes a Client and Client.leasekeepalive returns a KeepAlive, as in C++. So that the modules still
// import one way (client.ts imports this one, never the reverse), KeepAlive names the client it needs by its
// shape (KeepAliveClient), and the Client class hands itself over once, when client.ts loads
// (provideClientClass), for the URL forms and the argument check.

import { describe, toFunction, toLeaseId, toNonNegativeInt, toTtl } from './args';
import type { Connection } from './connection';
import { ClientClosedError, KeepAliveError, LeaseNotReadyError } from './errors';
import { cancelledError, leaseKeeper, type KeptLease } from './lease-keeper';
import type { Response } from './response';

/**
 * What a KeepAlive uses of its client: a `Client` has all of it. (Named by shape so that keepalive.ts does not
 * import client.ts, which imports keepalive.ts.)
 */
export interface KeepAliveClient {
  /** @internal */
  readonly conn: Connection;
  leasegrant(ttl: number): Promise<Response>;
  leaserevoke(lease_id: number | bigint): Promise<Response>;
  close(): Promise<void>;
}

/** The Client class, as KeepAlive calls it: with an argument list its own checks have already read. */
type ClientClass = new (url: string, ...rest: unknown[]) => KeepAliveClient;
let clientClass: ClientClass | undefined;

/** @internal client.ts hands over the Client class when it loads (see the top of this file). */
export function provideClientClass(c: new (...args: never[]) => KeepAliveClient): void {
  // The URL forms pass exactly the argument lists Client's own constructor overloads accept (keepAliveArgs).
  clientClass = c as unknown as ClientClass;
}

function loadedClientClass(): ClientClass {
  if (!clientClass) throw new Error('etcd-apiv3: KeepAlive used before the Client class loaded (import from the package entry)');
  return clientClass;
}

/** Called at most once, when a KeepAlive stops for good: LeaseExpiredError or KeepAliveError. */
export type KeepAliveHandler = (error: Error) => void;

/** Check()'s refresh timeout when the client has none (`set_grpc_timeout(0)`). */
const DEFAULT_CHECK_TIMEOUT_MS = 5000;

function toClient(x: unknown): KeepAliveClient | string {
  if (typeof x === 'string' || x instanceof loadedClientClass()) return x as KeepAliveClient | string;
  throw new TypeError(`client must be a Client or an endpoint URL string, got ${describe(x)}`);
}

interface KeepAliveArgs {
  target: KeepAliveClient | string;
  /** For the URL forms: how to make the client (`new Client(url, ...clientArgs)`). */
  clientArgs: unknown[];
  handler?: KeepAliveHandler;
  ttl: number;
  /** 0n: grant one. */
  id: bigint;
}

/**
 * Reads every C++ `KeepAlive` argument list (the C++ constructors of etcd::KeepAlive): `(client | url, [handler,] ttl, lease_id = 0)`,
 * `(url, username, password, [handler,] ttl, lease_id = 0, auth_token_ttl = 300)` and
 * `(url, ca, cert, privkey, [handler,] ttl, lease_id = 0, target_name_override = "")`: the number of strings
 * after the URL (0, 2 or 3) tells the forms apart, as the C++ parameter types do.
 */
function keepAliveArgs(args: readonly unknown[]): KeepAliveArgs {
  const target = toClient(args[0]);
  let i = 1;
  const strings: string[] = [];
  while (typeof args[i] === 'string') strings.push(args[i++] as string);
  if (strings.length !== 0 && (typeof target !== 'string' || (strings.length !== 2 && strings.length !== 3))) {
    throw new TypeError(
      typeof target === 'string'
        ? `KeepAlive(url, ...): expected (username, password) or (ca, cert, privkey) after the URL, got ${strings.length} string(s)`
        : `KeepAlive(client, ...): expected [handler,] ttl[, lease_id], got a string (${JSON.stringify(strings[0])})`,
    );
  }
  let handler: KeepAliveHandler | undefined;
  if (typeof args[i] === 'function') handler = toFunction<KeepAliveHandler>('handler', args[i++]);
  const ttl = toTtl('ttl', args[i++]);
  const id = args[i] === undefined ? 0n : toLeaseId('lease_id', args[i]);
  i++;
  const clientArgs: unknown[] = [];
  if (strings.length === 2) clientArgs.push(strings[0], strings[1], args[i++] ?? 300);
  else if (strings.length === 3) clientArgs.push(strings[0], strings[1], strings[2], args[i++] ?? '');
  while (i < args.length && args[i] === undefined) i++;
  if (i < args.length) throw new TypeError(`KeepAlive: unexpected argument ${i + 1} (${describe(args[i])})`);
  if (id === 0n && ttl === 0) throw new RangeError('ttl must be > 0 when lease_id is 0 (a lease of ttl seconds is granted)');
  return handler ? { target, clientArgs, handler, ttl, id } : { target, clientArgs, ttl, id };
}

type KeepAliveState = 'granting' | 'running' | 'cancelled' | 'failed' | 'client-closed';

/**
 * Keeps one lease alive until cancelled (C++ `etcd::KeepAlive`). All KeepAlives of a client share the
 * client's single LeaseKeepAlive stream; a keepalive is sent at once, then every third of the TTL.
 *
 * - **`lease_id` 0 (the default)**: as C++, a lease of `ttl` seconds is granted first. The constructor cannot
 *   wait for it (C++ blocks), so until the grant completes `Lease()` throws LeaseNotReadyError: `await
 *   ka.ready()` (resolves with the id) or use `await KeepAlive.create(...)` / `client.leasekeepalive(ttl)`. A
 *   failed grant stops it like a lost lease (KeepAliveError with etcd's code), and `ready()` rejects.
 * - **Disconnects** (beyond C++): a transient failure or a server restart does not stop it; it reconnects
 *   with backoff and refreshes again, as long as the lease still exists.
 * - **Stops for good** when etcd says the lease is gone (answers TTL 0: LeaseExpiredError, a RangeError like
 *   C++ `std::out_of_range`), when no refresh is answered within the TTL after the last answered one was sent
 *   (etcd unreachable or without a leader: KeepAliveError code 4) — by default at once, before etcd could have
 *   expired it, as a lock or leader holder needs; with the client option `keepAliveGraceMs` (e.g.
 *   {@link LOSS_GRACE_MS}) only after that grace without an answer, since after a leader election etcd usually
 *   still has the lease — or on a non-transient stream error (KeepAliveError with its code).
 * - **The loss always reaches the program**: the handler, if given, is called once with that error (from a
 *   microtask; what it throws is not caught), and `Check()` and `closed()` report it. Without a handler, and
 *   unless `closed()` or `Check()` was called before the loss (the program said it watches), the error is
 *   raised as an unhandled promise rejection — Node then prints it and exits with code 1 — so a lease held
 *   through `client.leasekeepalive(ttl)` can never be lost silently. A failed grant (`lease_id` 0) reaches a
 *   program that called `ready()` through its rejection instead.
 * - **`Cancel()`** stops refreshing and does not revoke the lease (as C++); the handler is not called. A lease
 *   still being granted is revoked once granted (nobody has its id).
 * - **Client closed**: it stops like `Cancel()`; `Check()` then rejects with ClientClosedError.
 * - **URL forms**: it makes its own Client (with user/password or TLS files, as the C++ forms) and closes it
 *   when it stops (Cancel, failure).
 */
export class KeepAlive {
  private client: KeepAliveClient;
  private ownsClient = false;
  private leaseId: bigint | undefined;
  private readonly handler: KeepAliveHandler | undefined;
  private kept: KeptLease | undefined;
  private state: KeepAliveState = 'running';
  private error: Error | undefined;
  private timeoutMs: number | undefined;
  /** The program called closed() or Check(): a loss without a handler is then not raised. */
  private observed = false;
  /** The program called ready(): a failed grant reaches it there and is not raised. */
  private readyAsked = false;
  /** Made by KeepAlive.create, whose promise reports a failed grant (the handler is not called for it). */
  private grantReportedByCreate = false;
  private readonly untrack: () => void;
  private resolveDone!: (err: Error | undefined) => void;
  private readonly done = new Promise<Error | undefined>((r) => (this.resolveDone = r));
  private readonly granted: Promise<bigint>;

  /**
   * Every C++ form: `new KeepAlive(client | url, [handler,] ttl, lease_id = 0)`,
   * `new KeepAlive(url, username, password, [handler,] ttl, lease_id = 0, auth_token_ttl = 300)`,
   * `new KeepAlive(url, ca_file, cert_file, key_file, handler, ttl, lease_id = 0, target_name_override = "")`.
   * With `lease_id` > 0 it keeps that lease (`ttl`: its TTL in seconds, 0 = learnt from the first refresh);
   * with 0 it grants a lease of `ttl` seconds first (see the class comment: `Lease()` before `ready()`).
   * @throws TypeError / RangeError for bad arguments; ClientClosedError if the client is closed.
   */
  constructor(client: KeepAliveClient | string, ttl: number, lease_id?: number | bigint);
  constructor(client: KeepAliveClient | string, handler: KeepAliveHandler, ttl: number, lease_id?: number | bigint);
  constructor(url: string, username: string, password: string, ttl: number, lease_id?: number | bigint, auth_token_ttl?: number);
  constructor(url: string, username: string, password: string, handler: KeepAliveHandler, ttl: number, lease_id?: number | bigint, auth_token_ttl?: number);
  constructor(url: string, ca: string, cert: string, privkey: string, handler: KeepAliveHandler, ttl: number, lease_id?: number | bigint, target_name_override?: string);
  constructor(...args: unknown[]) {
    const { target, clientArgs, handler, ttl, id } = keepAliveArgs(args);
    if (typeof target === 'string') {
      this.client = new (loadedClientClass())(target, ...clientArgs);
      this.ownsClient = true;
    } else this.client = target;
    const conn = this.client.conn;
    try {
      conn.assertOpen('the etcd client of this KeepAlive');
      this.handler = handler;
      if (id !== 0n) this.keep(id, ttl);
    } catch (err) {
      if (this.ownsClient) void this.client.close();
      throw err;
    }
    this.untrack = conn.track({ close: () => this.stop('client-closed') });
    if (id !== 0n) this.granted = Promise.resolve(id);
    else {
      this.state = 'granting';
      this.granted = this.grant(ttl);
      this.granted.catch(() => {}); // reported through the handler / closed() / the loss signal
    }
  }

  /**
   * `KeepAlive.create(client | url, [handler,] ttl, lease_id = 0)`: resolves once the KeepAlive is running
   * (with `lease_id` 0: once the lease is granted, so `Lease()` works at once). Rejects with a KeepAliveError
   * carrying the grant's error code and message if the grant fails (the handler is not called for that), or
   * with ClientClosedError.
   * @throws TypeError / RangeError (synchronously) for bad arguments.
   */
  static create(client: KeepAliveClient | string, ttl: number, lease_id?: number | bigint): Promise<KeepAlive>;
  static create(client: KeepAliveClient | string, handler: KeepAliveHandler, ttl: number, lease_id?: number | bigint): Promise<KeepAlive>;
  static create(...args: unknown[]): Promise<KeepAlive> {
    keepAliveArgs(args); // argument errors are thrown synchronously
    let ka: KeepAlive;
    try {
      ka = new (KeepAlive as new (...a: unknown[]) => KeepAlive)(...args);
    } catch (err) {
      if (err instanceof ClientClosedError) return Promise.reject(err);
      throw err;
    }
    // A failed grant is this promise's rejection only: not a loss for the handler, nor one to raise.
    ka.grantReportedByCreate = true;
    return ka.granted.then(() => ka);
  }

  /**
   * The lease id (C++ `Lease()`).
   * @throws LeaseNotReadyError while a lease (`lease_id` 0) is still being granted, or when its grant failed
   * or was cancelled (`cause`: the error): await {@link ready} first.
   */
  Lease(): bigint {
    if (this.leaseId !== undefined) return this.leaseId;
    const why = this.state === 'granting' ? 'is still being granted' : 'was never granted';
    throw new LeaseNotReadyError(`KeepAlive.Lease(): the lease ${why}; await keepAlive.ready() first (or use KeepAlive.create / client.leasekeepalive)`, {
      cause: this.error,
    });
  }

  /**
   * Resolves with the lease id once it is known (at once when one was given). Rejects with the grant's
   * KeepAliveError, with a KeepAliveError if cancelled before the grant completed, or with ClientClosedError.
   */
  ready(): Promise<bigint> {
    this.readyAsked = true;
    return this.granted;
  }

  /** Stops refreshing (idempotent). Does not revoke the lease, which then expires after its TTL (as C++). */
  Cancel(): void {
    this.stop('cancelled');
  }

  /**
   * Rejects with the error that stopped this KeepAlive, if any; with a KeepAliveError if it was cancelled;
   * with ClientClosedError if its client was closed. Otherwise (after the grant, if one is pending) refreshes
   * once (timeout: the client's `set_grpc_timeout`, or this KeepAlive's, or 5 s) and resolves; if that refresh
   * fails, the KeepAlive stops for good, the handler is called and Check rejects with the error (TTL 0:
   * LeaseExpiredError; no answer in time: KeepAliveError code 4), as C++ `Check()`.
   */
  async Check(): Promise<void> {
    this.observed = true;
    if (this.state === 'granting') await this.granted.catch(() => {});
    if (this.state === 'running') {
      const timeout = this.timeoutMs ?? (this.client.conn.timeoutMs || DEFAULT_CHECK_TIMEOUT_MS);
      try {
        await this.kept!.refreshOnce(timeout);
        return;
      } catch (err) {
        if (this.state === 'running' && !(err instanceof ClientClosedError)) this.fail(err as Error);
        if (this.state === 'running') throw err;
      }
    }
    if (this.state === 'failed') throw this.error!;
    if (this.state === 'client-closed') throw new ClientClosedError('the etcd client of this KeepAlive');
    throw cancelledError(this.leaseId ?? 0n);
  }

  /** Sets the timeout of `Check()`'s refresh in ms (C++ `KeepAlive::set_grpc_timeout`); 0 = the client's. */
  set_grpc_timeout(ms: number): void {
    const t = toNonNegativeInt('timeout', ms);
    this.timeoutMs = t === 0 ? undefined : t;
  }
  /** The timeout of `Check()`'s refresh in ms (0: the client's timeout, or 5 s without one). */
  get_grpc_timeout(): number {
    return this.timeoutMs ?? 0;
  }

  /**
   * Resolves once this KeepAlive has stopped: with the error the handler got, or `undefined` when it was
   * cancelled or its client was closed. Never rejects. Calling it counts as watching for the loss (no
   * unhandled rejection is raised for a KeepAlive without a handler).
   */
  closed(): Promise<Error | undefined> {
    this.observed = true;
    return this.done;
  }

  /** `using ka = …` cancels it at the end of the scope. */
  [Symbol.dispose](): void {
    this.Cancel();
  }

  /** `await using ka = …` cancels it (and closes its own client, for the URL form). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.Cancel();
    if (this.ownsClient) await this.client.close();
  }

  private keep(id: bigint, ttl: number): void {
    this.leaseId = id;
    this.kept = leaseKeeper(this.client.conn).add(id, ttl, (err) => this.fail(err));
  }

  /** The C++ auto-grant (`lease_id` 0): grants, then keeps the lease; a grant that comes too late is revoked. */
  private async grant(ttl: number): Promise<bigint> {
    let r: Response;
    try {
      r = await this.client.leasegrant(ttl);
    } catch (err) {
      this.stop('client-closed');
      throw err;
    }
    if (!r.is_ok()) {
      const err = new KeepAliveError(0n, `Failed to grant a lease: error code: ${r.error_code()}, message: ${r.error_message()}`, r.error_code());
      if (this.state === 'granting') {
        this.state = 'running';
        if (this.grantReportedByCreate) {
          this.error = err;
          this.stop('failed');
        } else this.fail(err, this.readyAsked);
      }
      throw err;
    }
    const id = r.value().lease();
    if (this.state !== 'granting') {
      // Cancelled (or the client closed) meanwhile: nobody can hold this lease, so it goes at once.
      void this.client.leaserevoke(id).catch(() => {});
      if (this.state === 'client-closed') throw new ClientClosedError('the etcd client of this KeepAlive');
      throw cancelledError(id);
    }
    this.state = 'running';
    try {
      this.keep(id, r.value().ttl() || ttl);
    } catch (err) {
      this.stop('client-closed');
      throw err;
    }
    return id;
  }

  private fail(err: Error, heard = false): void {
    if (this.state !== 'running') return;
    this.error = err;
    this.stop('failed');
    const handler = this.handler;
    if (handler) queueMicrotask(() => handler(err));
    // Nobody listens: make the loss impossible to miss (see the class comment).
    else if (!this.observed && !heard) void Promise.reject(err);
  }

  private stop(state: 'cancelled' | 'failed' | 'client-closed'): void {
    if (this.state !== 'running' && this.state !== 'granting') return;
    this.state = state;
    this.kept?.remove();
    this.untrack?.();
    this.resolveDone(this.error);
    if (this.ownsClient) void this.client.close();
  }
}
