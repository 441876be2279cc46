import { describe, prefixRange, toBool, toFunction, toBytes, toLeaseId, toMemberId, toNonNegativeInt, toRevision, toStr, toTtl, type Bytes } from './args';
import { listingArgs, watchArgs } from './client-args';
import { checkLoadBalancer, parseClientArgs, type ClientOptions, type LoadBalancer } from './client-options';
import * as cluster from './cluster';
import { connect } from './connect';
import type { Connection } from './connection';
import * as election from './election';
import type { Endpoint } from './endpoints';
import { ClientClosedError } from './errors';
import { KeepAlive, provideClientClass } from './keepalive';
import { LockLostListeners } from './lock-lost';
import * as kv from './kv';
import * as lease from './lease';
import * as locks from './lock';
import { Observer } from './observer';
import { createRaw, type RawClient } from './raw';
import type { Response } from './response';
import { Transaction } from './txn';
import { watchOnce } from './watch';

export type { ClientOptions, LoadBalancer, TransportName } from './client-options';

/**
 * A connection to an etcd cluster: one gRPC channel over every endpoint given, balanced round-robin by
 * default. Mirrors `etcd::Client`: every call returns a promise of a {@link Response} and reports server and
 * network failures in it rather than throwing; wrong argument types or ranges throw TypeError/RangeError
 * synchronously; calls after {@link close} reject with ClientClosedError.
 *
 * Safe to use from many concurrent tasks. Closing it ends every watcher, keepalive and observer made from it.
 */
export class Client {
  /** @internal */
  readonly conn: Connection;
  /** The endpoints this client was given, parsed. */
  readonly endpoints: readonly Endpoint[];
  private rawClient: RawClient | undefined;

  /**
   * `new Client(url, load_balancer?)`, `new Client(url, options)`; for porting C++ code also
   * `new Client(url, username, password, auth_token_ttl?, load_balancer?)` and
   * `new Client(url, ca_file, cert_file, key_file, target_name_override = "", load_balancer?)` — three strings
   * after the URL mean TLS, two (optionally followed by a number) user/password, as the C++ parameter types
   * decide.
   * @throws TypeError for a malformed URL (naming the bad part) or bad options.
   */
  constructor(url: string, load_balancer?: LoadBalancer | string);
  constructor(url: string, options: ClientOptions);
  constructor(url: string, username: string, password: string, auth_token_ttl?: number, load_balancer?: string);
  constructor(url: string, ca: string, cert: string, privkey: string, target_name_override?: string, load_balancer?: string);
  constructor(url: string, ...args: unknown[]) {
    const config = parseClientArgs(url, args);
    this.endpoints = config.endpoints;
    this.conn = connect(config);
  }

  /** C++ `Client::WithUrl`. */
  static WithUrl(url: string, load_balancer?: LoadBalancer | string): Client {
    return new Client(url, { loadBalancer: checkLoadBalancer(load_balancer) });
  }

  /**
   * C++ `Client::WithUser`: user/password authentication. The token is renewed `auth_token_ttl - 3` seconds after it
   * was obtained (as C++), and at once — then the call is retried — when etcd says it expired or the auth store
   * changed. A wrong password fails calls with 16. Does not throw on a wrong password (neither does C++).
   */
  static WithUser(url: string, username: string, password: string, auth_token_ttl = 300, load_balancer?: LoadBalancer | string): Client {
    return new Client(url, {
      username: toStr('username', username),
      password: toStr('password', password),
      authTokenTtl: toTtl('auth_token_ttl', auth_token_ttl),
      loadBalancer: checkLoadBalancer(load_balancer),
    });
  }

