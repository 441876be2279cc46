import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Compare_CompareResult as R,
  Compare_CompareTarget as T,
  type ResponseOp,
  type TxnResponse,
} from '../../generated/etcdserver/etcdserverpb/rpc';
import type { KeyValue } from '../../generated/mvcc/mvccpb/kv';
import { parseTxn } from '../../src/kv';
import { CompareResult, CompareTarget, Transaction } from '../../src/txn';
import { throwsNaming } from '../helpers/throws';

// ---------------------------------------------------------------- helpers

/** Buffers become latin1 strings (one char per byte, so "\0" and "\xff" stay readable); the rest is kept. */
function norm(x: unknown): unknown {
  if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('latin1');
  if (Array.isArray(x)) return x.map(norm);
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, norm(v)]));
  }
  return x;
}

const req = (t: Transaction) => norm(t.toRequest()) as {
  compare: Record<string, unknown>[];
  success: { request: Record<string, unknown> }[];
  failure: { request: Record<string, unknown> }[];
};

// Expected shapes, in normalized form.
type Operand = { $case: 'version' | 'createRevision' | 'modRevision' | 'lease'; v: bigint } | { $case: 'value'; v: string };
function cmp(key: string, target: T, result: R, op: Operand, rangeEnd = '') {
  return { key, target, result, targetUnion: { $case: op.$case, [op.$case]: op.v }, rangeEnd };
}
const range = (key: string, rangeEnd = '', limit = 0n) => ({
  request: {
    $case: 'requestRange',
    requestRange: {
      key,
      rangeEnd,
      limit,
      revision: 0n,
      sortOrder: 0,
      sortTarget: 0,
      serializable: false,
      keysOnly: false,
      countOnly: false,
      minModRevision: 0n,
      maxModRevision: 0n,
      minCreateRevision: 0n,
      maxCreateRevision: 0n,
    },
  },
});
const put = (key: string, value: string, lease = 0n, prevKv = false) => ({
  request: { $case: 'requestPut', requestPut: { key, value, lease, prevKv, ignoreValue: false, ignoreLease: false } },
});
const del = (key: string, rangeEnd = '', prevKv = false) => ({
  request: { $case: 'requestDeleteRange', requestDeleteRange: { key, rangeEnd, prevKv } },
});


// ---------------------------------------------------------------- constants

test('CompareResult and CompareTarget match C++ and the wire enums', () => {
  assert.equal(CompareResult, { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 });
  assert.equal(CompareTarget, { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 });
  assert.is(CompareResult.NOT_EQUAL, R.NOT_EQUAL as number);
  assert.is(CompareTarget.LEASE, T.LEASE as number);
});

test('an empty Transaction has no compares and no ops', () => {
  assert.equal(new Transaction().toRequest(), { compare: [], success: [], failure: [] });
});

// ---------------------------------------------------------------- compares

test('add_compare_version: EQUAL by default, explicit result, range_end', () => {
  const t = new Transaction();
  t.add_compare_version('k', 3);
  t.add_compare_version('k', CompareResult.GREATER, 0);
  t.add_compare_version('k', 4, 'z');
  t.add_compare_version('k', CompareResult.LESS, 5n, 'z');
  assert.equal(req(t).compare, [
    cmp('k', T.VERSION, R.EQUAL, { $case: 'version', v: 3n }),
    cmp('k', T.VERSION, R.GREATER, { $case: 'version', v: 0n }),
    cmp('k', T.VERSION, R.EQUAL, { $case: 'version', v: 4n }, 'z'),
    cmp('k', T.VERSION, R.LESS, { $case: 'version', v: 5n }, 'z'),
  ]);
});

test('add_compare_create: both forms', () => {
  const t = new Transaction();
  t.add_compare_create('k', 10);
  t.add_compare_create('k', CompareResult.NOT_EQUAL, 11n, 'k2');
  assert.equal(req(t).compare, [
    cmp('k', T.CREATE, R.EQUAL, { $case: 'createRevision', v: 10n }),
    cmp('k', T.CREATE, R.NOT_EQUAL, { $case: 'createRevision', v: 11n }, 'k2'),
  ]);
});

