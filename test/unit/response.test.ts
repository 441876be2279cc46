import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Event_EventType, type Event as PbEvent, type KeyValue } from '../../generated/mvcc/mvccpb/kv';
import { Event, EventType, Member, Response, Value } from '../../src/response';
import { throwsNaming } from '../helpers/throws';

const kv = (key: string | Buffer, value: string | Buffer, over: Partial<KeyValue> = {}): KeyValue => ({
  key: Buffer.isBuffer(key) ? key : Buffer.from(key),
  value: Buffer.isBuffer(value) ? value : Buffer.from(value),
  createRevision: 3n,
  modRevision: 8n,
  version: 2n,
  lease: 0n,
  ...over,
});


function assertEmptyValue(v: Value, ttl = 0): void {
  assert.ok(v instanceof Value);
  assert.is(v.key(), '');
  assert.is(v.as_string(), '');
  assert.is(v.key_bytes().length, 0);
  assert.is(v.as_bytes().length, 0);
  assert.is(v.created_index(), 0);
  assert.is(v.modified_index(), 0);
  assert.is(v.version(), 0);
  assert.is(v.ttl(), ttl);
  assert.is(v.lease(), 0n);
}

// ---------------------------------------------------------------- Response defaults

test('a default Response is ok with C++ defaults', () => {
  const r = new Response({});
  assert.is(r.is_ok(), true);
  assert.is(r.error_code(), 0);
  assert.is(r.error_message(), '');
  assert.is(r.is_network_unavailable(), false);
  assert.is(r.is_grpc_timeout(), false);
  assert.is(r.action(), '');
  assert.is(r.index(), 0);
  assert.is(r.compact_revision(), -1);
  assert.is(r.watch_id(), -1);
  assert.is(r.lock_key(), '');
  assert.is(r.name(), '');
  assert.is(r.duration(), 0);
  assert.is(r.cluster_id(), 0n);
  assert.is(r.member_id(), 0n);
  assert.is(r.raft_term(), 0n);
  assert.equal(r.values(), []);
  assert.equal(r.keys(), []);
  assert.equal(r.events(), []);
  assert.equal(r.leases(), []);
  assert.equal(r.members(), []);
  assertEmptyValue(r.value());
  assertEmptyValue(r.prev_value());
});

test('Response carries what it was built with', () => {
  const v = Value.fromKv(kv('a', '1'));
  const p = Value.fromKv(kv('a', '0'));
  const r = new Response({
    action: 'set',
    index: 42,
    value: v,
    prevValue: p,
    compactRevision: 7,
    watchId: 0,
    lockKey: '/lock/694d',
    name: 'election',
    durationMs: 12,
    clusterId: 2n ** 64n - 1n,
    memberId: 2n ** 63n,
    raftTerm: 5n,
    leases: [1n, 2n ** 62n],
  });
  assert.is(r.action(), 'set');
  assert.is(r.index(), 42);
  assert.is(r.value(), v);
  assert.is(r.prev_value(), p);
  assert.is(r.compact_revision(), 7);
  assert.is(r.watch_id(), 0);
  assert.is(r.lock_key(), '/lock/694d');
  assert.is(r.name(), 'election');
  assert.is(r.duration(), 12);
  assert.is(r.cluster_id(), 2n ** 64n - 1n);
  assert.is(r.member_id(), 2n ** 63n);
  assert.is(r.raft_term(), 5n);
  assert.equal(r.leases(), [1n, 2n ** 62n]);
});

test('is_ok is false for any non-zero code, with its message', () => {
  const r = new Response({ code: 100, message: 'etcd-cpp-apiv3: key not found' });
  assert.is(r.is_ok(), false);
  assert.is(r.error_code(), 100);
  assert.is(r.error_message(), 'etcd-cpp-apiv3: key not found');
  assert.is(r.is_network_unavailable(), false);
  assert.is(r.is_grpc_timeout(), false);
});

test('is_network_unavailable only for 14', () => {
  assert.is(new Response({ code: 14, message: 'x' }).is_network_unavailable(), true);
  assert.is(new Response({ code: 14 }).is_grpc_timeout(), false);
  assert.is(new Response({ code: 13 }).is_network_unavailable(), false);
});

