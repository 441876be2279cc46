import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PutRequest, ResponseHeader, LeaseGrantResponse } from '../../generated/etcdserver/etcdserverpb/rpc';
import { KeyValue } from '../../generated/mvcc/mvccpb/kv';
import { Value } from '../../src/response';

const roundTripPut = (m: PutRequest) => PutRequest.decode(PutRequest.encode(m).finish());

test('PutRequest lease above 2^53 round-trips exactly as a bigint', () => {
  const lease = 2n ** 62n + 5n;
  const decoded = roundTripPut(PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('v'), lease }));
  assert.is(typeof decoded.lease, 'bigint');
  assert.is(decoded.lease, lease);
  // The same value through a double would have lost its low bits.
  assert.is.not(BigInt(Number(lease)), lease);
});

test('PutRequest lease 2^63 - 1 (the largest int64) round-trips', () => {
  assert.is(roundTripPut(PutRequest.fromPartial({ key: Buffer.from('k'), lease: 2n ** 63n - 1n })).lease, 2n ** 63n - 1n);
});

test('PutRequest keeps key and value bytes and the flags', () => {
  const key = Buffer.from([0, 0xff, 0x41]);
  const value = Buffer.from([0xc3, 0x28, 0]);
  const d = roundTripPut(PutRequest.fromPartial({ key, value, lease: 1n, prevKv: true }));
  assert.ok(Buffer.isBuffer(d.key));
  assert.equal([...d.key], [...key]);
  assert.equal([...d.value], [...value]);
  assert.is(d.prevKv, true);
  assert.is(d.ignoreValue, false);
});

test('encoding an int64 lease of 2^63 throws', () => {
  assert.throws(() => PutRequest.encode(PutRequest.fromPartial({ key: Buffer.from('k'), lease: 2n ** 63n })), /too large/);
});

test('a negative int64 round-trips (wire form is two\'s complement)', () => {
  assert.is(roundTripPut(PutRequest.fromPartial({ key: Buffer.from('k'), lease: -1n })).lease, -1n);
});

test('ResponseHeader uint64 cluster and member ids round-trip up to 2^64 - 1', () => {
  const h = ResponseHeader.fromPartial({ clusterId: 2n ** 64n - 1n, memberId: 2n ** 63n + 17n, revision: 2n ** 53n + 1n, raftTerm: 3n });
  const d = ResponseHeader.decode(ResponseHeader.encode(h).finish());
  assert.is(d.clusterId, 2n ** 64n - 1n);
  assert.is(d.memberId, 2n ** 63n + 17n);
  assert.is(d.revision, 2n ** 53n + 1n);
  assert.is(d.raftTerm, 3n);
});

test('encoding a uint64 of 2^64 or a negative uint64 throws', () => {
  assert.throws(() => ResponseHeader.encode(ResponseHeader.fromPartial({ clusterId: 2n ** 64n })), /too large/);
  assert.throws(() => ResponseHeader.encode(ResponseHeader.fromPartial({ clusterId: -1n })));
});

test('defaults decode to 0n, not undefined', () => {
  const d = ResponseHeader.decode(new Uint8Array(0));
  assert.is(d.clusterId, 0n);
  assert.is(d.revision, 0n);
  const g = LeaseGrantResponse.decode(new Uint8Array(0));
  assert.is(g.ID, 0n);
});

test('a lease id above 2^53 in a LeaseGrantResponse round-trips', () => {
  const id = 7587869062012289307n; // a real-looking etcd lease id
  const d = LeaseGrantResponse.decode(LeaseGrantResponse.encode(LeaseGrantResponse.fromPartial({ ID: id, TTL: 5n })).finish());
  assert.is(d.ID, id);
  assert.is(d.TTL, 5n);
});

test('Value.fromKv turns revisions into numbers and keeps the lease as bigint', () => {
  const kv: KeyValue = {
    key: Buffer.from('/a'),
    value: Buffer.from('1'),
    createRevision: 12n,
    modRevision: 34n,
    version: 5n,
    lease: 2n ** 62n + 5n,
  };
  const v = Value.fromKv(kv);
  assert.is(typeof v.created_index(), 'number');
  assert.is(v.created_index(), 12);
  assert.is(typeof v.modified_index(), 'number');
  assert.is(v.modified_index(), 34);
  assert.is(typeof v.version(), 'number');
  assert.is(v.version(), 5);
  assert.is(typeof v.lease(), 'bigint');
  assert.is(v.lease(), 2n ** 62n + 5n);
  assert.is(v.ttl(), 0);
});

test('Value.fromKv works on a KeyValue decoded from the wire', () => {
  const bytes = KeyValue.encode(
    KeyValue.fromPartial({ key: Buffer.from('k'), value: Buffer.from([0, 1]), createRevision: 2n ** 40n, modRevision: 2n ** 40n + 1n, version: 1n, lease: 2n ** 63n - 1n }),
  ).finish();
  const v = Value.fromKv(KeyValue.decode(bytes), -1);
  assert.is(v.key(), 'k');
  assert.equal([...v.as_bytes()], [0, 1]);
  assert.is(v.created_index(), 2 ** 40);
  assert.is(v.modified_index(), 2 ** 40 + 1);
  assert.is(v.version(), 1);
  assert.is(v.lease(), 2n ** 63n - 1n);
  assert.is(v.ttl(), -1);
});

test.run();
