import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as E from '../../src/errors';
import {
  ClientClosedError,
  GrpcStatusError,
  isTransientStreamError,
  KeepAliveError,
  LeaseExpiredError,
  needsNewToken,
  toFailure,
  watchCancelStatus,
} from '../../src/errors';

// ---------------------------------------------------------------- toFailure

test('toFailure passes a gRPC status through with the server text', () => {
  assert.equal(toFailure(new GrpcStatusError(14, 'x')), { code: 14, message: 'x' });
  assert.equal(toFailure(new GrpcStatusError(5, 'etcdserver: requested lease not found')), {
    code: 5,
    message: 'etcdserver: requested lease not found',
  });
  assert.equal(toFailure(new GrpcStatusError(11, 'etcdserver: mvcc: required revision has been compacted')), {
    code: 11,
    message: 'etcdserver: mvcc: required revision has been compacted',
  });
});

test('toFailure reports our own deadline as "gRPC timeout" (C++ wording)', () => {
  assert.equal(toFailure(new GrpcStatusError(4, 'Deadline exceeded after 0.1s', undefined, true)), {
    code: 4,
    message: 'gRPC timeout',
  });
  assert.is(E.MESSAGE_GRPC_TIMEOUT, 'gRPC timeout');
});

test('toFailure keeps the server text for a DEADLINE_EXCEEDED the server sent', () => {
  assert.equal(toFailure(new GrpcStatusError(4, 'context deadline exceeded')), { code: 4, message: 'context deadline exceeded' });
  assert.equal(toFailure(new GrpcStatusError(4, 'context deadline exceeded', true, false)), {
    code: 4,
    message: 'context deadline exceeded',
  });
});

test('toFailure ignores localDeadline on codes other than 4', () => {
  assert.equal(toFailure(new GrpcStatusError(14, 'No connection established', false, true)), {
    code: 14,
    message: 'No connection established',
  });
});

test('toFailure turns a plain Error into UNKNOWN (2) with its message', () => {
  assert.equal(toFailure(new Error('index out of range')), { code: 2, message: 'index out of range' });
  assert.equal(toFailure(new TypeError('bad wire data')), { code: 2, message: 'bad wire data' });
});

test('toFailure turns a thrown non-Error into UNKNOWN with its string form', () => {
  assert.equal(toFailure('boom'), { code: 2, message: 'boom' });
  assert.equal(toFailure(undefined), { code: 2, message: 'undefined' });
  assert.equal(toFailure(42), { code: 2, message: '42' });
});

// ---------------------------------------------------------------- needsNewToken

test('needsNewToken is true for the three etcd token messages', () => {
  assert.ok(needsNewToken(new GrpcStatusError(16, 'etcdserver: invalid auth token')));
  assert.ok(needsNewToken(new GrpcStatusError(3, 'etcdserver: user name is empty')));
  assert.ok(needsNewToken(new GrpcStatusError(9, 'etcdserver: revision of auth store is old')));
});

test('needsNewToken is false for other auth errors', () => {
  assert.not.ok(needsNewToken(new GrpcStatusError(7, 'etcdserver: permission denied')));
  assert.not.ok(needsNewToken(new GrpcStatusError(3, 'etcdserver: authentication failed, invalid user ID or password')));
  assert.not.ok(needsNewToken(new GrpcStatusError(9, 'etcdserver: authentication is not enabled')));
  assert.not.ok(needsNewToken(new GrpcStatusError(16, '')));
});

test('needsNewToken matches exact messages only', () => {
  assert.not.ok(needsNewToken(new GrpcStatusError(16, 'etcdserver: invalid auth token ')));
  assert.not.ok(needsNewToken(new GrpcStatusError(16, 'Etcdserver: invalid auth token')));
  assert.not.ok(needsNewToken(new GrpcStatusError(16, 'rpc error: etcdserver: invalid auth token')));
  assert.not.ok(needsNewToken(new GrpcStatusError(16, 'invalid auth token')));
});

