import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GrpcStatusError } from '../../src/errors';
import { attemptTimeoutMs, backoffMs, FIRST_ATTEMPT_TIMEOUT_MS, MAX_UNARY_ATTEMPTS, mayRetry, requiresLeader, retryPolicy, streamMayReopen, surelyNotApplied } from '../../src/retry';

const RANGE = '/etcdserverpb.KV/Range';
const PUT = '/etcdserverpb.KV/Put';
const LOCK = '/v3lockpb.Lock/Lock';

const unavailable = (sent?: boolean) => new GrpcStatusError(14, 'connection refused', sent);

test('a read retries on UNAVAILABLE whether or not it was sent', () => {
  assert.ok(mayRetry(RANGE, unavailable()));
  assert.ok(mayRetry(RANGE, unavailable(true)));
  assert.ok(mayRetry(RANGE, unavailable(false)));
});

test('a read does not retry on other codes', () => {
  assert.not.ok(mayRetry(RANGE, new GrpcStatusError(3, 'etcdserver: invalid argument')));
  for (const code of [1, 2, 4, 5, 8, 11, 13, 16]) {
    assert.not.ok(mayRetry(RANGE, new GrpcStatusError(code, 'x', false)), `code ${code}`);
  }
});

test('a write retries only when it surely was not sent', () => {
  assert.not.ok(mayRetry(PUT, unavailable(undefined)));
  assert.not.ok(mayRetry(PUT, unavailable(true)));
  assert.ok(mayRetry(PUT, unavailable(false)));
});

test('a write never retries on codes other than UNAVAILABLE, even unsent', () => {
  assert.not.ok(mayRetry(PUT, new GrpcStatusError(4, 'deadline', false)));
  assert.not.ok(mayRetry(PUT, new GrpcStatusError(13, 'internal', false)));
});

test('Lock and Campaign are never retried', () => {
  assert.not.ok(mayRetry(LOCK, unavailable(false)));
  assert.not.ok(mayRetry(LOCK, unavailable()));
  assert.not.ok(mayRetry('/v3electionpb.Election/Campaign', unavailable(false)));
});

test('an unknown path is never retried', () => {
  assert.not.ok(mayRetry('/etcdserverpb.Watch/Watch', unavailable(false)));
  assert.not.ok(mayRetry('/no.Such/Method', unavailable(false)));
  assert.not.ok(mayRetry('', unavailable(false)));
  assert.is(retryPolicy('/no.Such/Method'), 'never');
});

test('something that is not a GrpcStatusError is never retried', () => {
  assert.not.ok(mayRetry(RANGE, new Error('14 UNAVAILABLE')));
  assert.not.ok(mayRetry(RANGE, { code: 14, sent: false }));
  assert.not.ok(mayRetry(RANGE, undefined));
});

test('the policy table: reads and idempotent lease calls are safe, writes and grants are unsent-only', () => {
  const expected: Record<string, string> = {
    '/etcdserverpb.KV/Range': 'safe',
    '/etcdserverpb.KV/Put': 'unsent-only',
    '/etcdserverpb.KV/DeleteRange': 'unsent-only',
    '/etcdserverpb.KV/Txn': 'unsent-only',
    '/etcdserverpb.KV/Compact': 'unsent-only',
    '/etcdserverpb.Lease/LeaseGrant': 'unsent-only',
    '/etcdserverpb.Lease/LeaseRevoke': 'safe',
    '/etcdserverpb.Lease/LeaseTimeToLive': 'safe',
    '/etcdserverpb.Lease/LeaseLeases': 'safe',
    '/etcdserverpb.Cluster/MemberList': 'safe',
    '/etcdserverpb.Cluster/MemberAdd': 'unsent-only',
    '/etcdserverpb.Cluster/MemberRemove': 'unsent-only',
    '/etcdserverpb.Auth/Authenticate': 'safe',
    '/v3lockpb.Lock/Lock': 'never',
    '/v3lockpb.Lock/Unlock': 'unsent-only',
    '/v3electionpb.Election/Campaign': 'never',
    '/v3electionpb.Election/Leader': 'safe',
  };
  for (const [path, policy] of Object.entries(expected)) assert.is(retryPolicy(path), policy, path);
});

test('a path named like an Object.prototype member is never retried', () => {
  assert.not.ok(mayRetry('constructor', unavailable(false)));
  assert.not.ok(mayRetry('toString', unavailable(false)));
});