test('is_grpc_timeout only for 4', () => {
  const r = new Response({ code: 4, message: 'gRPC timeout' });
  assert.is(r.is_grpc_timeout(), true);
  assert.is(r.is_network_unavailable(), false);
  assert.is(r.is_ok(), false);
  assert.is(new Response({ code: 1 }).is_grpc_timeout(), false);
});

test('keys() are derived from values(), and key(i) / value(i) index them', () => {
  const values = [Value.fromKv(kv('/a', '1')), Value.fromKv(kv('/b', '2')), Value.fromKv(kv('/ü', '3'))];
  const r = new Response({ values });
  assert.equal(r.keys(), ['/a', '/b', '/ü']);
  assert.is(r.key(0), '/a');
  assert.is(r.key(2), '/ü');
  assert.is(r.value(1), values[1]);
  assert.is(r.value(1).as_string(), '2');
  assert.is(r.values(), values);
});

test('value() without an index is the main value, not values()[0]', () => {
  const r = new Response({ values: [Value.fromKv(kv('a', '1'))] });
  assertEmptyValue(r.value());
  assert.is(r.value(0).key(), 'a');
});

test('key(i) and value(i) out of range throw RangeError', () => {
  const r = new Response({ values: [Value.fromKv(kv('a', '1'))] });
  throwsNaming(() => r.key(1), RangeError, '1');
  throwsNaming(() => r.key(-1), RangeError);
  throwsNaming(() => r.value(1), RangeError, '1');
  throwsNaming(() => r.value(-1), RangeError);
  throwsNaming(() => new Response({}).value(0), RangeError);
  throwsNaming(() => new Response({}).key(0), RangeError);
});

test('a non-integer index is a TypeError', () => {
  const r = new Response({ values: [Value.fromKv(kv('a', '1'))] });
  throwsNaming(() => r.key(0.5), TypeError);
  throwsNaming(() => r.value(NaN), TypeError);
  throwsNaming(() => r.key('0' as unknown as number), TypeError);
});

test('Response.toString shows the error or the value', () => {
  assert.ok(new Response({ code: 14, message: 'down' }).toString().includes('14'));
  assert.ok(new Response({ code: 14, message: 'down' }).toString().includes('down'));
  assert.ok(new Response({ action: 'get', value: Value.fromKv(kv('kk', 'vv')) }).toString().includes('"kk"'));
});

// ---------------------------------------------------------------- Value

test('a default Value is empty', () => {
  assertEmptyValue(new Value());
});

test('Value accessors', () => {
  const v = Value.fromKv(kv('/k', 'héllo', { createRevision: 3n, modRevision: 8n, version: 2n, lease: 2n ** 62n + 5n }));
  assert.is(v.key(), '/k');
  assert.is(v.as_string(), 'héllo');
  assert.equal([...v.as_bytes()], [...Buffer.from('héllo')]);
  assert.equal([...v.key_bytes()], [...Buffer.from('/k')]);
  assert.is(v.created_index(), 3);
  assert.is(v.modified_index(), 8);
  assert.is(v.version(), 2);
  assert.is(v.lease(), 2n ** 62n + 5n);
  assert.is(v.ttl(), 0);
  assert.is(v.is_dir(), false);
});

test('binary keys and values round-trip exactly, including \\0 and invalid UTF-8', () => {
  const key = Buffer.from([0x61, 0x00, 0x62, 0xff]);
  const value = Buffer.from([0x00, 0xc3, 0x28, 0xff, 0xfe, 0x00]);
  const v = Value.fromKv(kv(key, value));
  assert.equal([...v.key_bytes()], [0x61, 0x00, 0x62, 0xff]);
  assert.equal([...v.as_bytes()], [0x00, 0xc3, 0x28, 0xff, 0xfe, 0x00]);
  assert.ok(v.key().startsWith('a\0b'));
  assert.ok(v.key().includes('\ufffd'));
  assert.ok(v.as_string().startsWith('\0'));
  assert.ok(v.as_string().includes('\ufffd'));
  // Decoding to text did not change the bytes.
  assert.equal([...v.as_bytes()], [0x00, 0xc3, 0x28, 0xff, 0xfe, 0x00]);
});