test('needsNewToken is false for anything that is not a GrpcStatusError', () => {
  assert.not.ok(needsNewToken(new Error('etcdserver: invalid auth token')));
  assert.not.ok(needsNewToken('etcdserver: invalid auth token'));
  assert.not.ok(needsNewToken({ code: 16, details: 'etcdserver: invalid auth token' }));
  assert.not.ok(needsNewToken(undefined));
});

// ---------------------------------------------------------------- watchCancelStatus

test('watchCancelStatus turns etcd\'s Go status text into the code and the bare message', () => {
  const expired = watchCancelStatus('rpc error: code = Unauthenticated desc = etcdserver: invalid auth token');
  assert.is(expired.code, 16);
  assert.is(expired.details, 'etcdserver: invalid auth token');
  assert.ok(needsNewToken(expired), 'a stale token in a cancel reason asks for a new token');
  const old = watchCancelStatus('rpc error: code = InvalidArgument desc = etcdserver: revision of auth store is old');
  assert.is(old.code, 3);
  assert.ok(needsNewToken(old));
  const denied = watchCancelStatus('rpc error: code = PermissionDenied desc = etcdserver: permission denied');
  assert.is(denied.code, 7);
  assert.is(denied.details, 'etcdserver: permission denied');
  assert.not.ok(needsNewToken(denied));
});

test('watchCancelStatus: any other reason is CANCELLED (1) with the text as is; an empty one gets a text', () => {
  for (const reason of ['etcdserver: permission denied for this key', 'rpc error: code = Bogus desc = x', 'rpc error: code = OK desc = x']) {
    const s = watchCancelStatus(reason);
    assert.is(s.code, 1, reason);
    assert.is(s.details, reason);
  }
  assert.is(watchCancelStatus('').code, 1);
  assert.ok(watchCancelStatus('').details.length > 0);
});

// ---------------------------------------------------------------- isTransientStreamError

test('isTransientStreamError: reconnect on network-ish codes, not on caller or auth errors', () => {
  for (const code of [1, 2, 4, 8, 10, 13, 14]) assert.ok(isTransientStreamError(code), `code ${code} should be transient`);
  for (const code of [0, 3, 5, 6, 7, 9, 11, 12, 15, 16, 100]) {
    assert.not.ok(isTransientStreamError(code), `code ${code} should be final`);
  }
});

// ---------------------------------------------------------------- classes

test('GrpcStatusError carries code, details, sent and localDeadline', () => {
  const e = new GrpcStatusError(14, 'unavailable');
  assert.ok(e instanceof Error);
  assert.is(e.name, 'GrpcStatusError');
  assert.is(e.code, 14);
  assert.is(e.details, 'unavailable');
  assert.is(e.sent, undefined);
  assert.is(e.localDeadline, false);
  assert.is(e.message, '14 unavailable');
  const f = new GrpcStatusError(4, 'd', false, true);
  assert.is(f.sent, false);
  assert.is(f.localDeadline, true);
});

test('LeaseExpiredError is a RangeError (C++ out_of_range) with the lease id', () => {
  const e = new LeaseExpiredError(2n ** 62n + 1n);
  assert.ok(e instanceof LeaseExpiredError);
  assert.ok(e instanceof RangeError);
  assert.ok(e instanceof Error);
  assert.is(e.name, 'LeaseExpiredError');
  assert.is(e.leaseId, 2n ** 62n + 1n);
  assert.ok(e.message.length > 0);
  assert.ok(e.message.includes('expiration'));
  assert.is(new LeaseExpiredError(1n, 'revoked').message, 'revoked');
});

test('KeepAliveError is an Error but not a RangeError, with lease id and code', () => {
  const e = new KeepAliveError(7n, 'connection down', 14);
  assert.ok(e instanceof KeepAliveError);
  assert.ok(e instanceof Error);
  assert.not.ok(e instanceof RangeError);
  assert.not.ok(e instanceof LeaseExpiredError);
  assert.is(e.name, 'KeepAliveError');
  assert.is(e.leaseId, 7n);
  assert.is(e.code, 14);
  assert.is(e.message, 'connection down');
  assert.is(new KeepAliveError(7n, 'm').code, undefined);
});