test('add_compare_mod: both forms, with a bigint revision', () => {
  const t = new Transaction();
  t.add_compare_mod('k', 2n ** 60n);
  t.add_compare_mod('k', CompareResult.LESS, 7);
  t.add_compare_mod('/p', 0, '/q');
  assert.equal(req(t).compare, [
    cmp('k', T.MOD, R.EQUAL, { $case: 'modRevision', v: 2n ** 60n }),
    cmp('k', T.MOD, R.LESS, { $case: 'modRevision', v: 7n }),
    cmp('/p', T.MOD, R.EQUAL, { $case: 'modRevision', v: 0n }, '/q'),
  ]);
});

test('add_compare_value: both forms, range_end, and binary operands', () => {
  const t = new Transaction();
  t.add_compare_value('k', 'v');
  t.add_compare_value('k', CompareResult.NOT_EQUAL, 'v');
  t.add_compare_value('k', 'v', 'l');
  t.add_compare_value('k', CompareResult.GREATER, Buffer.from([0, 0xff, 0x80]), 'l');
  t.add_compare_value(Buffer.from([0xff, 0]), new Uint8Array([1, 2]));
  t.add_compare_value('k', '');
  assert.equal(req(t).compare, [
    cmp('k', T.VALUE, R.EQUAL, { $case: 'value', v: 'v' }),
    cmp('k', T.VALUE, R.NOT_EQUAL, { $case: 'value', v: 'v' }),
    cmp('k', T.VALUE, R.EQUAL, { $case: 'value', v: 'v' }, 'l'),
    cmp('k', T.VALUE, R.GREATER, { $case: 'value', v: '\x00\xff\x80' }, 'l'),
    cmp('\xff\x00', T.VALUE, R.EQUAL, { $case: 'value', v: '\x01\x02' }),
    cmp('k', T.VALUE, R.EQUAL, { $case: 'value', v: '' }),
  ]);
});

test('add_compare_value sends UTF-8', () => {
  const t = new Transaction();
  t.add_compare_value('ключ', 'значение');
  const c = t.toRequest().compare[0]!;
  assert.equal([...c.key], [...Buffer.from('ключ', 'utf8')]);
  assert.ok(c.targetUnion?.$case === 'value');
  assert.is(c.targetUnion.value.toString('utf8'), 'значение');
});

test('add_compare_lease: both forms, with a lease id above 2^53', () => {
  const t = new Transaction();
  t.add_compare_lease('k', 2n ** 62n + 5n);
  t.add_compare_lease('k', CompareResult.NOT_EQUAL, 0);
  assert.equal(req(t).compare, [
    cmp('k', T.LEASE, R.EQUAL, { $case: 'lease', v: 2n ** 62n + 5n }),
    cmp('k', T.LEASE, R.NOT_EQUAL, { $case: 'lease', v: 0n }),
  ]);
});

test('a numeric third argument makes the second one the result (C++ overloads)', () => {
  const t = new Transaction();
  t.add_compare_version('k', 1, 5);
  assert.equal(req(t).compare, [cmp('k', T.VERSION, R.GREATER, { $case: 'version', v: 5n })]);
});

test('compares keep their order across kinds', () => {
  const t = new Transaction();
  t.add_compare_value('a', 'x');
  t.add_compare_version('b', 1);
  t.add_compare_lease('c', 2);
  assert.equal(
    t.toRequest().compare.map((c) => c.target),
    [T.VALUE, T.VERSION, T.LEASE],
  );
});

