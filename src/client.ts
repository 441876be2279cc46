import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { describe, prefixRange, toBool, toFunction, toBytes, toLeaseId, toMemberId, toNonNegativeInt, toRevision, toStr, toTtl, type Bytes } from './args';
import * as cluster from './cluster';
import { Connection } from './connection';
import * as election from './election';
import { parseEndpoints, type Endpoint } from './endpoints';
import { ClientClosedError } from './errors';
import { KeepAlive, provideClientClass } from './keepalive';
import * as kv from './kv';
import * as lease from './lease';
import * as locks from './lock';
import { Observer } from './observer';
import { createRaw, type RawClient } from './raw';
import type { Response } from './response';
import type { GrpcJsTransport } from './transport/grpc-js';
import { requirePeer } from './peer';
import { createHttp2Transport } from './transport/http2';
import type { Transport, TransportConfig } from './transport/transport';
import { Transaction } from './txn';
import { watchOnce } from './watch';

export type LoadBalancer = 'round_robin' | 'pick_first';

/**
 * Everything a Client can be configured with. TLS and user/password may be combined (C++ cannot).
 *
 * TLS is used when the URL says `https://` or when `ca` or `cert` is given. Without `ca` the server is verified
 * against Node's built-in public CAs. Certificates are PEM **text** (or a Buffer of it); to pass file paths, as
 * C++ does, use {@link Client.WithSSL}.
 */
export interface ClientOptions {
  /**
   * User name for etcd authentication; used only together with `password`. The client authenticates on its
   * first call, sends the token with every call and stream, and authenticates again when etcd calls the token
   * invalid or stale. A wrong user name or password makes calls fail with 16 (UNAUTHENTICATED).
   */
  username?: string;
  password?: string;
  /** Seconds after which the token is renewed proactively (etcd's `--auth-token-ttl`); default 300. */
  authTokenTtl?: number;
  /** PEM CA certificate(s) to verify the server with; default: Node's built-in public CAs. */
  ca?: string | Buffer;
  /** PEM client certificate, for mutual TLS (etcd's `--client-cert-auth`); needs `key`. */
  cert?: string | Buffer;
  /** PEM private key of `cert`. */
  key?: string | Buffer;
  /**
   * The name to verify every server certificate against (and to send as TLS SNI and `:authority`) instead of the
   * endpoint's host: for several endpoints (e.g. IP addresses) behind one certificate issued for one name. TLS only.
   */
  targetNameOverride?: string;
  /** How calls are spread over the endpoints; default `round_robin`. */
  loadBalancer?: LoadBalancer;
  /** Default per-call timeout in ms (0 = none), as `set_grpc_timeout`. */
  timeoutMs?: number;
  /**
   * How long a kept-alive lease may go unanswered past its TTL before its KeepAlive reports it lost, in ms
   * (default 0). At 0 a lease is reported lost as soon as etcd could have expired it — what a lock or leader
   * holder needs. A grace (5000 suits 3 s leases) avoids false alarms across a raft leader election, when etcd
   * extends every lease but answers no keepalive for a moment: the lease is kept trying and reported lost
   * only if etcd says it is gone or nothing answers within the grace. Suits registrations (Registry).
   */
  keepAliveGraceMs?: number;
  /**
   * Raw grpc-js channel options, merged over ours. The http2 transport honours the ones that apply to it:
   * `grpc.keepalive_time_ms` (at least 5000), `grpc.keepalive_timeout_ms`, `grpc.initial_reconnect_backoff_ms`,
   * `grpc.max_reconnect_backoff_ms`, `grpc.default_authority`, `grpc.ssl_target_name_override`.
   */
  grpcOptions?: Record<string, string | number>;
  /**
   * The wire implementation: `'http2'` (our lean gRPC client on node:http2, the default) or `'grpc-js'`
   * (@grpc/grpc-js). Default: `$ETCD_APIV3_TRANSPORT`, else `'http2'`. Both pass the same test suite.
   */
  transport?: TransportName;
}

export type TransportName = 'grpc-js' | 'http2';

function createTransport(name: unknown, config: TransportConfig): Transport {
  const chosen = name ?? (process.env['ETCD_APIV3_TRANSPORT'] || 'http2');
  if (chosen === 'grpc-js') {
    // Loaded on first use: grpc-js adds ~15 MB of RSS to a process that only talks over node:http2.
    requirePeer('@grpc/grpc-js', "the 'grpc-js' transport");
    const { GrpcJsTransport: Impl } = require('./transport/grpc-js') as { GrpcJsTransport: typeof GrpcJsTransport };
    return new Impl(config);
  }
  if (chosen === 'http2') return createHttp2Transport(config);
  throw new TypeError(`transport must be 'grpc-js' or 'http2', got ${typeof chosen === 'string' ? JSON.stringify(chosen) : describe(chosen)}`);
}

function checkGrpcOptions(x: unknown): Record<string, string | number> | undefined {
  if (x === undefined) return undefined;
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw new TypeError(`grpcOptions must be an object, got ${describe(x)}`);
  for (const [k, v] of Object.entries(x)) {
    if (typeof v !== 'string' && typeof v !== 'number') throw new TypeError(`grpcOptions['${k}'] must be a string or number, got ${describe(v)}`);
  }
  return x as Record<string, string | number>;
}