test('ClientClosedError names itself and what was closed', () => {
  const e = new ClientClosedError();
  assert.ok(e instanceof Error);
  assert.is(e.name, 'ClientClosedError');
  assert.is(e.message, 'the etcd client is closed');
  assert.is(new ClientClosedError('the watcher').message, 'the watcher is closed');
  assert.ok(String(e).startsWith('ClientClosedError'));
});

test('error classes have stack traces', () => {
  assert.type(new ClientClosedError().stack, 'string');
  assert.type(new LeaseExpiredError(1n).stack, 'string');
});

// ---------------------------------------------------------------- constants

test('etcd-cpp-apiv3 error codes and messages', () => {
  assert.is(E.ERROR_KEY_NOT_FOUND, 100);
  assert.is(E.ERROR_COMPARE_FAILED, 101);
  assert.is(E.ERROR_KEY_ALREADY_EXISTS, 105);
  assert.is(E.ERROR_ACTION_CANCELLED, 106);
  assert.is(E.MESSAGE_KEY_NOT_FOUND, 'etcd-cpp-apiv3: key not found');
  assert.is(E.MESSAGE_COMPARE_FAILED, 'etcd-cpp-apiv3: compare failed');
  assert.is(E.MESSAGE_KEY_ALREADY_EXISTS, 'etcd-cpp-apiv3: key already exists');
});

test('gRPC status constants are 0..16 in order', () => {
  const names = [
    'OK',
    'CANCELLED',
    'UNKNOWN',
    'INVALID_ARGUMENT',
    'DEADLINE_EXCEEDED',
    'NOT_FOUND',
    'ALREADY_EXISTS',
    'PERMISSION_DENIED',
    'RESOURCE_EXHAUSTED',
    'FAILED_PRECONDITION',
    'ABORTED',
    'OUT_OF_RANGE',
    'UNIMPLEMENTED',
    'INTERNAL',
    'UNAVAILABLE',
    'DATA_LOSS',
    'UNAUTHENTICATED',
  ];
  const all = E as unknown as Record<string, unknown>;
  names.forEach((n, i) => assert.is(all[`ERROR_GRPC_${n}`], i, `ERROR_GRPC_${n}`));
});

test('the error classes a program branches on: name, stable code, exported from the package entry', () => {
  const pkg = require('../../src/index') as Record<string, unknown>;
  const cases: [Error, string, number | string | undefined][] = [
    [new E.ClosedError('x'), 'ClosedError', 'ERR_CLOSED'],
    [new E.ClientClosedError(), 'ClientClosedError', 'ERR_CLOSED'],
    [new E.EtcdError('m', 4, 'gRPC timeout'), 'EtcdError', 4],
    [new E.AlreadyRegisteredError('m'), 'AlreadyRegisteredError', 105],
    [new E.KeyDeletedError('m'), 'KeyDeletedError', 'ERR_KEY_DELETED'],
    [new E.RegistrationReplacedError('m'), 'RegistrationReplacedError', 'ERR_REPLACED'],
    [new E.LeaseNotReadyError('m'), 'LeaseNotReadyError', 'ERR_LEASE_NOT_READY'],
    [new E.WatchEndedError('m'), 'WatchEndedError', 'ERR_WATCH_ENDED'],
    [new E.UnreachableError('m'), 'UnreachableError', 14],
    [new E.MissingPeerDependencyError('@grpc/grpc-js', 'x'), 'MissingPeerDependencyError', 'ERR_MISSING_PEER_DEPENDENCY'],
    [new E.KeepAliveError(1n, 'm', 14), 'KeepAliveError', 14],
  ];
  for (const [err, name, code] of cases) {
    assert.is(err.name, name);
    assert.is((err as Error & { code?: unknown }).code, code, `${name}.code`);
    assert.ok(err instanceof Error);
    assert.is(pkg[name], err.constructor, `${name} is exported by etcd-apiv3`);
    assert.match(String(err), new RegExp(`^${name}: `));
  }
  assert.ok(new E.ClientClosedError() instanceof E.ClosedError, 'ClientClosedError is a ClosedError');
});

test.run();