test('bad compare arguments throw TypeError or RangeError naming the argument', () => {
  const t = new Transaction();
  throwsNaming(() => t.add_compare_version('k', 'x' as unknown as number), TypeError, 'version');
  throwsNaming(() => t.add_compare_create('k', null as unknown as number), TypeError, 'create_revision');
  throwsNaming(() => t.add_compare_mod('k', 1.5), RangeError, 'mod_revision');
  throwsNaming(() => t.add_compare_mod('k', NaN), RangeError, 'mod_revision');
  throwsNaming(() => t.add_compare_lease('k', 2n ** 64n), RangeError, 'lease');
  throwsNaming(() => t.add_compare_version('k', 7 as CompareResult, 1), RangeError, 'result');
  throwsNaming(() => t.add_compare_version('k', -1 as CompareResult, 1), RangeError, 'result');
  throwsNaming(() => t.add_compare_value('k', 7 as CompareResult, 'v'), RangeError, 'result');
  throwsNaming(() => t.add_compare_value('k', 1.5 as CompareResult, 'v'), RangeError, 'result');
  throwsNaming(() => t.add_compare_value('k', {} as unknown as string), TypeError, 'value');
  throwsNaming(() => t.add_compare_value(5 as unknown as string, 'v'), TypeError, 'key');
  throwsNaming(() => t.add_compare_version('k', 1, {} as unknown as string), TypeError, 'range_end');
  throwsNaming(() => t.add_compare_version('k', CompareResult.LESS, 2, 5 as unknown as string), TypeError, 'range_end');
  // Nothing was added by the failed calls.
  assert.is(t.toRequest().compare.length, 0);
});

// ---------------------------------------------------------------- ranges

test('add_success_range: one key, limit, explicit range_end', () => {
  const t = new Transaction();
  t.add_success_range('k');
  t.add_success_range('a', 'c');
  t.add_success_range('a', '', false, 10);
  assert.equal(req(t).success, [range('k'), range('a', 'c'), range('a', '', 10n)]);
  assert.equal(req(t).failure, []);
});

test('add_success_range recursive uses the prefix end', () => {
  const t = new Transaction();
  t.add_success_range('/dir/', '', true);
  t.add_success_range(Buffer.from([0x61, 0xff]), '', true);
  assert.equal(req(t).success, [range('/dir/', '/dir0'), range('a\xff', 'b')]);
});

test("add_success_range('' recursive) reads every key: \"\\0\" to \"\\0\"", () => {
  const t = new Transaction();
  t.add_success_range('', '', true);
  assert.equal(req(t).success, [range('\0', '\0')]);
});

test('an explicit range_end overrides recursive', () => {
  const t = new Transaction();
  t.add_success_range('/a', '/z', true);
  t.add_success_range('', '/z', true);
  assert.equal(req(t).success, [range('/a', '/z'), range('\0', '/z')]);
});

test('add_failure_range goes to the failure branch with the same rules', () => {
  const t = new Transaction();
  t.add_failure_range('k');
  t.add_failure_range('/p', '', true, 3);
  t.add_failure_range('', '', true);
  t.add_failure_range('a', 'b', true);
  assert.equal(req(t).failure, [range('k'), range('/p', '/q', 3n), range('\0', '\0'), range('a', 'b')]);
  assert.equal(req(t).success, []);
});

test('bad range arguments throw', () => {
  const t = new Transaction();
  throwsNaming(() => t.add_success_range('k', '', false, -1), RangeError, 'limit');
  throwsNaming(() => t.add_success_range('k', '', 'yes' as unknown as boolean), TypeError, 'recursive');
  throwsNaming(() => t.add_failure_range(undefined as unknown as string), TypeError, 'key');
  assert.is(t.toRequest().success.length + t.toRequest().failure.length, 0);
});

// ---------------------------------------------------------------- puts and deletes

test('add_success_put: defaults, lease and prev_kv', () => {
  const t = new Transaction();
  t.add_success_put('k', 'v');
  t.add_success_put('k', 'v2', 2n ** 62n + 5n, true);
  t.add_success_put(Buffer.from([0]), Buffer.from([0xff]), 12);
  assert.equal(req(t).success, [put('k', 'v'), put('k', 'v2', 2n ** 62n + 5n, true), put('\0', '\xff', 12n)]);
});

test('add_failure_put goes to the failure branch', () => {
  const t = new Transaction();
  t.add_failure_put('k', 'v', 3, true);
  assert.equal(req(t).failure, [put('k', 'v', 3n, true)]);
  assert.equal(req(t).success, []);
});

