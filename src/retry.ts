// The one table that says which calls may be retried, and on what. A retry must never apply a write twice:
// reads and lease calls are idempotent, so they retry on UNAVAILABLE (a member down, no leader, connection
// lost); writes retry only when the transport knows the request never left this process.

import { ERROR_GRPC_UNAVAILABLE, GrpcStatusError } from './errors';

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

/** Whether a failed call may be sent again. */
export function mayRetry(path: string, err: unknown): boolean {
  if (!(err instanceof GrpcStatusError) || err.code !== ERROR_GRPC_UNAVAILABLE) return false;
  switch (retryPolicy(path)) {
    case 'safe':
      return true;
    case 'unsent-only':
      return err.sent === false;
    case 'never':
      return false;
  }
}

/** Backoff before retry `attempt` (0-based): 50 ms doubling to 1 s, with ±25 % jitter. */
export function backoffMs(attempt: number): number {
  const base = Math.min(1000, 50 * 2 ** attempt);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** Unary retries stop after this many attempts even without a deadline, so a dead cluster answers 14. */
export const MAX_UNARY_ATTEMPTS = 5;