  /**
   * C++ `Client::WithSSL`: TLS, whatever the URL's scheme, with PEM **file paths** read at once: `ca` verifies
   * the server (empty: Node's built-in public CAs), `cert`/`privkey` are the client certificate for mutual TLS
   * (empty: none), `target_name_override` the name every server certificate is checked against (empty: a
   * certificate must be valid for one of the endpoints' hosts). Throws TypeError when a file cannot be read or is
   * not PEM. For PEM text, or to combine TLS with user/password, use
   * `new Client(url, { ca, cert, key, targetNameOverride, username, password })`.
   */
  static WithSSL(url: string, ca: string, cert = '', privkey = '', target_name_override = '', load_balancer?: LoadBalancer | string): Client {
    return new Client(url, ca, cert, privkey, target_name_override, checkLoadBalancer(load_balancer));
  }

  /** Sets the per-call timeout in ms (0 = none). A call past it resolves with code 4 'gRPC timeout'. */
  set_grpc_timeout(ms: number): void {
    this.conn.timeoutMs = toNonNegativeInt('timeout', ms);
  }
  /** The per-call timeout in ms (0 = none). */
  get_grpc_timeout(): number {
    return this.conn.timeoutMs;
  }
  /** The current auth token ('' without authentication), as C++ `current_auth_token()`. */
  current_auth_token(): string {
    return this.conn.auth?.lastToken ?? '';
  }

  /**
   * Typed generated stubs for every etcd service on this client's channel, token and timeout: unary calls
   * return promises of the generated response types (rejecting with GrpcStatusError), streaming calls return
   * object-mode duplex streams. Requests are the generated message types (build them with `X.fromPartial`
   * from `etcd-apiv3/proto`). Nothing is retried.
   */
  get raw(): RawClient {
    this.conn.assertOpen();
    return (this.rawClient ??= createRaw(this.conn));
  }

  private guard(): Promise<never> | undefined {
    return this.conn.closed ? Promise.reject(new ClientClosedError()) : undefined;
  }

  // ---- key-value ------------------------------------------------------------------------------------

  /** The current revision and the answering member's cluster id, member id and raft term (C++ `head`). */
  head(): Promise<Response> {
    return this.guard() ?? kv.head(this.conn);
  }

  /** Reads `key` (at `revision` if given and > 0). Code 100 when absent. */
  get(key: Bytes, revision?: number): Promise<Response> {
    const k = toBytes('key', key);
    const rev = revision === undefined ? 0 : toRevision('revision', revision);
    return this.guard() ?? kv.get(this.conn, k, rev);
  }

  /** Writes `key` unconditionally (action "set"; `prev_value()` is the old kv). */
  set(key: Bytes, value: Bytes, leaseId: number | bigint = 0): Promise<Response> {
    return this.put(key, value, leaseId);
  }

  /** Same as `set` (C++ `put`). */
  put(key: Bytes, value: Bytes, leaseId?: number | bigint): Promise<Response> {
    const k = toBytes('key', key);
    const v = toBytes('value', value);
    const l = leaseId === undefined ? 0n : toLeaseId('leaseId', leaseId);
    return this.guard() ?? kv.put(this.conn, k, v, l);
  }

  /** Creates `key` only if it does not exist; code 105 otherwise (the key is left untouched). */
  add(key: Bytes, value: Bytes, leaseId: number | bigint = 0): Promise<Response> {
    const k = toBytes('key', key);
    const v = toBytes('value', value);
    const l = toLeaseId('leaseId', leaseId);
    return this.guard() ?? kv.add(this.conn, k, v, l);
  }

  /** Updates `key` only if it exists; code 100 otherwise. */
  modify(key: Bytes, value: Bytes, leaseId: number | bigint = 0): Promise<Response> {
    const k = toBytes('key', key);
    const v = toBytes('value', value);
    const l = toLeaseId('leaseId', leaseId);
    return this.guard() ?? kv.modify(this.conn, k, v, l);
  }