function checkLoadBalancer(x: unknown): LoadBalancer {
  if (x === undefined) return 'round_robin';
  if (x !== 'round_robin' && x !== 'pick_first') {
    throw new TypeError(`load_balancer must be 'round_robin' or 'pick_first', got ${typeof x === 'string' ? JSON.stringify(x) : describe(x)}`);
  }
  return x;
}

/** PEM block headers each TLS input must contain (grpc-js and node:tls take PEM only). */
const PEM_HEADER: Readonly<Record<string, RegExp>> = {
  ca: /-----BEGIN CERTIFICATE-----/,
  cert: /-----BEGIN CERTIFICATE-----/,
  key: /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
};

type PemKind = 'ca' | 'cert' | 'key';

function isPem(kind: PemKind, buf: Buffer): boolean {
  return PEM_HEADER[kind]!.test(buf.toString('latin1'));
}

function pemHeader(kind: PemKind): string {
  return kind === 'key' ? '-----BEGIN PRIVATE KEY-----' : '-----BEGIN CERTIFICATE-----';
}

function pem(name: PemKind, x: unknown): Buffer | undefined {
  if (x === undefined || x === '') return undefined;
  if (typeof x !== 'string' && !Buffer.isBuffer(x)) throw new TypeError(`${name} must be PEM text or a Buffer, got ${describe(x)}`);
  const buf = Buffer.from(x);
  if (!isPem(name, buf)) {
    const looksLikePath = typeof x === 'string' && !x.includes('\n') && x.length < 4096;
    throw new TypeError(
      `${name} must be PEM text (${pemHeader(name)} ...) or a Buffer of it` +
        (looksLikePath ? `, got ${JSON.stringify(x)}; to read PEM files use Client.WithSSL(url, ca_file, cert_file, key_file)` : ''),
    );
  }
  return buf;
}

/** Checks that the TLS material loads (a key that does not match its certificate, a corrupt key) at construction. */
function checkTlsMaterial(ca: Buffer | undefined, cert: Buffer | undefined, key: Buffer | undefined): void {
  try {
    createSecureContext({ ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) });
  } catch (err) {
    throw new TypeError(`invalid TLS ca/cert/key: ${(err as Error).message}`);
  }
}

function readPemFile(name: string, kind: PemKind, path: unknown): Buffer | undefined {
  const p = toStr(name, path);
  if (p === '') return undefined;
  let buf: Buffer;
  try {
    buf = readFileSync(p);
  } catch (err) {
    throw new TypeError(`cannot read ${name} file ${JSON.stringify(p)}: ${(err as Error).message}`);
  }
  if (!isPem(kind, buf)) throw new TypeError(`${name} file ${JSON.stringify(p)} is not PEM (no ${pemHeader(kind)})`);
  return buf;
}

/**
 * Normalises the C++-style positional constructor arguments into options. `tls` is set for the C++ TLS form,
 * which (like C++, where the constructor decides) uses TLS whatever scheme the URL has.
 *
 * The forms are told apart as C++ overload resolution does, by the type of the argument after the second
 * string: `(url, user, password)` and `(url, user, password, <number>, ...)` are user/password (C++ `int
 * auth_token_ttl`); `(url, ca, cert, privkey, ...)` — a third string — is TLS, with `target_name_override`
 * defaulting to "" (as in `WithSSL`).
 */