test('bad put arguments throw naming the argument', () => {
  const t = new Transaction();
  throwsNaming(() => t.add_success_put('k', 5 as unknown as string), TypeError, 'value');
  throwsNaming(() => t.add_success_put('k', 'v', -1), RangeError, 'leaseid');
  throwsNaming(() => t.add_success_put('k', 'v', 2n ** 63n), RangeError, 'leaseid');
  throwsNaming(() => t.add_success_put('k', 'v', 2 ** 60), RangeError, 'leaseid');
  throwsNaming(() => t.add_failure_put('k', 'v', 0, 1 as unknown as boolean), TypeError, 'prev_kv');
  assert.is(t.toRequest().success.length + t.toRequest().failure.length, 0);
});

test('add_success_delete: one key, prev_kv, recursive, range_end', () => {
  const t = new Transaction();
  t.add_success_delete('k');
  t.add_success_delete('k', '', false, true);
  t.add_success_delete('/a/', '', true);
  t.add_success_delete('', '', true, true);
  t.add_success_delete('a', 'm', true);
  assert.equal(req(t).success, [del('k'), del('k', '', true), del('/a/', '/a0'), del('\0', '\0', true), del('a', 'm')]);
});

test('add_failure_delete goes to the failure branch', () => {
  const t = new Transaction();
  t.add_failure_delete('k', '', false, true);
  assert.equal(req(t).failure, [del('k', '', true)]);
});

test('ops keep their order within a branch', () => {
  const t = new Transaction();
  t.add_success_put('a', '1');
  t.add_success_range('a');
  t.add_success_delete('b');
  assert.equal(
    t.toRequest().success.map((op) => op.request?.$case),
    ['requestPut', 'requestRange', 'requestDeleteRange'],
  );
});

// ---------------------------------------------------------------- nested

test('add_success_txn / add_failure_txn nest the inner request', () => {
  const inner = new Transaction();
  inner.add_compare_value('x', '1');
  inner.add_success_put('x', '2');
  inner.add_failure_range('x');
  const t = new Transaction();
  t.add_success_txn(inner);
  t.add_failure_txn(inner);
  const r = req(t);
  const innerReq = { compare: [cmp('x', T.VALUE, R.EQUAL, { $case: 'value', v: '1' })], success: [put('x', '2')], failure: [range('x')] };
  assert.equal(r.success, [{ request: { $case: 'requestTxn', requestTxn: innerReq } }]);
  assert.equal(r.failure, [{ request: { $case: 'requestTxn', requestTxn: innerReq } }]);
});

test('a nested transaction is captured when added', () => {
  const inner = new Transaction();
  inner.add_success_put('x', '1');
  const t = new Transaction();
  t.add_success_txn(inner);
  inner.add_success_put('y', '2');
  inner.add_compare_version('y', 0);
  const nested = t.toRequest().success[0]!.request;
  assert.ok(nested?.$case === 'requestTxn');
  assert.is(nested.requestTxn.success.length, 1);
  assert.is(nested.requestTxn.compare.length, 0);
});

test('nesting something that is not a Transaction is a TypeError', () => {
  const t = new Transaction();
  throwsNaming(() => t.add_success_txn({} as Transaction), TypeError, 'txn');
  throwsNaming(() => t.add_failure_txn(new Transaction().toRequest() as unknown as Transaction), TypeError, 'txn');
});

test('toRequest returns fresh arrays: mutating them does not change the Transaction', () => {
  const t = new Transaction();
  t.add_success_put('a', '1');
  t.toRequest().success.length = 0;
  t.toRequest().compare.push(t.toRequest().compare[0]!);
  assert.is(t.toRequest().success.length, 1);
  assert.is(t.toRequest().compare.length, 0);
});

test('a Transaction can be sent more than once: toRequest is repeatable', () => {
  const t = new Transaction();
  t.setup_compare_and_swap('k', 'a', 'b');
  assert.equal(norm(t.toRequest()), norm(t.toRequest()));
});

// ---------------------------------------------------------------- setup_* helpers