  /**
   * Updates `key` only if its value equals `old_value` (a string or bytes) or its mod revision equals
   * `old_index` (a number); code 101 otherwise, with the current kv in `value()`.
   */
  modify_if(key: Bytes, value: Bytes, old_value: Bytes, leaseId?: number | bigint): Promise<Response>;
  modify_if(key: Bytes, value: Bytes, old_index: number, leaseId?: number | bigint): Promise<Response>;
  modify_if(key: Bytes, value: Bytes, old: Bytes | number, leaseId: number | bigint = 0): Promise<Response> {
    const k = toBytes('key', key);
    const v = toBytes('value', value);
    const o = typeof old === 'number' ? toRevision('old_index', old) : toBytes('old_value', old);
    const l = toLeaseId('leaseId', leaseId);
    return this.guard() ?? kv.modifyIf(this.conn, k, v, o, l);
  }

  /** Deletes `key`; code 100 when it did not exist. */
  rm(key: Bytes): Promise<Response> {
    const k = toBytes('key', key);
    return this.guard() ?? kv.rm(this.conn, k);
  }

  /** Deletes `key` only if its value (string/bytes) or mod revision (number) matches; code 101 otherwise. */
  rm_if(key: Bytes, old_value: Bytes): Promise<Response>;
  rm_if(key: Bytes, old_index: number): Promise<Response>;
  rm_if(key: Bytes, old: Bytes | number): Promise<Response> {
    const k = toBytes('key', key);
    const o = typeof old === 'number' ? toRevision('old_index', old) : toBytes('old_value', old);
    return this.guard() ?? kv.rmIf(this.conn, k, o);
  }

  /**
   * Deletes `key` alone, every key with prefix `key` (`recursive`; `''` means every key), or `[key, range_end)`.
   * All deleted kvs are in `values()`; code 100 when nothing was deleted.
   */
  rmdir(key: Bytes, recursive?: boolean): Promise<Response>;
  rmdir(key: Bytes, range_end: Bytes): Promise<Response>;
  rmdir(key: Bytes, arg: boolean | Bytes = false): Promise<Response> {
    const k = toBytes('key', key);
    let range: { key: Buffer; rangeEnd: Buffer };
    if (typeof arg === 'boolean') range = arg ? prefixRange(k) : { key: k, rangeEnd: Buffer.alloc(0) };
    else range = { key: k, rangeEnd: toBytes('range_end', arg) };
    return this.guard() ?? kv.deleteRange(this.conn, range.key, range.rangeEnd);
  }

  /**
   * Lists every key with prefix `key` (`''` = all keys), or `[key, range_end)`, in key order, at most `limit`
   * (0 = all), at `revision` (0 = latest). An empty listing is success.
   */
  ls(key: Bytes, limit?: number, revision?: number): Promise<Response>;
  ls(key: Bytes, range_end: Bytes, limit?: number, revision?: number): Promise<Response>;
  ls(key: Bytes, a?: number | Bytes, b?: number, c?: number): Promise<Response> {
    return this.listing(false, key, a, b, c);
  }

  /** Like `ls`, but only keys (values come back empty). */
  keys(key: Bytes, limit?: number, revision?: number): Promise<Response>;
  keys(key: Bytes, range_end: Bytes, limit?: number, revision?: number): Promise<Response>;
  keys(key: Bytes, a?: number | Bytes, b?: number, c?: number): Promise<Response> {
    return this.listing(true, key, a, b, c);
  }

  private listing(keysOnly: boolean, key: unknown, a: unknown, b: unknown, c: unknown): Promise<Response> {
    const l = listingArgs(keysOnly, key, a, b, c);
    return this.guard() ?? kv.list(this.conn, l.key, l.rangeEnd, l.limit, l.revision, keysOnly);
  }

  /** Runs a transaction; code 101 when its compares failed (failure ops still ran). */
  txn(t: Transaction): Promise<Response> {
    if (!(t instanceof Transaction)) throw new TypeError(`txn must be a Transaction, got ${describe(t)}`);
    return this.guard() ?? kv.txn(this.conn, t.toRequest());
  }

  // ---- watch ----------------------------------------------------------------------------------------

