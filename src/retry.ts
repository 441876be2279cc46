// The one table that says which calls may be retried, and on what. A retry must never apply a write twice:
// reads and lease calls are idempotent, so they retry on UNAVAILABLE (a member down, no leader, connection
// lost); writes retry only when the request surely was not applied — the transport knows it never left this
// process (`sent === false`), or etcd refused it with "no leader" before looking at it (see NOT_PROCESSED).
//
// Three more decisions live here, because they follow from the same table:
//
// - Leader required. Calls on etcd's data (KV, Lease, Lock, Election) carry etcd's `hasleader` metadata, so a
//   member that lost its raft leader (partitioned, or the last one alive) refuses them at once with 14
//   "etcdserver: no leader" instead of letting them wait for its 7 s request timeout; a safe call then fails
//   over to another member. Member-local calls (Maintenance, Cluster, Auth) do not: a leaderless member still
//   answers Status or MemberList. Streams carry the same metadata (see Connection.openStream).
//
// - Per-attempt deadline for safe calls. A member stopped with SIGSTOP (or behind a dead link) keeps its TCP
//   connection open and silent: a call routed to it waits until the HTTP/2 keepalive notices (up to 9 s, see
//   transport/grpc-js.ts), and a member alive at the transport level but stuck (e.g. a stalled disk under a
//   linearizable read) would hold a call without a deadline forever. So an attempt of a 'safe' call that gets
//   no answer within attemptTimeoutMs(n) — 2 s for the first, doubling up to 16 s — is abandoned and retried
//   (on the next member: the balancer rotates). Doubling keeps a legitimately slow read (a huge range) from
//   failing: a later attempt has room for it. The caller's own deadline (`set_grpc_timeout`) still bounds the
//   whole call and is reported as 4 "gRPC timeout"; only when the per-attempt deadline ran out first does the
//   attempt count as UNAVAILABLE. Writes get no per-attempt deadline: abandoning one would leave its outcome
//   unknown, and it could not be retried anyway. The per-attempt deadline stays local (CallOptions.localDeadline):
//   etcd is not sent it, so a read carries no grpc-timeout header unless the caller set a timeout.
//
// - Bounds. At most MAX_UNARY_ATTEMPTS attempts, spaced by backoffMs, so a dead cluster answers 14 instead of
//   hanging even without a client timeout.
//
// - The same answer on every etcd version. etcd 3.6 moved three refusals from 14 UNAVAILABLE to 9
//   FAILED_PRECONDITION; 3.4 and 3.5 still send 14. The table goes by etcd's text, so the code does not matter:
//   * "etcdserver: rpc not supported for learner": the member is a learner (not yet promoted), and its gRPC
//     interceptor refuses everything but Status and serializable reads before any handler runs, so the request
//     was surely not applied. The member is wrong, not the request: every call — read, write, lock — is sent
//     again, to the next member (as etcd's Go client does: it retries this one answer whatever the call). We
//     cannot tell how many members the endpoints stand for (a host name may resolve to several), so unlike Go
//     we retry even with one endpoint; the attempt bound and the caller's deadline end it.
//   * "etcdserver: not capable" (the cluster's version is too old for the request) and "etcdserver: cluster
//     version not found during downgrade" are the cluster's state, the same on every member, and do not change
//     within seconds: never retried, even on 3.4/3.5 where they arrive as UNAVAILABLE.

import { backoffDelay, UNARY_RETRY } from './backoff';
import { ERROR_GRPC_FAILED_PRECONDITION, ERROR_GRPC_UNAVAILABLE, GrpcStatusError, isTransientStreamError } from './errors';
import { CLUSTER_REFUSALS, LEARNER, NO_LEADER } from './server-messages';

export type RetryPolicy =
  /** Idempotent: retry on UNAVAILABLE. */
  | 'safe'
  /** Changes state: retry only if the request surely was not sent. */
  | 'unsent-only'
  /** Blocks on the server (lock, campaign) or is not worth repeating: never retried by us. */
  | 'never';

const POLICY: Readonly<Record<string, RetryPolicy>> = {
  '/etcdserverpb.KV/Range': 'safe',
  '/etcdserverpb.KV/Put': 'unsent-only',
  '/etcdserverpb.KV/DeleteRange': 'unsent-only',
  '/etcdserverpb.KV/Txn': 'unsent-only',
  '/etcdserverpb.KV/Compact': 'unsent-only',
  // Granting twice would leak a lease; revoking, asking about or listing leases is idempotent.
  '/etcdserverpb.Lease/LeaseGrant': 'unsent-only',
  '/etcdserverpb.Lease/LeaseRevoke': 'safe',
  '/etcdserverpb.Lease/LeaseTimeToLive': 'safe',
  '/etcdserverpb.Lease/LeaseLeases': 'safe',
  '/etcdserverpb.Cluster/MemberList': 'safe',
  '/etcdserverpb.Cluster/MemberAdd': 'unsent-only',
  '/etcdserverpb.Cluster/MemberRemove': 'unsent-only',
  '/etcdserverpb.Cluster/MemberUpdate': 'unsent-only',
  '/etcdserverpb.Cluster/MemberPromote': 'unsent-only',
  '/etcdserverpb.Maintenance/Status': 'safe',
  '/etcdserverpb.Maintenance/Alarm': 'unsent-only',
  '/etcdserverpb.Maintenance/Hash': 'safe',
  '/etcdserverpb.Maintenance/HashKV': 'safe',
  '/etcdserverpb.Auth/Authenticate': 'safe',
  '/v3lockpb.Lock/Lock': 'never',
  '/v3lockpb.Lock/Unlock': 'unsent-only',
  '/v3electionpb.Election/Campaign': 'never',
  '/v3electionpb.Election/Proclaim': 'unsent-only',
  '/v3electionpb.Election/Leader': 'safe',
  '/v3electionpb.Election/Resign': 'unsent-only',
};

