// The one place where failures become our errors: a gRPC status becomes the C++ `(code, message)` pair of a
// Response, and the few things that must be thrown get their own classes.

import { TOKEN_REFRESH } from './server-messages';

export const ERROR_GRPC_OK = 0;
export const ERROR_GRPC_CANCELLED = 1;
export const ERROR_GRPC_UNKNOWN = 2;
export const ERROR_GRPC_INVALID_ARGUMENT = 3;
export const ERROR_GRPC_DEADLINE_EXCEEDED = 4;
export const ERROR_GRPC_NOT_FOUND = 5;
export const ERROR_GRPC_ALREADY_EXISTS = 6;
export const ERROR_GRPC_PERMISSION_DENIED = 7;
export const ERROR_GRPC_RESOURCE_EXHAUSTED = 8;
export const ERROR_GRPC_FAILED_PRECONDITION = 9;
export const ERROR_GRPC_ABORTED = 10;
export const ERROR_GRPC_OUT_OF_RANGE = 11;
export const ERROR_GRPC_UNIMPLEMENTED = 12;
export const ERROR_GRPC_INTERNAL = 13;
export const ERROR_GRPC_UNAVAILABLE = 14;
export const ERROR_GRPC_DATA_LOSS = 15;
export const ERROR_GRPC_UNAUTHENTICATED = 16;

export const ERROR_KEY_NOT_FOUND = 100;
export const ERROR_COMPARE_FAILED = 101;
export const ERROR_KEY_ALREADY_EXISTS = 105;
/** Defined for parity with C++; like C++, nothing produces it. */
export const ERROR_ACTION_CANCELLED = 106;

export const MESSAGE_KEY_NOT_FOUND = 'etcd-cpp-apiv3: key not found';
export const MESSAGE_COMPARE_FAILED = 'etcd-cpp-apiv3: compare failed';
export const MESSAGE_KEY_ALREADY_EXISTS = 'etcd-cpp-apiv3: key already exists';
/** What a call that ran past `set_grpc_timeout` reports (C++ wording). */
export const MESSAGE_GRPC_TIMEOUT = 'gRPC timeout';

/**
 * A failed RPC as a transport reports it: the gRPC status code and the server's (or transport's) text.
 * `sent === false` means the transport knows the request never left this process, so even a write may be
 * retried; `undefined` means it cannot tell.
 */
export class GrpcStatusError extends Error {
  override name = 'GrpcStatusError';
  constructor(
    readonly code: number,
    readonly details: string,
    readonly sent?: boolean,
    /** True when our own deadline (not the server) ended the call. */
    readonly localDeadline = false,
  ) {
    super(`${code} ${details}`);
  }
}

/** An object of this library was used after its `close()` (a Client, a Registry, a Discovery); the base of ClientClosedError. */
export class ClosedError extends Error {
  override name = 'ClosedError';
  readonly code = 'ERR_CLOSED';
}

/** Thrown (promise rejected) by every call made after `Client.close()`. */
export class ClientClosedError extends ClosedError {
  override name = 'ClientClosedError';
  constructor(what = 'the etcd client') {
    super(`${what} is closed`);
  }
}

/**
 * The lease a KeepAlive refreshes is gone: revoked, expired, or answered with TTL 0. Final.
 * A RangeError because C++ throws `std::out_of_range` here.
 */
export class LeaseExpiredError extends RangeError {
  override name = 'LeaseExpiredError';
  constructor(readonly leaseId: bigint, message = 'Failed to refresh lease due to expiration: the new TTL is 0.') {
    super(message);
  }
}

/**
 * A KeepAlive could not refresh its lease before the lease must have expired (the connection stayed down),
 * or a refresh failed for a reason other than the lease being gone. Mirrors C++ `std::runtime_error`.
 */