  /**
   * Waits for the next change of `key` (every key with that prefix when `recursive`; `[key, range_end)`),
   * from `fromIndex` if given, and resolves with the first etcd watch response that has events (C++
   * `watch`). A compacted `fromIndex` resolves with code 11. Rejects with ClientClosedError if the client
   * closes first. For a continuous watch use {@link Watcher}.
   */
  watch(key: Bytes, recursive?: boolean): Promise<Response>;
  watch(key: Bytes, fromIndex: number, recursive?: boolean): Promise<Response>;
  watch(key: Bytes, range_end: Bytes, fromIndex?: number): Promise<Response>;
  watch(key: Bytes, a?: boolean | number | Bytes, b?: boolean | number): Promise<Response> {
    const w = watchArgs(key, a, b);
    return this.guard() ?? watchOnce(this.conn, w);
  }

  // ---- leases ---------------------------------------------------------------------------------------

  /** Grants a lease of `ttl` seconds: `value().lease()` is its id (bigint), `value().ttl()` the TTL. */
  leasegrant(ttl: number): Promise<Response> {
    const t = toTtl('ttl', ttl);
    return this.guard() ?? lease.grant(this.conn, t);
  }
  /** Revokes a lease and deletes its keys; code 5 if it does not exist. */
  leaserevoke(leaseId: number | bigint): Promise<Response> {
    const id = toLeaseId('leaseId', leaseId);
    return this.guard() ?? lease.revoke(this.conn, id);
  }
  /** Remaining TTL of a lease in `value().ttl()`; -1 once revoked or expired. */
  leasetimetolive(leaseId: number | bigint): Promise<Response> {
    const id = toLeaseId('leaseId', leaseId);
    return this.guard() ?? lease.timeToLive(this.conn, id);
  }
  /** Every live lease id in `leases()`. */
  leases(): Promise<Response> {
    return this.guard() ?? lease.list(this.conn);
  }

  // ---- cluster --------------------------------------------------------------------------------------

  /** Adds a member with the given comma-separated peer URLs; the new member is in `members()`. */
  add_member(peer_urls: string, is_learner = false): Promise<Response> {
    const urls = toStr('peer_urls', peer_urls)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (urls.length === 0) throw new RangeError('peer_urls must name at least one URL');
    const learner = toBool('is_learner', is_learner);
    return this.guard() ?? cluster.addMember(this.conn, urls, learner);
  }
  /** Every member of the cluster in `members()`. */
  list_member(): Promise<Response> {
    return this.guard() ?? cluster.listMembers(this.conn);
  }
  /** Removes a member by id. */
  remove_member(member_id: number | bigint): Promise<Response> {
    const id = toMemberId('member_id', member_id);
    return this.guard() ?? cluster.removeMember(this.conn, id);
  }

  // ---- keepalive, lock and election ---------------------------------------------------------------------

  /**
   * Grants a lease of `ttl` seconds and keeps it alive (C++ `leasekeepalive`): see {@link KeepAlive}. Where C++
   * returns a KeepAlive whatever happens, this rejects with a KeepAliveError carrying the grant's error code and
   * message when the grant fails (and with ClientClosedError after close).
   */
  leasekeepalive(ttl: number): Promise<KeepAlive> {
    const t = toTtl('ttl', ttl);
    return this.guard() ?? KeepAlive.create(this, t);
  }

  /**
   * Takes the lock `key` on etcd's lock service, waiting until it is free: grants a lease of `lease_ttl`
   * seconds, keeps it alive while held, and answers action "lock" with `lock_key()` (pass it to `unlock`) and
   * `value().lease()`. With `set_grpc_timeout`, a lock still held elsewhere answers 4 'gRPC timeout'; on any
   * failure the lease is revoked at once (C++ lets it expire). Closing the client ends the wait
   * (ClientClosedError).
   *
   * If the lease of a held lock is lost (revoked or expired elsewhere, or unanswered past its TTL), the lock is
   * lost with it: every listener of {@link onLockLost} hears it once; with no listener a process warning
   * (`ETCD_APIV3_LOCK_LOST`) is emitted instead, so the loss is never silent (C++ reports nothing).
   */
  lock(key: Bytes, lease_ttl = 10): Promise<Response> {
    const k = toBytes('key', key);
    const t = toTtl('lease_ttl', lease_ttl);
    return this.guard() ?? locks.lock(this.conn, k, t, (lockKey, error) => this.lockLostListeners.emit(lockKey, error));
  }