/** The policy for an RPC path; anything not listed is never retried. */
export function retryPolicy(path: string): RetryPolicy {
  return Object.hasOwn(POLICY, path) ? POLICY[path]! : 'never';
}

/** Services whose calls need a raft leader: they carry `hasleader` (see the comment at the top). */
const LEADER_SERVICES = ['/etcdserverpb.KV/', '/etcdserverpb.Lease/', '/v3lockpb.Lock/', '/v3electionpb.Election/'];

/** Whether a call should carry etcd's `hasleader` metadata (refused at once by a member without a leader). */
export function requiresLeader(path: string): boolean {
  // Asked on every call: remembered per path (a handful of method paths, never user input).
  let v = leaderByPath.get(path);
  if (v === undefined) leaderByPath.set(path, (v = LEADER_SERVICES.some((prefix) => path.startsWith(prefix))));
  return v;
}
const leaderByPath = new Map<string, boolean>();

/**
 * etcd's answers that mean the request was refused before it was looked at, so it was surely not applied:
 * its gRPC interceptor checks `hasleader` before any handler runs, and no KV, lease-grant, lock or election
 * handler returns this text itself.
 */
const NOT_PROCESSED: ReadonlySet<string> = new Set([NO_LEADER]);

/** True when the request surely was not applied: never sent, or refused by etcd before processing. */
export function surelyNotApplied(path: string, err: GrpcStatusError): boolean {
  return err.sent === false || refusedByLearner(err) || (requiresLeader(path) && err.code === ERROR_GRPC_UNAVAILABLE && NOT_PROCESSED.has(err.details));
}

/**
 * Whether a stream (watch, keepalive, observe) that ended with `err` should be opened again: the transient
 * codes of {@link isTransientStreamError}, and a learner's refusal in either code (etcd refuses every stream
 * on a learner; the next attempt may reach a voting member).
 */
export function streamMayReopen(err: GrpcStatusError): boolean {
  return isTransientStreamError(err.code) || refusedByLearner(err);
}

/** etcd's refusal by a learner member (14 before etcd 3.6, 9 since): try another member (see the top). */
export const MESSAGE_LEARNER = LEARNER;

/** True for a learner's refusal, as etcd 3.4/3.5 (14) or 3.6+ (9) sends it. */
export function refusedByLearner(err: GrpcStatusError): boolean {
  return (err.code === ERROR_GRPC_UNAVAILABLE || err.code === ERROR_GRPC_FAILED_PRECONDITION) && err.details === MESSAGE_LEARNER;
}

/** Whether a failed call may be sent again. */
export function mayRetry(path: string, err: unknown): boolean {
  if (!(err instanceof GrpcStatusError)) return false;
  if (refusedByLearner(err)) return true;
  if (err.code !== ERROR_GRPC_UNAVAILABLE || CLUSTER_REFUSALS.has(err.details)) return false;
  switch (retryPolicy(path)) {
    case 'safe':
      return true;
    case 'unsent-only':
      return surelyNotApplied(path, err);
    case 'never':
      return false;
  }
}

/** The first attempt's deadline for a 'safe' call; each later attempt gets twice the previous one, up to the max. */
export const FIRST_ATTEMPT_TIMEOUT_MS = 2000;
export const MAX_ATTEMPT_TIMEOUT_MS = 16_000;

/**
 * How long attempt `attempt` (1-based) of `path` may wait for an answer before it is abandoned and retried;
 * undefined for calls that are not 'safe' (they wait for the caller's deadline or the transport).
 */
export function attemptTimeoutMs(path: string, attempt: number): number | undefined {
  if (retryPolicy(path) !== 'safe') return undefined;
  return Math.min(MAX_ATTEMPT_TIMEOUT_MS, FIRST_ATTEMPT_TIMEOUT_MS * 2 ** Math.max(0, Math.min(attempt - 1, 10)));
}

/** Backoff before retry `attempt` (0-based): the UNARY_RETRY policy, 50 ms doubling to 1 s, with ±25 % jitter. */
export function backoffMs(attempt: number): number {
  return backoffDelay(UNARY_RETRY, attempt);
}

/**
 * Unary retries stop after this many attempts even without a deadline, so a dead cluster answers 14. Seven
 * attempts space their backoffs over ~2.5 s, long enough to ride out a raft election (a member that lost its
 * leader answers "no leader" until a new one is elected, 1–2 s with etcd's default 1 s election timeout).
 * Worst case without a caller deadline, every attempt of a safe call silent: 2+4+8+16+16+16+16 s + backoffs.
 */
export const MAX_UNARY_ATTEMPTS = 7;