test('setup_compare_and_create: VALUE == prev → put(create_key); else range(key)', () => {
  const t = new Transaction();
  t.setup_compare_and_create('k', 'old', 'ck', 'v', 7);
  assert.equal(req(t), {
    compare: [cmp('k', T.VALUE, R.EQUAL, { $case: 'value', v: 'old' })],
    success: [put('ck', 'v', 7n)],
    failure: [range('k')],
  });
});

test('setup_compare_and_create by revision: MOD == prev', () => {
  const t = new Transaction();
  t.setup_compare_and_create('k', 0, 'ck', 'v');
  assert.equal(req(t), {
    compare: [cmp('k', T.MOD, R.EQUAL, { $case: 'modRevision', v: 0n })],
    success: [put('ck', 'v')],
    failure: [range('k')],
  });
});

test('setup_compare_or_create: VALUE != prev, and by revision MOD != prev', () => {
  const a = new Transaction();
  a.setup_compare_or_create('k', 'old', 'ck', 'v', 2n ** 62n);
  assert.equal(req(a), {
    compare: [cmp('k', T.VALUE, R.NOT_EQUAL, { $case: 'value', v: 'old' })],
    success: [put('ck', 'v', 2n ** 62n)],
    failure: [range('k')],
  });
  const b = new Transaction();
  b.setup_compare_or_create('k', 42, 'ck', 'v');
  assert.equal(req(b), {
    compare: [cmp('k', T.MOD, R.NOT_EQUAL, { $case: 'modRevision', v: 42n })],
    success: [put('ck', 'v')],
    failure: [range('k')],
  });
});

test('setup_compare_and_swap: put(key) on match, by value and by revision', () => {
  const a = new Transaction();
  a.setup_compare_and_swap('k', 'old', 'new', 3);
  assert.equal(req(a), {
    compare: [cmp('k', T.VALUE, R.EQUAL, { $case: 'value', v: 'old' })],
    success: [put('k', 'new', 3n)],
    failure: [range('k')],
  });
  const b = new Transaction();
  b.setup_compare_and_swap('k', 9, 'new');
  assert.equal(req(b), {
    compare: [cmp('k', T.MOD, R.EQUAL, { $case: 'modRevision', v: 9n })],
    success: [put('k', 'new')],
    failure: [range('k')],
  });
});

test('setup_compare_or_swap: put(key) on mismatch, by value and by revision', () => {
  const a = new Transaction();
  a.setup_compare_or_swap('k', 'old', 'new');
  assert.equal(req(a), {
    compare: [cmp('k', T.VALUE, R.NOT_EQUAL, { $case: 'value', v: 'old' })],
    success: [put('k', 'new')],
    failure: [range('k')],
  });
  const b = new Transaction();
  b.setup_compare_or_swap('k', 9, 'new', 1);
  assert.equal(req(b), {
    compare: [cmp('k', T.MOD, R.NOT_EQUAL, { $case: 'modRevision', v: 9n })],
    success: [put('k', 'new', 1n)],
    failure: [range('k')],
  });
});

test('setup_compare_and_delete: delete(delete_key) with prev_kv, honouring range_end and recursive', () => {
  const a = new Transaction();
  a.setup_compare_and_delete('k', 'old', 'dk');
  assert.equal(req(a), {
    compare: [cmp('k', T.VALUE, R.EQUAL, { $case: 'value', v: 'old' })],
    success: [del('dk', '', true)],
    failure: [range('k')],
  });
  const b = new Transaction();
  b.setup_compare_and_delete('k', 5, '/d/', '', true);
  assert.equal(req(b), {
    compare: [cmp('k', T.MOD, R.EQUAL, { $case: 'modRevision', v: 5n })],
    success: [del('/d/', '/d0', true)],
    failure: [range('k')],
  });
  const c = new Transaction();
  c.setup_compare_and_delete('k', 'old', 'a', 'b');
  assert.equal(req(c).success, [del('a', 'b', true)]);
});