  private readonly lockLostListeners = new LockLostListeners();

  /**
   * Listens for the loss of a lock taken with `lock()` on this client (its lease lost while the lock was held):
   * `listener(lockKey, error)` with the lock's `lock_key()` and the KeepAliveError / LeaseExpiredError that
   * ended its lease. Returns a function that removes the listener. Not called for `unlock()`, nor for
   * `lock_with_lease` (the caller keeps that lease and hears of its loss from its own KeepAlive).
   */
  onLockLost(listener: (lockKey: string, error: Error) => void): () => void {
    return this.lockLostListeners.add(toFunction<(lockKey: string, error: Error) => void>('listener', listener));
  }

  /** Takes the lock `key` with the caller's lease (kept alive and revoked by the caller); `value().lease()` is it. */
  lock_with_lease(key: Bytes, lease_id: number | bigint): Promise<Response> {
    const k = toBytes('key', key);
    const l = toLeaseId('lease_id', lease_id);
    return this.guard() ?? locks.lockWithLease(this.conn, k, l);
  }

  /** Releases a lock by its `lock_key()`; for a lock taken by `lock()` also stops its keepalive and revokes its lease. */
  unlock(lock_key: Bytes): Promise<Response> {
    const k = toBytes('lock_key', lock_key);
    return this.guard() ?? locks.unlock(this.conn, k);
  }

  /**
   * Campaigns for leadership of election `name` with a lease, waiting until elected. `value().key()` and
   * `value().created_index()` identify the leadership for `proclaim`/`resign`; `name()` is the election.
   */
  campaign(name: Bytes, lease_id: number | bigint, value: Bytes): Promise<Response> {
    const n = toBytes('name', name);
    const l = toLeaseId('lease_id', lease_id);
    const v = toBytes('value', value);
    return this.guard() ?? election.campaign(this.conn, n, l, v);
  }

  /** The leader publishes `value` (action "proclaim"; C++ "preclaim"). `key`/`revision` come from `campaign`. */
  proclaim(name: Bytes, lease_id: number | bigint, key: Bytes, revision: number, value: Bytes): Promise<Response> {
    const n = toBytes('name', name);
    const l = toLeaseId('lease_id', lease_id);
    const k = toBytes('key', key);
    const r = toRevision('revision', revision);
    const v = toBytes('value', value);
    return this.guard() ?? election.proclaim(this.conn, n, l, k, r, v);
  }

  /** The current leader of `name`: its full kv in `value()`. Without a leader, the server's error. */
  leader(name: Bytes): Promise<Response> {
    const n = toBytes('name', name);
    return this.guard() ?? election.leader(this.conn, n);
  }

  /** Watches the leader of `name` (see {@link Observer}). Throws ClientClosedError after close. */
  observe(name: Bytes): Observer {
    const n = toBytes('name', name);
    return new Observer(this.conn, n);
  }

  /** Gives up leadership of `name` (`key`/`revision` from `campaign`). */
  resign(name: Bytes, lease_id: number | bigint, key: Bytes, revision: number): Promise<Response> {
    const n = toBytes('name', name);
    const l = toLeaseId('lease_id', lease_id);
    const k = toBytes('key', key);
    const r = toRevision('revision', revision);
    return this.guard() ?? election.resign(this.conn, n, l, k, r);
  }

  // ---- lifetime -------------------------------------------------------------------------------------

  /**
   * Ends every watcher, keepalive and observer made from this client, then closes the channel. Idempotent:
   * every call returns the same promise. Later calls reject with ClientClosedError.
   */
  close(): Promise<void> {
    return this.conn.close();
  }

  /** `await using client = new Client(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// KeepAlive's URL forms make a Client, and its argument check knows one: handed over here (see keepalive.ts).
provideClientClass(Client);
