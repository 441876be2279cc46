// How a Client is configured: the options object and its checks, PEM/TLS material, the C++ positional
// constructor forms, and the transport choice. `parseClientArgs` turns what a user passed into one validated
// ClientConfig; ./connect.ts turns that into a connection.

import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { describe, toNonNegativeInt, toStr, toTtl } from './args';
import { parseEndpoints, type Endpoint } from './endpoints';
import { requirePeer } from './peer';
import type { TransportConfig } from './transport/transport';

export type LoadBalancer = 'round_robin' | 'pick_first';

export type TransportName = 'grpc-js' | 'http2';

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

/** @internal A Client's configuration, checked: what ./connect.ts needs to open its connection. */
export interface ClientConfig {
  readonly endpoints: readonly Endpoint[];
  readonly transportName: TransportName;
  readonly transport: TransportConfig;
  readonly credentials: { readonly username: string; readonly password: string; readonly ttlSeconds: number } | undefined;
  readonly keepAliveGraceMs: number;
  /** The per-call timeout in ms, when the options set one. */
  readonly timeoutMs: number | undefined;
}

/**
 * @internal Checks the constructor arguments of a Client (`url` and every overload's rest) and returns its
 * configuration. Throws TypeError (or RangeError, MissingPeerDependencyError) naming the first bad argument;
 * nothing is opened.
 */
export function parseClientArgs(url: string, args: unknown[]): ClientConfig {
  const endpoints = parseEndpoints(url);
  const { options: o, tls: cppTls } = optionsFromArgs(args);
  if (typeof o !== 'object' || o === null) throw new TypeError(`options must be an object, got ${describe(o)}`);
  const loadBalancer = checkLoadBalancer(o.loadBalancer);
  const ca = pem('ca', o.ca);
  const cert = pem('cert', o.cert);
  const key = pem('key', o.key);
  if ((cert === undefined) !== (key === undefined)) throw new TypeError('cert and key must be given together');
  const tls = cppTls === true || endpoints[0]!.tls || ca !== undefined || cert !== undefined;
  const targetNameOverride = o.targetNameOverride === undefined ? '' : toStr('targetNameOverride', o.targetNameOverride);
  if (targetNameOverride !== '' && !tls) {
    throw new TypeError('targetNameOverride applies to TLS only: use https:// endpoints, or give ca or cert');
  }
  if (tls) checkTlsMaterial(ca, cert, key);
  const transport: TransportConfig = {
    endpoints,
    loadBalancer,
    tls: tls ? { ca, cert, key, targetNameOverride: targetNameOverride || undefined } : undefined,
    channelOptions: checkGrpcOptions(o.grpcOptions),
  };
  const hasUser = o.username !== undefined && o.username !== '' && o.password !== undefined && o.password !== '';
  const keepAliveGraceMs = o.keepAliveGraceMs === undefined ? 0 : toNonNegativeInt('keepAliveGraceMs', o.keepAliveGraceMs);
  const transportName = checkTransportName(o.transport);
  const credentials = hasUser
    ? {
        username: toStr('username', o.username),
        password: toStr('password', o.password),
        ttlSeconds: o.authTokenTtl === undefined ? 300 : toTtl('authTokenTtl', o.authTokenTtl),
      }
    : undefined;
  const timeoutMs = o.timeoutMs === undefined ? undefined : toNonNegativeInt('timeout', o.timeoutMs);
  return { endpoints, transportName, transport, credentials, keepAliveGraceMs, timeoutMs };
}

/**
 * The transport to use: `name`, else `$ETCD_APIV3_TRANSPORT`, else http2. For grpc-js, checks that the optional
 * peer dependency is installed.
 */
function checkTransportName(name: unknown): TransportName {
  const chosen = name ?? (process.env['ETCD_APIV3_TRANSPORT'] || 'http2');
  if (chosen === 'grpc-js') {
    requirePeer('@grpc/grpc-js', "the 'grpc-js' transport");
    return chosen;
  }
  if (chosen === 'http2') return chosen;
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

/** @internal The load balancer, `round_robin` when undefined; TypeError for anything else. */
export function checkLoadBalancer(x: unknown): LoadBalancer {
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