function optionsFromArgs(args: unknown[]): { options: ClientOptions; tls?: true } {
  const [a, b, c, d, e] = args;
  if (args.length === 0 || a === undefined) return { options: {} };
  if (typeof a === 'object' && a !== null && !Buffer.isBuffer(a)) return { options: a as ClientOptions };
  if (args.length === 1) return { options: { loadBalancer: checkLoadBalancer(a) } };
  // (url, username, password, auth_token_ttl?, load_balancer?)
  if (typeof c !== 'string') {
    return {
      options: {
        username: toStr('username', a),
        password: toStr('password', b),
        authTokenTtl: c === undefined ? 300 : toTtl('auth_token_ttl', c),
        loadBalancer: checkLoadBalancer(d),
      },
    };
  }
  // (url, ca, cert, privkey, target_name_override, load_balancer?): file paths, as in C++
  const options: ClientOptions = { loadBalancer: checkLoadBalancer(e) };
  const ca = readPemFile('ca', 'ca', a);
  const cert = readPemFile('cert', 'cert', b);
  const key = readPemFile('privkey', 'key', c);
  const targetNameOverride = d === undefined ? '' : toStr('target_name_override', d);
  if (ca) options.ca = ca;
  if (cert) options.cert = cert;
  if (key) options.key = key;
  if (targetNameOverride) options.targetNameOverride = targetNameOverride;
  return { options, tls: true };
}

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
    this.endpoints = parseEndpoints(url);
    const { options: o, tls: cppTls } = optionsFromArgs(args);
    if (typeof o !== 'object' || o === null) throw new TypeError(`options must be an object, got ${describe(o)}`);
    const loadBalancer = checkLoadBalancer(o.loadBalancer);
    const ca = pem('ca', o.ca);
    const cert = pem('cert', o.cert);
    const key = pem('key', o.key);
    if ((cert === undefined) !== (key === undefined)) throw new TypeError('cert and key must be given together');
    const tls = cppTls === true || this.endpoints[0]!.tls || ca !== undefined || cert !== undefined;
    const targetNameOverride = o.targetNameOverride === undefined ? '' : toStr('targetNameOverride', o.targetNameOverride);
    if (targetNameOverride !== '' && !tls) {
      throw new TypeError('targetNameOverride applies to TLS only: use https:// endpoints, or give ca or cert');
    }
    if (tls) checkTlsMaterial(ca, cert, key);
    const config: TransportConfig = {
      endpoints: this.endpoints,
      loadBalancer,
      tls: tls ? { ca, cert, key, targetNameOverride: targetNameOverride || undefined } : undefined,
      channelOptions: checkGrpcOptions(o.grpcOptions),
    };
    const hasUser = o.username !== undefined && o.username !== '' && o.password !== undefined && o.password !== '';
    const keepAliveGraceMs = o.keepAliveGraceMs === undefined ? 0 : toNonNegativeInt('keepAliveGraceMs', o.keepAliveGraceMs);
    const transport = createTransport(o.transport, config);
    this.conn = new Connection(
      transport,
      hasUser
        ? {
            username: toStr('username', o.username),
            password: toStr('password', o.password),
            ttlSeconds: o.authTokenTtl === undefined ? 300 : toTtl('authTokenTtl', o.authTokenTtl),
          }
        : undefined,
    );
    this.conn.keepAliveGraceMs = keepAliveGraceMs;
    if (o.timeoutMs !== undefined) this.set_grpc_timeout(o.timeoutMs);
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
    const k = toBytes('key', key);
    let range: { key: Buffer; rangeEnd: Buffer };
    let limit: unknown;
    let revision: unknown;
    if (typeof a === 'string' || a instanceof Uint8Array) {
      range = { key: k, rangeEnd: toBytes('range_end', a) };
      limit = b;
      revision = c;
    } else {
      range = prefixRange(k);
      limit = a;
      revision = b;
      if (c !== undefined) throw new TypeError(`too many arguments: ${keysOnly ? 'keys' : 'ls'}(key, limit, revision)`);
    }
    const l = limit === undefined ? 0 : toNonNegativeInt('limit', limit);
    const r = revision === undefined ? 0 : toRevision('revision', revision);
    return this.guard() ?? kv.list(this.conn, range.key, range.rangeEnd, l, r, keysOnly);
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
    const k = toBytes('key', key);
    let range: { key: Buffer; rangeEnd: Buffer };
    let fromIndex = 0;
    if (typeof a === 'string' || a instanceof Uint8Array) {
      range = { key: k, rangeEnd: toBytes('range_end', a) };
      if (b !== undefined) fromIndex = toRevision('fromIndex', b);
    } else {
      let recursive: unknown = a;
      if (typeof a === 'number') {
        fromIndex = toRevision('fromIndex', a);
        recursive = b;
      } else if (b !== undefined) throw new TypeError(`watch: unexpected argument 3 (${describe(b)})`);
      recursive = recursive === undefined ? false : toBool('recursive', recursive);
      range = recursive ? prefixRange(k) : { key: k, rangeEnd: Buffer.alloc(0) };
    }
    return this.guard() ?? watchOnce(this.conn, { key: range.key, rangeEnd: range.rangeEnd, startRevision: fromIndex });
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
    return this.guard() ?? locks.lock(this.conn, k, t, (lockKey, error) => this.lockLost(lockKey, error));
  }

  private readonly lockLostListeners = new Set<(lockKey: string, error: Error) => void>();

  /**
   * Listens for the loss of a lock taken with `lock()` on this client (its lease lost while the lock was held):
   * `listener(lockKey, error)` with the lock's `lock_key()` and the KeepAliveError / LeaseExpiredError that
   * ended its lease. Returns a function that removes the listener. Not called for `unlock()`, nor for
   * `lock_with_lease` (the caller keeps that lease and hears of its loss from its own KeepAlive).
   */
  onLockLost(listener: (lockKey: string, error: Error) => void): () => void {
    const l = toFunction<(lockKey: string, error: Error) => void>('listener', listener);
    this.lockLostListeners.add(l);
    return () => void this.lockLostListeners.delete(l);
  }

  private lockLost(lockKey: string, error: Error): void {
    if (this.lockLostListeners.size === 0) {
      process.emitWarning(`the lease of lock ${JSON.stringify(lockKey)} was lost, and the lock with it: ${error.message}`, {
        code: 'ETCD_APIV3_LOCK_LOST',
      });
      return;
    }
    for (const l of [...this.lockLostListeners]) {
      try {
        l(lockKey, error);
      } catch (err) {
        // A listener's own failure must not stop the others; it surfaces like any uncaught error.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
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