test('setup_compare_or_delete: NOT_EQUAL, by value and by revision', () => {
  const a = new Transaction();
  a.setup_compare_or_delete('k', 'old', 'dk', '', true);
  assert.equal(req(a), {
    compare: [cmp('k', T.VALUE, R.NOT_EQUAL, { $case: 'value', v: 'old' })],
    success: [del('dk', 'dl', true)],
    failure: [range('k')],
  });
  const b = new Transaction();
  b.setup_compare_or_delete('k', 5, 'dk');
  assert.equal(req(b), {
    compare: [cmp('k', T.MOD, R.NOT_EQUAL, { $case: 'modRevision', v: 5n })],
    success: [del('dk', '', true)],
    failure: [range('k')],
  });
});

test('setup_* with a byte-array prev compares VALUE with those bytes', () => {
  const t = new Transaction();
  t.setup_compare_and_swap('k', Buffer.from([0, 0xff]), 'new');
  assert.equal(req(t).compare, [cmp('k', T.VALUE, R.EQUAL, { $case: 'value', v: '\x00\xff' })]);
});

test('setup_put: an unconditional put without prev_kv', () => {
  const t = new Transaction();
  t.setup_put('k', 'v');
  assert.equal(req(t), { compare: [], success: [put('k', 'v')], failure: [] });
});

test('setup_delete: an unconditional delete with prev_kv', () => {
  const t = new Transaction();
  t.setup_delete('k');
  t.setup_delete('/p', '', true);
  t.setup_delete('a', 'z');
  assert.equal(req(t), { compare: [], success: [del('k', '', true), del('/p', '/q', true), del('a', 'z', true)], failure: [] });
});

test('several helpers accumulate in one Transaction', () => {
  const t = new Transaction();
  t.setup_compare_and_swap('a', 'x', 'y');
  t.setup_compare_and_swap('b', 2, 'z');
  const r = req(t);
  assert.is(r.compare.length, 2);
  assert.equal(r.success, [put('a', 'y'), put('b', 'z')]);
  assert.equal(r.failure, [range('a'), range('b')]);
});

test('bad helper arguments throw', () => {
  const t = new Transaction();
  throwsNaming(() => t.setup_compare_and_swap('k', 1.5, 'v'), RangeError, 'prev_revision');
  throwsNaming(() => t.setup_compare_and_swap('k', null as unknown as string, 'v'), TypeError, 'prev_value');
  throwsNaming(() => t.setup_put('k', 5 as unknown as string), TypeError, 'value');
  throwsNaming(() => t.setup_delete('k', '', 1 as unknown as boolean), TypeError, 'recursive');
  throwsNaming(() => t.setup_compare_and_create('k', 'old', 'ck', 'v', -5), RangeError, 'leaseid');
});

// ---------------------------------------------------------------- parseTxn

const kv = (key: string, value: string, mod = 1n, lease = 0n): KeyValue => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  createRevision: 1n,
  modRevision: mod,
  version: 1n,
  lease,
});
const rangeResp = (...kvs: KeyValue[]): ResponseOp => ({
  response: { $case: 'responseRange', responseRange: { kvs, more: false, count: BigInt(kvs.length) } },
});
const putResp = (prevKv?: KeyValue): ResponseOp => ({ response: { $case: 'responsePut', responsePut: { prevKv } } });
const delResp = (...prevKvs: KeyValue[]): ResponseOp => ({
  response: { $case: 'responseDeleteRange', responseDeleteRange: { deleted: BigInt(prevKvs.length), prevKvs } },
});
const txnResp = (succeeded: boolean, responses: ResponseOp[], revision = 100n): TxnResponse => ({
  header: { clusterId: 1n, memberId: 2n, revision, raftTerm: 3n },
  succeeded,
  responses,
});

test('parseTxn: range kvs become values, value is the first, index is the header revision', () => {
  const r = parseTxn(txnResp(true, [rangeResp(kv('a', '1'), kv('b', '2'))], 77n));
  assert.is(r.succeeded, true);
  assert.is(r.index, 77);
  assert.equal(r.values!.map((v) => v.key()), ['a', 'b']);
  assert.is(r.value, r.values![0]);
  assert.is(r.value!.as_string(), '1');
  assert.is(r.prevValue, undefined);
});