// Skipped until src/retry.ts looks paths up with Object.hasOwn: today `POLICY[path] ?? 'never'` returns
// Object.prototype members (retryPolicy('toString') is a function, not a RetryPolicy).
test('retryPolicy has no accidental prototype entries', () => {
  assert.is(retryPolicy('toString'), 'never');
  assert.is(retryPolicy('__proto__'), 'never');
  assert.is(retryPolicy('constructor'), 'never');
});

test('"no leader" from etcd means the write was refused before processing: retried, for leader-bound calls only', () => {
  const noLeader = new GrpcStatusError(14, 'etcdserver: no leader');
  for (const path of [PUT, '/etcdserverpb.KV/Txn', '/etcdserverpb.KV/DeleteRange', '/etcdserverpb.Lease/LeaseGrant', '/v3lockpb.Lock/Unlock']) {
    assert.ok(mayRetry(path, noLeader), path);
    assert.ok(surelyNotApplied(path, noLeader), path);
  }
  // other unavailability of a write stays unknown; Cluster calls carry no hasleader, so the text proves nothing
  assert.not.ok(mayRetry(PUT, new GrpcStatusError(14, 'etcdserver: request timed out')));
  assert.not.ok(mayRetry(PUT, new GrpcStatusError(14, 'etcdserver: no leader (and more)')));
  assert.not.ok(mayRetry('/etcdserverpb.Cluster/MemberAdd', noLeader));
  assert.not.ok(mayRetry(LOCK, noLeader), 'Lock is never retried');
  assert.not.ok(mayRetry(PUT, new GrpcStatusError(2, 'etcdserver: no leader')), 'only as UNAVAILABLE');
});

test('hasleader goes on KV, Lease, Lock and Election calls, not on member-local ones', () => {
  for (const path of [RANGE, PUT, '/etcdserverpb.Lease/LeaseTimeToLive', LOCK, '/v3electionpb.Election/Leader']) assert.ok(requiresLeader(path), path);
  for (const path of ['/etcdserverpb.Maintenance/Status', '/etcdserverpb.Cluster/MemberList', '/etcdserverpb.Auth/Authenticate', '', 'toString']) {
    assert.not.ok(requiresLeader(path), path);
  }
});

test('per-attempt deadline: safe calls only, 2 s doubling to 16 s', () => {
  assert.equal([1, 2, 3, 4, 5, 6, 7, 100].map((n) => attemptTimeoutMs(RANGE, n)), [2000, 4000, 8000, 16_000, 16_000, 16_000, 16_000, 16_000]);
  assert.is(attemptTimeoutMs(RANGE, 1), FIRST_ATTEMPT_TIMEOUT_MS);
  assert.is(attemptTimeoutMs('/etcdserverpb.Lease/LeaseLeases', 1), 2000);
  for (const path of [PUT, '/etcdserverpb.KV/Txn', LOCK, '/v3electionpb.Election/Campaign', '/no.Such/Method']) {
    assert.is(attemptTimeoutMs(path, 1), undefined, path);
  }
});

/** Runs fn with Math.random pinned to `r`. */
function withRandom<T>(r: number, fn: () => T): T {
  const saved = Math.random;
  Math.random = () => r;
  try {
    return fn();
  } finally {
    Math.random = saved;
  }
}

test('backoffMs stays within 0..1250 ms for any attempt', () => {
  for (let attempt = 0; attempt < 40; attempt++) {
    for (let i = 0; i < 50; i++) {
      const ms = backoffMs(attempt);
      assert.ok(Number.isInteger(ms), `attempt ${attempt}: ${ms} is an integer`);
      assert.ok(ms >= 0 && ms <= 1250, `attempt ${attempt}: ${ms} within 0..1250`);
    }
  }
});

test('backoffMs without jitter doubles from 50 ms and caps at 1 s', () => {
  const mid = withRandom(0.5, () => [0, 1, 2, 3, 4, 5, 6, 10, 100].map(backoffMs));
  assert.equal(mid, [50, 100, 200, 400, 800, 1000, 1000, 1000, 1000]);
});

test('backoffMs jitter is ±25 %', () => {
  assert.is(withRandom(0, () => backoffMs(0)), 38); // 37.5 rounded
  assert.is(withRandom(0.999999, () => backoffMs(0)), 62);
  assert.is(withRandom(0, () => backoffMs(20)), 750);
  assert.is(withRandom(0.999999, () => backoffMs(20)), 1250);
});

test('backoffMs grows: a late attempt always waits longer than an early one', () => {
  let earlyMax = 0;
  let lateMin = Infinity;
  for (let i = 0; i < 200; i++) {
    earlyMax = Math.max(earlyMax, backoffMs(0));
    lateMin = Math.min(lateMin, backoffMs(4));
  }
  assert.ok(earlyMax < lateMin, `attempt 0 max ${earlyMax} < attempt 4 min ${lateMin}`);
});