export class KeepAliveError extends Error {
  override name = 'KeepAliveError';
  constructor(
    readonly leaseId: bigint,
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

/** The `(code, message)` pair a Response carries for a failure. */
export interface Failure {
  code: number;
  message: string;
}

/**
 * Converts anything a call can fail with into the Response's code and message. gRPC statuses pass through
 * with the server's text, except our own deadline, which reads `gRPC timeout` as in C++. Anything else
 * (a codec bug, say) is reported as UNKNOWN with its message rather than thrown, so a server-side surprise
 * never becomes an exception in user code.
 */
export function toFailure(err: unknown): Failure {
  if (err instanceof GrpcStatusError) {
    if (err.code === ERROR_GRPC_DEADLINE_EXCEEDED && err.localDeadline) {
      return { code: ERROR_GRPC_DEADLINE_EXCEEDED, message: MESSAGE_GRPC_TIMEOUT };
    }
    return { code: err.code, message: err.details };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: ERROR_GRPC_UNKNOWN, message };
}

/** True for the statuses after which a stream (watch, keepalive, observe) should be reopened. */
export function isTransientStreamError(code: number): boolean {
  return (
    code === ERROR_GRPC_UNAVAILABLE ||
    code === ERROR_GRPC_INTERNAL ||
    code === ERROR_GRPC_UNKNOWN ||
    code === ERROR_GRPC_DEADLINE_EXCEEDED ||
    code === ERROR_GRPC_CANCELLED || // a member shutting down cancels its streams
    code === ERROR_GRPC_ABORTED ||
    code === ERROR_GRPC_RESOURCE_EXHAUSTED
  );
}

/** True for an answer that means "get a new token and try again" (server-messages.ts, TOKEN_REFRESH). */
export function needsNewToken(err: unknown): boolean {
  return err instanceof GrpcStatusError && TOKEN_REFRESH.has(err.details);
}

/** Go's names of the gRPC codes, as they appear in `status.Error(...).Error()`. */
const GO_CODE_NAMES: readonly string[] = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

/**
 * The status behind a watch response's `cancel_reason`. etcd writes a refused watch create as Go's
 * `status.Error(...).Error()`, e.g. `rpc error: code = Unauthenticated desc = etcdserver: invalid auth token`
 * or `rpc error: code = PermissionDenied desc = etcdserver: permission denied`: that becomes code 16 / 7 with
 * the bare etcd text, so the token messages match {@link needsNewToken} and a Response carries the same
 * `(code, message)` as a unary call refused for the same reason. Any other text is CANCELLED (1) with it as is.
 */
export function watchCancelStatus(reason: string): GrpcStatusError {
  const m = /^rpc error: code = (\w+) desc = ([\s\S]*)$/.exec(reason);
  const code = m ? GO_CODE_NAMES.indexOf(m[1]!) : -1;
  if (m && code > 0) return new GrpcStatusError(code, m[2]!);
  return new GrpcStatusError(ERROR_GRPC_CANCELLED, reason || 'watch canceled by the server');
}

// ---- errors of the long-lived objects (KeepAlive, Watcher, Observer, Registry, Discovery) ------------------
// Each has a stable `code`: a number is a gRPC/etcd code (as in a Response), a string names a condition of
// this library. `instanceof` works on the class; `code` survives serialisation and bundlers that rename.

/** etcd answered an operation of the discovery layer (or a lease grant) with an error: its code and text. */
export class EtcdError extends Error {
  override name = 'EtcdError';
  constructor(
    message: string,
    /** etcd's (gRPC or C++-style) code, as `Response.error_code()`. */
    readonly code: number,
    /** etcd's text, as `Response.error_message()`. */
    readonly details: string,
  ) {
    super(message);
  }
}

/** `Registry.register` found the key held by someone else (pass `{ replace: true }` to take it over). */
export class AlreadyRegisteredError extends Error {
  override name = 'AlreadyRegisteredError';
  readonly code = ERROR_KEY_ALREADY_EXISTS;
}

/** A registration's key was written by someone else; the registration has ended (`onReplaced`). */
export class RegistrationReplacedError extends Error {
  override name = 'RegistrationReplacedError';
  readonly code = 'ERR_REPLACED';
}

/** A registration's key was deleted while its lease was alive; it is being written again (`onLost`). */
export class KeyDeletedError extends Error {
  override name = 'KeyDeletedError';
  readonly code = 'ERR_KEY_DELETED';
}

/** `KeepAlive.Lease()` was called before the lease it grants exists: await `ready()` first. */
export class LeaseNotReadyError extends Error {
  override name = 'LeaseNotReadyError';
  readonly code = 'ERR_LEASE_NOT_READY';
}

/** A Watcher ended before etcd acknowledged it (`ready()` rejects with it). */
export class WatchEndedError extends Error {
  override name = 'WatchEndedError';
  readonly code = 'ERR_WATCH_ENDED';
}

/**
 * The connection signal of a Watcher, Observer or Discovery: etcd did not answer within the bound
 * (`UNREACHABLE_AFTER_MS`). `code` is 14 (UNAVAILABLE); `cause` is the last stream error, if any.
 */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
  readonly code = ERROR_GRPC_UNAVAILABLE;
}

/** An optional peer dependency (`@grpc/grpc-js`) is needed for what was asked but is not installed. */
export class MissingPeerDependencyError extends Error {
  override name = 'MissingPeerDependencyError';
  readonly code = 'ERR_MISSING_PEER_DEPENDENCY';
  constructor(
    readonly packageName: string,
    what: string,
  ) {
    super(`${what} needs the package '${packageName}', which is not installed: npm install ${packageName}`);
  }
}

// ---- calls newer than the server ------------------------------------------------------------------------------

/**
 * The etcd release that introduced each RPC this client knows and etcd 3.4 does not. An older server answers
 * them with a bare UNIMPLEMENTED; {@link unsupportedByServer} turns that into an error naming both versions.
 */
export const MIN_ETCD_VERSION: Readonly<Record<string, string>> = {
  '/etcdserverpb.Auth/AuthStatus': '3.5',
  '/etcdserverpb.Maintenance/Downgrade': '3.5',
  '/etcdserverpb.KV/RangeStream': '3.7',
};

/** True when release `version` ("3.4.23", "3.7.0-alpha.1") is at least `min` ("3.5"), by major.minor.patch. */
export function etcdVersionAtLeast(version: string, min: string): boolean {
  const parse = (v: string) => (/^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(v) ?? []).slice(1, 4).map((n) => Number(n ?? 0));
  const a = parse(version);
  const b = parse(min);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/**
 * A call the server does not know because it is older than the release that introduced it (still code 12,
 * UNIMPLEMENTED), e.g. `AuthStatus needs etcd >= 3.5; the server is 3.4.23`.
 */
export class UnsupportedByServerError extends GrpcStatusError {
  override name = 'UnsupportedByServerError';
  constructor(
    /** The RPC's name, e.g. `AuthStatus`. */
    readonly rpc: string,
    /** The first etcd release that has it, e.g. `3.5`. */
    readonly requiredVersion: string,
    /** The server's version as its Status call reports it; undefined when that could not be read. */
    readonly serverVersion: string | undefined,
    why?: string,
  ) {
    super(
      ERROR_GRPC_UNIMPLEMENTED,
      serverVersion !== undefined
        ? `${rpc} needs etcd >= ${requiredVersion}; the server is ${serverVersion}`
        : `${rpc} needs etcd >= ${requiredVersion}; the server does not know it, and its version could not be read (${why})`,
    );
  }
}

/**
 * What an UNIMPLEMENTED answer to `path` means, given the server's version (undefined: unknown, with `why`):
 * an UnsupportedByServerError when the server is older than the call, otherwise `err` unchanged (the call is
 * not in the table, or the server is new enough and refused it for another reason — RangeStream with a sort
 * order, say).
 */
export function unsupportedByServer(path: string, err: unknown, serverVersion: string | undefined, why?: string): unknown {
  const required = MIN_ETCD_VERSION[path];
  if (!(err instanceof GrpcStatusError) || err.code !== ERROR_GRPC_UNIMPLEMENTED || required === undefined) return err;
  if (serverVersion !== undefined && etcdVersionAtLeast(serverVersion, required)) return err;
  return new UnsupportedByServerError(path.slice(path.lastIndexOf('/') + 1), required, serverVersion, why);
}
