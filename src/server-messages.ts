// The one place that knows etcd's own error texts. etcd answers many refusals with a gRPC code that several
// situations share (UNAVAILABLE for "no leader" and for a lost connection alike), so what a refusal means is
// read from its message; every module that branches on one asks here. The texts are etcd's exact wording
// (api/v3rpc/rpctypes in etcd), the same on 3.4 through 3.7 unless said otherwise.

/** The member has no raft leader: refused before the request was looked at. */
export const NO_LEADER = 'etcdserver: no leader';

/** The member is a learner (not yet promoted): it serves only Status and serializable reads. 14 before 3.6, 9 since. */
export const LEARNER = 'etcdserver: rpc not supported for learner';

/** Refusals that describe the whole cluster (its version), not one member: another member would say the same. */
export const CLUSTER_REFUSALS: ReadonlySet<string> = new Set([
  'etcdserver: not capable',
  'etcdserver: cluster version not found during downgrade',
]);

/**
 * Answers that mean "get a new token and try again" (etcd's own client refreshes on the same three): the token
 * expired or was never sent, or the auth store changed since it was issued.
 */
export const TOKEN_REFRESH: ReadonlySet<string> = new Set([
  'etcdserver: invalid auth token',
  'etcdserver: user name is empty',
  'etcdserver: revision of auth store is old',
]);

/** Authenticate with a wrong user name or password (etcd's code 3, INVALID_ARGUMENT). */
export const AUTH_FAILED = 'etcdserver: authentication failed, invalid user ID or password';

/** Authenticate against an etcd without authentication enabled. */
export const AUTH_NOT_ENABLED = 'etcdserver: authentication is not enabled';

/** A watch created (or resumed) at a revision etcd has compacted away. */
export const COMPACTED = 'required revision has been compacted';