test('Value.fromKv with ttl -1 (watch events)', () => {
  assert.is(Value.fromKv(kv('a', 'b'), -1).ttl(), -1);
});

test('is_dir is always false, even for keys that look like directories', () => {
  assert.is(Value.fromKv(kv('/dir/', '')).is_dir(), false);
  assert.is(new Value().is_dir(), false);
});

test('Value.toString names key and value', () => {
  const s = Value.fromKv(kv('kk', 'vv')).toString();
  assert.ok(s.includes('"kk"'));
  assert.ok(s.includes('"vv"'));
});

// ---------------------------------------------------------------- Event

test('EventType constants', () => {
  assert.equal(EventType, { PUT: 0, DELETE_: 1, INVALID: 2 });
});

test('a PUT event with kv and prev_kv; both have ttl -1', () => {
  const e = new Event({ type: Event_EventType.PUT, kv: kv('k', 'new', { version: 3n }), prevKv: kv('k', 'old', { version: 2n }) });
  assert.is(e.event_type(), EventType.PUT);
  assert.is(e.has_kv(), true);
  assert.is(e.has_prev_kv(), true);
  assert.is(e.kv().as_string(), 'new');
  assert.is(e.kv().version(), 3);
  assert.is(e.kv().ttl(), -1);
  assert.is(e.prev_kv().as_string(), 'old');
  assert.is(e.prev_kv().version(), 2);
  assert.is(e.prev_kv().ttl(), -1);
});

test('a DELETE event without prev_kv gives an empty prev Value with ttl 0', () => {
  const pb: PbEvent = { type: Event_EventType.DELETE, kv: kv('k', '', { version: 0n, modRevision: 12n }) };
  const e = new Event(pb);
  assert.is(e.event_type(), EventType.DELETE_);
  assert.is(e.has_kv(), true);
  assert.is(e.has_prev_kv(), false);
  assert.is(e.kv().key(), 'k');
  assert.is(e.kv().modified_index(), 12);
  assertEmptyValue(e.prev_kv(), 0);
});

test('an event without kv gives an empty Value', () => {
  const e = new Event({ type: Event_EventType.PUT });
  assert.is(e.has_kv(), false);
  assertEmptyValue(e.kv(), 0);
  assertEmptyValue(e.prev_kv(), 0);
});

test('an unrecognized event type is INVALID', () => {
  assert.is(new Event({ type: Event_EventType.UNRECOGNIZED }).event_type(), EventType.INVALID);
  assert.is(new Event({ type: 7 as Event_EventType }).event_type(), EventType.INVALID);
});

test('Event.toString names the type', () => {
  assert.ok(new Event({ type: Event_EventType.DELETE, kv: kv('k', '') }).toString().includes('DELETE'));
  assert.ok(new Event({ type: Event_EventType.PUT, kv: kv('k', 'v') }).toString().includes('PUT'));
});

test('Response.events() returns the events it was built with', () => {
  const events = [new Event({ type: Event_EventType.PUT, kv: kv('a', '1') }), new Event({ type: Event_EventType.DELETE, kv: kv('a', '') })];
  const r = new Response({ action: 'set', events });
  assert.is(r.events().length, 2);
  assert.is(r.events()[1]!.event_type(), EventType.DELETE_);
});

// ---------------------------------------------------------------- Member

test('Member getters, with a 64-bit id and the learner flag', () => {
  const m = new Member({ ID: 2n ** 64n - 2n, name: 'm1', peerURLs: ['http://10.0.0.1:2380'], clientURLs: ['http://10.0.0.1:2379'], isLearner: true });
  assert.is(m.get_id(), 2n ** 64n - 2n);
  assert.is(m.get_name(), 'm1');
  assert.equal(m.get_peerURLs(), ['http://10.0.0.1:2380']);
  assert.equal(m.get_clientURLs(), ['http://10.0.0.1:2379']);
  assert.is(m.get_learner(), true);
  const r = new Response({ members: [m] });
  assert.is(r.members()[0], m);
});

test.run();
