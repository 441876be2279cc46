// The version table of calls newer than etcd 3.4 (errors.ts) and the page sizing of paged listings (listing.ts).

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ERROR_GRPC_UNIMPLEMENTED,
  ERROR_GRPC_UNAVAILABLE,
  GrpcStatusError,
  MIN_ETCD_VERSION,
  UnsupportedByServerError,
  etcdVersionAtLeast,
  unsupportedByServer,
} from '../../src/errors';
import { nextPageKeys } from '../../src/listing';

const test = suite('versions and pages');

test('etcdVersionAtLeast compares major.minor.patch numerically', () => {
  assert.ok(etcdVersionAtLeast('3.5.0', '3.5'));
  assert.ok(etcdVersionAtLeast('3.10.0', '3.7'));
  assert.ok(etcdVersionAtLeast('v3.7.4', '3.7'));
  assert.ok(etcdVersionAtLeast('3.7.0-alpha.1', '3.7'));
  assert.not.ok(etcdVersionAtLeast('3.4.23', '3.5'));
  assert.not.ok(etcdVersionAtLeast('3.6.17', '3.7'));
  assert.not.ok(etcdVersionAtLeast('2.9.9', '3.5'));
});

test('the table names every RPC newer than 3.4', () => {
  assert.equal(MIN_ETCD_VERSION, {
    '/etcdserverpb.Auth/AuthStatus': '3.5',
    '/etcdserverpb.Maintenance/Downgrade': '3.5',
    '/etcdserverpb.KV/RangeStream': '3.7',
  });
});

test('UNIMPLEMENTED from a server older than the call names both versions', () => {
  const bare = new GrpcStatusError(ERROR_GRPC_UNIMPLEMENTED, 'unknown method AuthStatus for service etcdserverpb.Auth');
  const e = unsupportedByServer('/etcdserverpb.Auth/AuthStatus', bare, '3.4.23');
  assert.instance(e, UnsupportedByServerError);
  assert.instance(e, GrpcStatusError);
  const u = e as UnsupportedByServerError;
  assert.is(u.code, ERROR_GRPC_UNIMPLEMENTED);
  assert.is(u.details, 'AuthStatus needs etcd >= 3.5; the server is 3.4.23');
  assert.is(u.rpc, 'AuthStatus');
  assert.is(u.requiredVersion, '3.5');
  assert.is(u.serverVersion, '3.4.23');
  const unknown = unsupportedByServer('/etcdserverpb.KV/RangeStream', bare, undefined, 'Status failed: 7 etcdserver: permission denied') as UnsupportedByServerError;
  assert.is(unknown.details, 'RangeStream needs etcd >= 3.7; the server does not know it, and its version could not be read (Status failed: 7 etcdserver: permission denied)');
  assert.is(unknown.serverVersion, undefined);
});

test('anything else passes through unchanged', () => {
  const sort = new GrpcStatusError(ERROR_GRPC_UNIMPLEMENTED, 'RangeStream does not support custom sort orders');
  assert.is(unsupportedByServer('/etcdserverpb.KV/RangeStream', sort, '3.7.4'), sort, 'a new enough server refused for another reason');
  const other = new GrpcStatusError(ERROR_GRPC_UNIMPLEMENTED, 'x');
  assert.is(unsupportedByServer('/etcdserverpb.KV/Range', other, '3.4.23'), other, 'not in the table');
  const down = new GrpcStatusError(ERROR_GRPC_UNAVAILABLE, 'down');
  assert.is(unsupportedByServer('/etcdserverpb.Auth/AuthStatus', down, '3.4.23'), down, 'not UNIMPLEMENTED');
});

test('page sizes aim at about 1 MiB, grow at most 8x, stay within [1, 10000]', () => {
  assert.is(nextPageKeys(100, 100 * 1048), 800); // 1 KiB values: growth capped at 8x
  assert.is(nextPageKeys(800, 800 * 1048), 1000);
  assert.is(nextPageKeys(100, 100 * 4096), 256);
  assert.is(nextPageKeys(100, 100 * 1_572_864), 1); // 1.5 MiB values: one key per page
  assert.is(nextPageKeys(10_000, 10_000 * 40), 10_000); // keys only
});

test.run();