test('parseTxn: a put with prev_kv contributes its prev value', () => {
  const r = parseTxn(txnResp(true, [putResp(kv('k', 'old', 5n))]));
  assert.equal(r.values, []);
  assert.is(r.value, undefined);
  assert.is(r.prevValue!.as_string(), 'old');
  assert.is(r.prevValue!.modified_index(), 5);
});

test('parseTxn: a put without prev_kv contributes an empty prev value', () => {
  const r = parseTxn(txnResp(true, [putResp(), putResp(kv('k2', 'second'))]));
  assert.ok(r.prevValue !== undefined);
  assert.is(r.prevValue.key(), '');
  assert.is(r.prevValue.as_string(), '');
  assert.is(r.prevValue.modified_index(), 0);
});

test('parseTxn: delete prev_kvs go to both values and prev values', () => {
  const r = parseTxn(txnResp(true, [delResp(kv('/d/1', 'x'), kv('/d/2', 'y'))]));
  assert.equal(r.values!.map((v) => v.key()), ['/d/1', '/d/2']);
  assert.is(r.value!.key(), '/d/1');
  assert.is(r.prevValue!.key(), '/d/1');
  assert.is(r.prevValue!.as_string(), 'x');
});

test('parseTxn: a delete that removed nothing adds nothing', () => {
  const r = parseTxn(txnResp(true, [delResp()]));
  assert.equal(r.values, []);
  assert.is(r.value, undefined);
  assert.is(r.prevValue, undefined);
});

test('parseTxn: mixed ops in order — values from range and delete, prev values from put and delete', () => {
  const r = parseTxn(
    txnResp(true, [putResp(), rangeResp(kv('r', 'rv')), delResp(kv('d', 'dv')), putResp(kv('p', 'pv'))]),
  );
  assert.equal(r.values!.map((v) => v.key()), ['r', 'd']);
  assert.is(r.value!.key(), 'r');
  // The first prev value is the empty one from the first put (C++ quirk kept).
  assert.is(r.prevValue!.key(), '');
});

test('parseTxn: the failure branch of a setup_compare_* helper returns the current value', () => {
  const r = parseTxn(txnResp(false, [rangeResp(kv('k', 'current', 9n))], 9n));
  assert.is(r.succeeded, false);
  assert.is(r.value!.as_string(), 'current');
  assert.is(r.value!.modified_index(), 9);
  // parseTxn itself sets no error: the caller maps !succeeded to 101.
  assert.is(r.code, undefined);
});

test('parseTxn: an empty range is not an error', () => {
  const r = parseTxn(txnResp(true, [rangeResp()]));
  assert.equal(r.values, []);
  assert.is(r.value, undefined);
  assert.is(r.code, undefined);
});

test('parseTxn: nested txn responses and empty ops are skipped', () => {
  const nested: ResponseOp = { response: { $case: 'responseTxn', responseTxn: txnResp(true, [rangeResp(kv('n', '1'))]) } };
  const r = parseTxn(txnResp(true, [nested, {}, rangeResp(kv('a', '1'))]));
  assert.equal(r.values!.map((v) => v.key()), ['a']);
});

test('parseTxn: no header means index 0; revisions above 2^31 stay exact', () => {
  assert.is(parseTxn({ succeeded: true, responses: [] }).index, 0);
  assert.is(parseTxn(txnResp(true, [], 2n ** 40n)).index, 2 ** 40);
});

test('parseTxn: values keep binary bytes and lease ids', () => {
  const bin: KeyValue = { ...kv('', ''), key: Buffer.from([0, 0xff]), value: Buffer.from([0xc3, 0x28]), lease: 2n ** 62n + 5n };
  const r = parseTxn(txnResp(true, [rangeResp(bin)]));
  assert.equal([...r.value!.key_bytes()], [0, 0xff]);
  assert.equal([...r.value!.as_bytes()], [0xc3, 0x28]);
  assert.is(r.value!.lease(), 2n ** 62n + 5n);
  assert.is(r.value!.ttl(), 0);
});

test.run();