test('unary retries are bounded', () => {
  assert.ok(Number.isInteger(MAX_UNARY_ATTEMPTS));
  assert.ok(MAX_UNARY_ATTEMPTS >= 1 && MAX_UNARY_ATTEMPTS <= 10);
});

// etcd 3.6 changed three refusals from 14 UNAVAILABLE to 9 FAILED_PRECONDITION (3.4/3.5 still send 14): the table
// must give the same answer for both codes.
const VERSION_CODES = [14, 9] as const;
const LEARNER = 'etcdserver: rpc not supported for learner';

test('a learner refusal (14 before etcd 3.6, 9 since) is retried for every call: it was refused before any handler ran', () => {
  for (const code of VERSION_CODES) {
    for (const path of [RANGE, PUT, '/etcdserverpb.KV/Txn', '/etcdserverpb.Lease/LeaseGrant', LOCK, '/v3electionpb.Election/Campaign', '/etcdserverpb.Maintenance/MoveLeader']) {
      for (const sent of [undefined, true, false]) {
        const err = new GrpcStatusError(code, LEARNER, sent);
        assert.ok(mayRetry(path, err), `${path} code ${code} sent=${sent}`);
        assert.ok(surelyNotApplied(path, err), `surelyNotApplied ${path} code ${code}`);
      }
    }
  }
});

test('the learner text with another code is not a learner refusal', () => {
  for (const code of [2, 3, 7, 13]) {
    assert.not.ok(mayRetry(RANGE, new GrpcStatusError(code, LEARNER)), `code ${code}`);
    assert.not.ok(mayRetry(PUT, new GrpcStatusError(code, LEARNER)), `code ${code}`);
  }
});

test('"not capable" and "cluster version not found during downgrade" are never retried, as 14 (etcd 3.4/3.5) or 9 (3.6+)', () => {
  for (const code of VERSION_CODES) {
    for (const details of ['etcdserver: not capable', 'etcdserver: cluster version not found during downgrade']) {
      for (const path of [RANGE, PUT, '/etcdserverpb.Maintenance/Status', '/etcdserverpb.Maintenance/Downgrade']) {
        assert.not.ok(mayRetry(path, new GrpcStatusError(code, details)), `${path} ${code} ${details}`);
        assert.not.ok(mayRetry(path, new GrpcStatusError(code, details, true)), `${path} ${code} ${details} sent`);
      }
    }
  }
});

test('FAILED_PRECONDITION with any other text is never retried (e.g. 3.6 "not leader", "bad leader transferee")', () => {
  for (const details of ['etcdserver: not leader', 'etcdserver: bad leader transferee', 'etcdserver: authentication is not enabled']) {
    assert.not.ok(mayRetry(RANGE, new GrpcStatusError(9, details)), details);
    assert.not.ok(mayRetry(PUT, new GrpcStatusError(9, details, false)), details);
  }
});

test('permission and authentication refusals (auth hardening on etcd 3.5.28+/3.6.9+/3.7) are never retried', () => {
  for (const path of [RANGE, PUT, '/etcdserverpb.KV/Compact', '/etcdserverpb.Lease/LeaseGrant', '/etcdserverpb.Lease/LeaseRevoke', '/etcdserverpb.Lease/LeaseTimeToLive', '/etcdserverpb.Maintenance/Status']) {
    assert.not.ok(mayRetry(path, new GrpcStatusError(7, 'etcdserver: permission denied')), path);
    assert.not.ok(mayRetry(path, new GrpcStatusError(3, 'etcdserver: user name is empty')), path);
  }
});

test('streams reopen on transient codes and on a learner refusal in either code, not on permanent refusals', () => {
  for (const code of VERSION_CODES) assert.ok(streamMayReopen(new GrpcStatusError(code, LEARNER)), `learner ${code}`);
  assert.ok(streamMayReopen(new GrpcStatusError(14, 'connection refused')));
  assert.ok(streamMayReopen(new GrpcStatusError(1, 'etcdserver: request canceled')));
  assert.not.ok(streamMayReopen(new GrpcStatusError(7, 'etcdserver: permission denied')));
  assert.not.ok(streamMayReopen(new GrpcStatusError(9, 'etcdserver: not capable')));
  assert.not.ok(streamMayReopen(new GrpcStatusError(12, 'unknown service etcdserverpb.KV')));
});

test.run();
