// Key-value, transaction and lease calls against a real single-member etcd, asserting etcd-cpp-apiv3's
// semantics: action strings, codes 100/101/105 with their exact messages, and
// what value() / prev_value() / values() / keys() / index() hold on success and on failure.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CompactionRequest } from '../../generated/etcdserver/etcdserverpb/rpc';
import { Client, CompareResult, Transaction, type Response } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import {
  COMPARE_FAILED,
  KEY_ALREADY_EXISTS,
  KEY_NOT_FOUND,
  LEASE_NOT_FOUND,
  failed,
  isEmptyValue,
  kvIs,
  ok,
  uniquePrefix,
} from './util';

let cluster: EtcdCluster;
let client: Client;

const test = suite('kv integration');

test.before(async () => {
  cluster = await startEtcd({ name: 'it-kv', dataDirOnTmpfs: true });
  client = new Client(cluster.endpoint);
});

test.after(async () => {
  await client?.close();
  await cluster?.stop();
});

/** The current store revision, read independently through head(). */
async function revision(): Promise<number> {
  return ok(await client.head(), 'head').index();
}

// ---- head / get ------------------------------------------------------------------------------------

test('head: index equals get().index() with no write in between; ids are non-zero bigints', async () => {
  const p = uniquePrefix('kv-head');
  ok(await client.set(p + 'k', 'v'));
  const h = ok(await client.head(), 'head');
  assert.is(h.action(), 'get');
  assert.is(typeof h.cluster_id(), 'bigint');
  assert.is(typeof h.member_id(), 'bigint');
  assert.is(typeof h.raft_term(), 'bigint');
  assert.ok(h.cluster_id() !== 0n, 'cluster_id non-zero');
  assert.ok(h.member_id() !== 0n, 'member_id non-zero');
  assert.ok(h.raft_term() > 0n, 'raft_term positive');
  isEmptyValue(h.value());
  assert.equal(h.values(), []);
  const g = ok(await client.get(p + 'k'));
  assert.is(g.index(), h.index());
  const missing = await client.get(p + 'nope');
  assert.is(missing.index(), h.index());
});

test('get: existing key gives the kv, no values(), ttl 0', async () => {
  const p = uniquePrefix('kv-get');
  const s = ok(await client.set(p + 'k', 'hello'));
  const g = ok(await client.get(p + 'k'));
  assert.is(g.action(), 'get');
  kvIs(g.value(), p + 'k', 'hello', 1);
  assert.is(g.value().created_index(), s.index());
  assert.is(g.value().modified_index(), s.index());
  assert.is(g.value().ttl(), 0);
  assert.is(g.value().lease(), 0n);
  assert.equal(g.values(), [], 'a single-key get clears values()');
  assert.equal(g.keys(), []);
  isEmptyValue(g.prev_value(), 'prev_value');
});

test('get: missing key → 100 with index = current revision', async () => {
  const p = uniquePrefix('kv-get-missing');
  ok(await client.set(p + 'other', 'x'));
  const rev = await revision();
  const g = failed(await client.get(p + 'absent'), 100, KEY_NOT_FOUND);
  assert.is(g.action(), 'get');
  assert.is(g.index(), rev);
  isEmptyValue(g.value());
  assert.equal(g.values(), []);
});

test('get(key, revision): returns the value as of that revision', async () => {
  const p = uniquePrefix('kv-get-rev');
  const r1 = ok(await client.set(p + 'k', 'v1')).index();
  const r2 = ok(await client.set(p + 'k', 'v2')).index();
  ok(await client.set(p + 'k', 'v3'));
  kvIs(ok(await client.get(p + 'k', r1)).value(), p + 'k', 'v1', 1);
  const at2 = ok(await client.get(p + 'k', r2));
  kvIs(at2.value(), p + 'k', 'v2', 2);
  assert.is(at2.value().modified_index(), r2);
  kvIs(ok(await client.get(p + 'k')).value(), p + 'k', 'v3', 3);
  kvIs(ok(await client.get(p + 'k', 0)).value(), p + 'k', 'v3', 3);
  // before the key existed
  failed(await client.get(p + 'k', r1 - 1), 100, KEY_NOT_FOUND);
});

test('get(key, revision): a compacted revision → 11 (raw compact and etcdctl compact)', async () => {
  const p = uniquePrefix('kv-compact');
  const r1 = ok(await client.set(p + 'k', 'old')).index();
  const r2 = ok(await client.set(p + 'k', 'new')).index();
  await client.raw.kv.compact(CompactionRequest.fromPartial({ revision: BigInt(r2) }));
  const g = failed(await client.get(p + 'k', r1), 11, /required revision has been compacted/);
  assert.is(g.action(), 'get');
  // the compacted revision itself is still readable
  kvIs(ok(await client.get(p + 'k', r2)).value(), p + 'k', 'new', 2);

  const r3 = ok(await client.set(p + 'k', 'newer')).index();
  ok(await client.set(p + 'k', 'newest'));
  const ctl = await cluster.etcdctl(['compact', String(r3 + 1)]);
  assert.is(ctl.code, 0, ctl.stderr);
  failed(await client.get(p + 'k', r3), 11, /required revision has been compacted/);
  failed(await client.ls(p, 0, r3), 11, /required revision has been compacted/);
  // a revision in the future is an error too (etcd: 11 "required revision is a future revision")
  failed(await client.get(p + 'k', (await revision()) + 100), 11, /future revision/);
});

// ---- set / put -------------------------------------------------------------------------------------

test('set: action "set", value() empty, prev_value() empty for a new key, index = new mod_revision', async () => {
  const p = uniquePrefix('kv-set');
  const before = await revision();
  const s = ok(await client.set(p + 'k', 'v1'));
  assert.is(s.action(), 'set');
  isEmptyValue(s.value(), 'value (C++ quirk: set does not return the new kv)');
  isEmptyValue(s.prev_value(), 'prev_value of a new key');
  assert.equal(s.values(), []);
  assert.is(s.index(), before + 1);
  const g = ok(await client.get(p + 'k'));
  assert.is(g.value().modified_index(), s.index());
});

test('set/put: prev_value() is the old kv on overwrite', async () => {
  const p = uniquePrefix('kv-put');
  const s1 = ok(await client.set(p + 'k', 'v1'));
  const s2 = ok(await client.put(p + 'k', 'v2'));
  assert.is(s2.action(), 'set');
  isEmptyValue(s2.value());
  kvIs(s2.prev_value(), p + 'k', 'v1', 1);
  assert.is(s2.prev_value().modified_index(), s1.index());
  assert.is(s2.prev_value().created_index(), s1.index());
  assert.is(s2.index(), s1.index() + 1);
  const g = ok(await client.get(p + 'k'));
  kvIs(g.value(), p + 'k', 'v2', 2);
  assert.is(g.value().modified_index(), s2.index());
  assert.is(g.value().created_index(), s1.index());
  // empty value is a legal value
  const s3 = ok(await client.put(p + 'k', ''));
  kvIs(s3.prev_value(), p + 'k', 'v2', 2);
  kvIs(ok(await client.get(p + 'k')).value(), p + 'k', '', 3);
});

// ---- add -------------------------------------------------------------------------------------------

test('add: creates a missing key → action "create", version 1', async () => {
  const p = uniquePrefix('kv-add');
  const a = ok(await client.add(p + 'k', 'first'));
  assert.is(a.action(), 'create');
  kvIs(a.value(), p + 'k', 'first', 1);
  assert.is(a.value().created_index(), a.index());
  assert.is(a.value().modified_index(), a.index());
  assert.is(a.values().length, 1);
  assert.equal(a.keys(), [p + 'k']);
  isEmptyValue(a.prev_value());
});

test('add: existing key → 105, stored value NOT overwritten, value() = existing kv', async () => {
  const p = uniquePrefix('kv-add-exists');
  const s = ok(await client.set(p + 'k', 'original'));
  const rev = await revision();
  const a = failed(await client.add(p + 'k', 'intruder'), 105, KEY_ALREADY_EXISTS);
  assert.is(a.action(), 'create');
  kvIs(a.value(), p + 'k', 'original', 1);
  assert.is(a.value().modified_index(), s.index());
  assert.is(a.index(), rev, 'no write happened');
  assert.is(a.values().length, 1);
  isEmptyValue(a.prev_value());
  const g = ok(await client.get(p + 'k'));
  kvIs(g.value(), p + 'k', 'original', 1);
  assert.is(await revision(), rev);
});

// ---- modify ----------------------------------------------------------------------------------------

test('modify: existing key → "update", value() new, prev_value() old', async () => {
  const p = uniquePrefix('kv-modify');
  const s = ok(await client.set(p + 'k', 'old'));
  const m = ok(await client.modify(p + 'k', 'new'));
  assert.is(m.action(), 'update');
  assert.equal(m.keys(), [p + 'k']);
  kvIs(m.value(0), p + 'k', 'new', 2);
  kvIs(m.value(), p + 'k', 'new', 2);
  kvIs(m.prev_value(), p + 'k', 'old', 1);
  assert.is(m.prev_value().modified_index(), s.index());
  assert.is(m.value().modified_index(), m.index());
  assert.is(m.index(), s.index() + 1);
  assert.is(m.values().length, 1);
  kvIs(ok(await client.get(p + 'k')).value(), p + 'k', 'new', 2);
});

test('modify: missing key → 100, action "", index 0, key not created', async () => {
  const p = uniquePrefix('kv-modify-missing');
  const m = failed(await client.modify(p + 'k', 'v'), 100, KEY_NOT_FOUND);
  assert.is(m.action(), '');
  assert.is(m.index(), 0);
  isEmptyValue(m.value());
  assert.equal(m.values(), []);
  failed(await client.get(p + 'k'), 100, KEY_NOT_FOUND);
});

// ---- modify_if -------------------------------------------------------------------------------------

test('modify_if by value: match → "compareAndSwap" with new kv; mismatch → 101 with current kv', async () => {
  const p = uniquePrefix('kv-modify-if-value');
  ok(await client.set(p + 'k', 'a'));
  const m = ok(await client.modify_if(p + 'k', 'b', 'a'));
  assert.is(m.action(), 'compareAndSwap');
  kvIs(m.value(), p + 'k', 'b', 2);
  assert.is(m.value().modified_index(), m.index());
  isEmptyValue(m.prev_value(), 'prev_value (no prev_kv requested)');

  const f = failed(await client.modify_if(p + 'k', 'c', 'a'), 101, COMPARE_FAILED);
  assert.is(f.action(), 'compareAndSwap');
  kvIs(f.value(), p + 'k', 'b', 2);
  assert.is(f.values().length, 1);
  kvIs(ok(await client.get(p + 'k')).value(), p + 'k', 'b', 2);

  // missing key: 101, value() empty, key not created
  const g = failed(await client.modify_if(p + 'missing', 'x', 'a'), 101, COMPARE_FAILED);
  isEmptyValue(g.value());
  assert.equal(g.values(), []);
  failed(await client.get(p + 'missing'), 100, KEY_NOT_FOUND);
});

test('modify_if by index: match → success; mismatch → 101 with current kv', async () => {
  const p = uniquePrefix('kv-modify-if-index');
  const s = ok(await client.set(p + 'k', 'a'));
  const f = failed(await client.modify_if(p + 'k', 'x', s.index() + 1000), 101, COMPARE_FAILED);
  kvIs(f.value(), p + 'k', 'a', 1);
  assert.is(f.value().modified_index(), s.index());
  const m = ok(await client.modify_if(p + 'k', 'b', s.index()));
  assert.is(m.action(), 'compareAndSwap');
  kvIs(m.value(), p + 'k', 'b', 2);
  // the old index no longer matches
  const f2 = failed(await client.modify_if(p + 'k', 'c', s.index()), 101, COMPARE_FAILED);
  kvIs(f2.value(), p + 'k', 'b', 2);
  // missing key with a non-zero index fails
  failed(await client.modify_if(p + 'missing', 'v', s.index()), 101, COMPARE_FAILED);
});

test('modify_if by index 0 on a missing key creates it (C++ quirk)', async () => {
  const p = uniquePrefix('kv-modify-if-zero');
  const m = ok(await client.modify_if(p + 'k', 'created', 0));
  assert.is(m.action(), 'compareAndSwap');
  kvIs(m.value(), p + 'k', 'created', 1);
  kvIs(ok(await client.get(p + 'k')).value(), p + 'k', 'created', 1);
  // once it exists, index 0 no longer matches
  failed(await client.modify_if(p + 'k', 'again', 0), 101, COMPARE_FAILED);
});

// ---- rm / rm_if ------------------------------------------------------------------------------------

test('rm: value() and prev_value() are the deleted kv; missing → 100', async () => {
  const p = uniquePrefix('kv-rm');
  const s = ok(await client.set(p + 'k', 'gone'));
  const r = ok(await client.rm(p + 'k'));
  assert.is(r.action(), 'delete');
  kvIs(r.value(), p + 'k', 'gone', 1);
  kvIs(r.prev_value(), p + 'k', 'gone', 1);
  assert.is(r.value().modified_index(), s.index());
  assert.equal(r.keys(), [p + 'k']);
  assert.is(r.index(), s.index() + 1);
  failed(await client.get(p + 'k'), 100, KEY_NOT_FOUND);
  const rev = await revision();
  const m = failed(await client.rm(p + 'k'), 100, KEY_NOT_FOUND);
  assert.is(m.index(), rev);
  isEmptyValue(m.value());
  assert.equal(m.values(), []);
});

test('rm does not delete keys under the same prefix', async () => {
  const p = uniquePrefix('kv-rm-prefix');
  ok(await client.set(p + 'a', '1'));
  ok(await client.set(p + 'a/b', '2'));
  ok(await client.rm(p + 'a'));
  kvIs(ok(await client.get(p + 'a/b')).value(), p + 'a/b', '2');
});

test('rm_if by value: match deletes (value = prev = deleted kv); mismatch/missing → 101', async () => {
  const p = uniquePrefix('kv-rm-if-value');
  ok(await client.set(p + 'k', 'v'));
  const f = failed(await client.rm_if(p + 'k', 'other'), 101, COMPARE_FAILED);
  assert.is(f.action(), 'compareAndDelete');
  kvIs(f.value(), p + 'k', 'v', 1);
  assert.is(f.values().length, 1);
  isEmptyValue(f.prev_value());
  kvIs(ok(await client.get(p + 'k')).value(), p + 'k', 'v');
  const r = ok(await client.rm_if(p + 'k', 'v'));
  assert.is(r.action(), 'compareAndDelete');
  kvIs(r.value(), p + 'k', 'v', 1);
  kvIs(r.prev_value(), p + 'k', 'v', 1);
  failed(await client.get(p + 'k'), 100, KEY_NOT_FOUND);
  const m = failed(await client.rm_if(p + 'k', 'v'), 101, COMPARE_FAILED);
  isEmptyValue(m.value());
});

test('rm_if by index: match deletes; mismatch/missing → 101; index 0 on a missing key is OK with no values', async () => {
  const p = uniquePrefix('kv-rm-if-index');
  const s = ok(await client.set(p + 'k', 'v'));
  const f = failed(await client.rm_if(p + 'k', s.index() - 1), 101, COMPARE_FAILED);
  kvIs(f.value(), p + 'k', 'v', 1);
  const r = ok(await client.rm_if(p + 'k', s.index()));
  assert.is(r.action(), 'compareAndDelete');
  kvIs(r.value(), p + 'k', 'v', 1);
  kvIs(r.prev_value(), p + 'k', 'v', 1);
  failed(await client.rm_if(p + 'k', s.index()), 101, COMPARE_FAILED);
  const z = ok(await client.rm_if(p + 'k', 0));
  assert.equal(z.values(), []);
  isEmptyValue(z.value());
});

// ---- rmdir -----------------------------------------------------------------------------------------

test('rmdir non-recursive deletes only the key itself', async () => {
  const p = uniquePrefix('kv-rmdir-single');
  ok(await client.set(p + 'd', 'self'));
  ok(await client.set(p + 'd/x', '1'));
  const r = ok(await client.rmdir(p + 'd'));
  assert.is(r.action(), 'delete');
  assert.equal(r.keys(), [p + 'd']);
  kvIs(r.value(), p + 'd', 'self');
  kvIs(ok(await client.get(p + 'd/x')).value(), p + 'd/x', '1');
  failed(await client.rmdir(p + 'd'), 100, KEY_NOT_FOUND);
  failed(await client.rmdir(p + 'd', false), 100, KEY_NOT_FOUND);
});

test('rmdir recursive deletes the prefix and returns every deleted kv in key order', async () => {
  const p = uniquePrefix('kv-rmdir-rec');
  // written out of order on purpose
  for (const k of ['d/c', 'd/a', 'd', 'd/b/deep', 'e']) ok(await client.set(p + k, 'v-' + k));
  const r = ok(await client.rmdir(p + 'd', true));
  assert.is(r.action(), 'delete');
  assert.equal(r.keys(), [p + 'd', p + 'd/a', p + 'd/b/deep', p + 'd/c']);
  assert.equal(
    r.values().map((v) => v.as_string()),
    ['v-d', 'v-d/a', 'v-d/b/deep', 'v-d/c'],
  );
  kvIs(r.value(), p + 'd', 'v-d');
  kvIs(r.prev_value(), p + 'd', 'v-d');
  kvIs(r.value(2), p + 'd/b/deep', 'v-d/b/deep');
  assert.is(r.key(3), p + 'd/c');
  assert.equal(ok(await client.ls(p)).keys(), [p + 'e']);
  const again = failed(await client.rmdir(p + 'd', true), 100, KEY_NOT_FOUND);
  assert.equal(again.values(), []);
});

test('rmdir range form deletes [key, range_end)', async () => {
  const p = uniquePrefix('kv-rmdir-range');
  for (const k of ['a', 'b', 'c', 'd']) ok(await client.set(p + k, k));
  const r = ok(await client.rmdir(p + 'b', p + 'd'));
  assert.equal(r.keys(), [p + 'b', p + 'c']);
  assert.equal(ok(await client.ls(p)).keys(), [p + 'a', p + 'd']);
  failed(await client.rmdir(p + 'b', p + 'd'), 100, KEY_NOT_FOUND);
});

// ---- ls / keys -------------------------------------------------------------------------------------

test('ls prefix: recursive, includes the key itself, full keys, ascending', async () => {
  const p = uniquePrefix('kv-ls');
  for (const k of ['dir/z', 'dir', 'dir/a/b', 'dir/a', 'dir0', 'di']) ok(await client.set(p + k, 'v:' + k));
  const l = ok(await client.ls(p + 'dir'));
  assert.is(l.action(), 'get');
  // '/' (0x2f) < '0' (0x30): byte order
  assert.equal(l.keys(), [p + 'dir', p + 'dir/a', p + 'dir/a/b', p + 'dir/z', p + 'dir0']);
  assert.equal(
    l.values().map((v) => v.as_string()),
    ['v:dir', 'v:dir/a', 'v:dir/a/b', 'v:dir/z', 'v:dir0'],
  );
  kvIs(l.value(), p + 'dir', 'v:dir');
  kvIs(l.value(1), p + 'dir/a', 'v:dir/a');
  assert.is(l.key(4), p + 'dir0');
  for (const v of l.values()) {
    assert.is(v.ttl(), 0);
    assert.ok(v.created_index() > 0 && v.modified_index() > 0 && v.version() === 1);
  }
  isEmptyValue(l.prev_value());
  assert.is(l.index(), await revision());
  const sub = ok(await client.ls(p + 'dir/'));
  assert.equal(sub.keys(), [p + 'dir/a', p + 'dir/a/b', p + 'dir/z']);
});

test("ls(''): all keys, ascending", async () => {
  const p = uniquePrefix('kv-ls-all');
  ok(await client.set(p + 'one', '1'));
  ok(await client.set(p + 'two', '2'));
  const all = ok(await client.ls(''));
  const keys = all.keys();
  assert.ok(keys.includes(p + 'one') && keys.includes(p + 'two'));
  assert.equal(keys, [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  const ctl = await cluster.etcdctl(['get', '', '--from-key', '--keys-only']);
  assert.is(ctl.code, 0, ctl.stderr);
  const ctlKeys = ctl.stdout
    .toString('utf8')
    .split('\n')
    .filter((s) => s.length > 0);
  assert.equal(keys, ctlKeys);
  const ks = ok(await client.keys(''));
  assert.equal(ks.keys(), keys);
});

test('ls with limit returns the first keys in order', async () => {
  const p = uniquePrefix('kv-ls-limit');
  for (const k of ['c', 'a', 'e', 'b', 'd']) ok(await client.set(p + k, k));
  const l = ok(await client.ls(p, 2));
  assert.equal(l.keys(), [p + 'a', p + 'b']);
  assert.equal(ok(await client.ls(p, 0)).keys().length, 5, 'limit 0 = no limit');
  assert.equal(ok(await client.ls(p, 10)).keys().length, 5);
  assert.equal(ok(await client.keys(p, 3)).keys(), [p + 'a', p + 'b', p + 'c']);
});

test('ls with revision lists the prefix as it was', async () => {
  const p = uniquePrefix('kv-ls-rev');
  ok(await client.set(p + 'a', 'a1'));
  const r = ok(await client.set(p + 'b', 'b1')).index();
  ok(await client.set(p + 'a', 'a2'));
  ok(await client.set(p + 'c', 'c1'));
  ok(await client.rm(p + 'b'));
  const then = ok(await client.ls(p, 0, r));
  assert.equal(then.keys(), [p + 'a', p + 'b']);
  assert.equal(
    then.values().map((v) => v.as_string()),
    ['a1', 'b1'],
  );
  const now = ok(await client.ls(p));
  assert.equal(now.keys(), [p + 'a', p + 'c']);
  assert.equal(ok(await client.ls(p, 1, r)).keys(), [p + 'a']);
  assert.equal(ok(await client.ls(p, p + 'b', 0, r)).keys(), [p + 'a']);
  assert.equal(ok(await client.keys(p, 0, r)).keys(), [p + 'a', p + 'b']);
});

test('ls range form lists [key, range_end)', async () => {
  const p = uniquePrefix('kv-ls-range');
  for (const k of ['a', 'b', 'b/x', 'c', 'd']) ok(await client.set(p + k, k));
  assert.equal(ok(await client.ls(p + 'b', p + 'd')).keys(), [p + 'b', p + 'b/x', p + 'c']);
  assert.equal(ok(await client.ls(p + 'b', p + 'd', 2)).keys(), [p + 'b', p + 'b/x']);
  assert.equal(ok(await client.ls(p + 'a', Buffer.from(p + 'c'))).keys(), [p + 'a', p + 'b', p + 'b/x']);
});

test('ls on an empty prefix is success with no values', async () => {
  const p = uniquePrefix('kv-ls-empty');
  const l = ok(await client.ls(p));
  assert.is(l.action(), 'get');
  assert.equal(l.values(), []);
  assert.equal(l.keys(), []);
  isEmptyValue(l.value());
  assert.ok(l.index() > 0);
  ok(await client.keys(p));
  ok(await client.ls(p + 'a', p + 'b'));
});

test('keys(): keys and revisions present, values empty', async () => {
  const p = uniquePrefix('kv-keys');
  const s1 = ok(await client.set(p + 'x', 'value-x'));
  ok(await client.set(p + 'y', 'value-y'));
  ok(await client.set(p + 'y', 'value-y2'));
  const k = ok(await client.keys(p));
  assert.is(k.action(), 'get');
  assert.equal(k.keys(), [p + 'x', p + 'y']);
  for (const v of k.values()) {
    assert.is(v.as_string(), '');
    assert.is(v.as_bytes().length, 0);
  }
  assert.is(k.value(0).modified_index(), s1.index());
  assert.is(k.value(1).version(), 2);
  const r = ok(await client.keys(p + 'x', p + 'z'));
  assert.equal(r.keys(), [p + 'x', p + 'y']);
});

test('300 concurrent writes and reads all succeed', async () => {
  const p = uniquePrefix('kv-concurrent');
  const n = 300;
  const sets = await Promise.all(Array.from({ length: n }, (_, i) => client.set(`${p}${String(i).padStart(3, '0')}`, String(i))));
  for (const s of sets) ok(s);
  assert.is(new Set(sets.map((s) => s.index())).size, n, 'one revision per write');
  const gets = await Promise.all(Array.from({ length: n }, (_, i) => client.get(`${p}${String(i).padStart(3, '0')}`)));
  gets.forEach((g, i) => assert.is(ok(g).value().as_string(), String(i)));
  const l = ok(await client.ls(p));
  assert.is(l.values().length, n);
  assert.is(ok(await client.rmdir(p, true)).values().length, n);
});

// ---- txn -------------------------------------------------------------------------------------------

test('txn: compares hold → success ops run; values() from ranges and deletes, prev_value() from the first put', async () => {
  const p = uniquePrefix('kv-txn-ok');
  ok(await client.set(p + 'cond', 'yes'));
  ok(await client.set(p + 'put', 'before'));
  ok(await client.set(p + 'del', 'doomed'));
  ok(await client.set(p + 'r/1', 'one'));
  ok(await client.set(p + 'r/2', 'two'));
  const t = new Transaction();
  t.add_compare_value(p + 'cond', 'yes');
  t.add_compare_version(p + 'cond', CompareResult.GREATER, 0);
  t.add_compare_version(p + 'cond', 1);
  t.add_compare_mod(p + 'never', 0); // a missing key has mod revision 0
  t.add_compare_create(p + 'cond', CompareResult.LESS, 1_000_000_000);
  t.add_compare_lease(p + 'cond', 0);
  t.add_compare_value(p + 'cond', CompareResult.NOT_EQUAL, 'no');
  t.add_success_put(p + 'put', 'after', 0, true);
  t.add_success_put(p + 'new', 'fresh');
  t.add_success_range(p + 'r/', '', true);
  t.add_success_delete(p + 'del', '', false, true);
  t.add_failure_put(p + 'failure-ran', 'x');
  const before = await revision();
  const r = ok(await client.txn(t), 'txn');
  assert.is(r.action(), 'txn');
  assert.is(r.index(), before + 1, 'a txn is one revision');
  assert.equal(r.keys(), [p + 'r/1', p + 'r/2', p + 'del']);
  kvIs(r.value(), p + 'r/1', 'one');
  kvIs(r.value(2), p + 'del', 'doomed');
  kvIs(r.prev_value(), p + 'put', 'before', 1);
  kvIs(ok(await client.get(p + 'put')).value(), p + 'put', 'after', 2);
  kvIs(ok(await client.get(p + 'new')).value(), p + 'new', 'fresh', 1);
  failed(await client.get(p + 'del'), 100, KEY_NOT_FOUND);
  failed(await client.get(p + 'failure-ran'), 100, KEY_NOT_FOUND);
});

test('txn: a failed compare → 101, the failure branch runs and its values are returned', async () => {
  const p = uniquePrefix('kv-txn-fail');
  ok(await client.set(p + 'cond', 'actual'));
  ok(await client.set(p + 'f/a', 'A'));
  ok(await client.set(p + 'f/b', 'B'));
  const t = new Transaction();
  t.add_compare_value(p + 'cond', 'expected');
  t.add_success_put(p + 'success-ran', 'x');
  t.add_failure_range(p + 'cond');
  t.add_failure_range(p + 'f/', '', true);
  t.add_failure_put(p + 'failure-ran', 'y', 0, true);
  t.add_failure_delete(p + 'f/b', '', false, true);
  const r = failed(await client.txn(t), 101, COMPARE_FAILED);
  assert.is(r.action(), 'txn');
  assert.equal(r.keys(), [p + 'cond', p + 'f/a', p + 'f/b', p + 'f/b']);
  kvIs(r.value(), p + 'cond', 'actual');
  isEmptyValue(r.prev_value(), 'prev_value (the put created a new key)');
  failed(await client.get(p + 'success-ran'), 100, KEY_NOT_FOUND);
  kvIs(ok(await client.get(p + 'failure-ran')).value(), p + 'failure-ran', 'y');
  failed(await client.get(p + 'f/b'), 100, KEY_NOT_FOUND);
  // an empty failure branch: 101 and no values
  const t2 = new Transaction();
  t2.add_compare_version(p + 'cond', 7);
  const r2 = failed(await client.txn(t2), 101, COMPARE_FAILED);
  assert.equal(r2.values(), []);
});

test('txn: range_end compares, nested txn, setup_delete and setup_compare_and_delete', async () => {
  const p = uniquePrefix('kv-txn-more');
  ok(await client.set(p + 'a/1', 'x'));
  ok(await client.set(p + 'a/2', 'x'));
  const inner = new Transaction();
  inner.setup_put(p + 'inner', 'nested');
  const t = new Transaction();
  t.add_compare_value(p + 'a/', 'x', p + 'a0'); // every key in [a/, a0) has value x
  t.add_success_txn(inner);
  t.setup_put(p + 'outer', 'o');
  ok(await client.txn(t), 'txn with nested');
  kvIs(ok(await client.get(p + 'inner')).value(), p + 'inner', 'nested');
  kvIs(ok(await client.get(p + 'outer')).value(), p + 'outer', 'o');

  const d = new Transaction();
  d.setup_delete(p + 'a/', '', true);
  const dr = ok(await client.txn(d));
  assert.equal(dr.keys(), [p + 'a/1', p + 'a/2']);
  kvIs(dr.prev_value(), p + 'a/1', 'x');
  assert.equal(ok(await client.ls(p + 'a/')).keys(), []);

  const cd = new Transaction();
  cd.setup_compare_and_delete(p + 'outer', 'wrong', p + 'inner');
  const cf = failed(await client.txn(cd), 101, COMPARE_FAILED);
  kvIs(cf.value(), p + 'outer', 'o');
  const cd2 = new Transaction();
  cd2.setup_compare_and_delete(p + 'outer', 'o', p + 'inner');
  const c2 = ok(await client.txn(cd2));
  kvIs(c2.value(), p + 'inner', 'nested');
  failed(await client.get(p + 'inner'), 100, KEY_NOT_FOUND);
});

test('txn: setup_compare_and_swap fetch-and-add from three concurrent workers', async () => {
  const p = uniquePrefix('kv-txn-faa');
  const key = p + 'counter';
  ok(await client.set(key, '0'));
  const workers = 3;
  const perWorker = 5;
  const worker = async () => {
    let current = ok(await client.get(key)).value().as_string();
    for (let done = 0, attempts = 0; done < perWorker; attempts++) {
      assert.ok(attempts < 200, 'fetch-and-add did not converge');
      const t = new Transaction();
      t.setup_compare_and_swap(key, current, String(Number(current) + 1));
      const r = await client.txn(t);
      if (r.is_ok()) {
        assert.is(r.action(), 'txn');
        current = String(Number(current) + 1);
        done++;
      } else {
        failed(r, 101, COMPARE_FAILED);
        assert.is(r.value().key(), key);
        current = r.value().as_string(); // failure branch is range(key): the current value
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  const g = ok(await client.get(key));
  assert.is(g.value().as_string(), String(workers * perWorker));
  assert.is(g.value().version(), workers * perWorker + 1);

  // by revision: compare MOD
  const mod = g.value().modified_index();
  const stale = new Transaction();
  stale.setup_compare_and_swap(key, mod - 1, 'stale');
  kvIs(failed(await client.txn(stale), 101, COMPARE_FAILED).value(), key, String(workers * perWorker));
  const fresh = new Transaction();
  fresh.setup_compare_and_swap(key, mod, 'by-revision');
  ok(await client.txn(fresh));
  kvIs(ok(await client.get(key)).value(), key, 'by-revision');
});

// ---- leases ----------------------------------------------------------------------------------------

test('leases: grant, attach, time-to-live, list, revoke removes the attached keys', async () => {
  const p = uniquePrefix('kv-lease');
  const g = ok(await client.leasegrant(30), 'leasegrant');
  assert.is(g.action(), 'leasegrant');
  const id = g.value().lease();
  assert.is(typeof id, 'bigint');
  assert.ok(id > 0n);
  assert.is(g.value().ttl(), 30);

  const s = ok(await client.set(p + 'leased', 'v', id));
  isEmptyValue(s.prev_value());
  ok(await client.put(p + 'leased2', 'w', id));
  ok(await client.add(p + 'leased3', 'z', id));
  ok(await client.set(p + 'free', 'f'));
  assert.is(ok(await client.get(p + 'leased')).value().lease(), id);
  assert.is(ok(await client.get(p + 'leased3')).value().lease(), id);
  assert.is(ok(await client.get(p + 'free')).value().lease(), 0n);
  const l = ok(await client.ls(p));
  assert.equal(
    l.values().map((v) => v.lease()),
    [0n, id, id, id],
  );

  const ttl = ok(await client.leasetimetolive(id), 'leasetimetolive');
  assert.is(ttl.action(), 'leasetimetolive');
  assert.is(ttl.value().lease(), id);
  assert.ok(ttl.value().ttl() > 0 && ttl.value().ttl() <= 30, `ttl ${ttl.value().ttl()}`);

  const ls = ok(await client.leases(), 'leases');
  assert.is(ls.action(), 'leaseleases');
  assert.ok(ls.leases().includes(id), 'leases() lists the lease');
  for (const x of ls.leases()) assert.is(typeof x, 'bigint');

  // the transaction compare on lease
  const t = new Transaction();
  t.add_compare_lease(p + 'leased', id);
  t.add_success_range(p + 'leased');
  kvIs(ok(await client.txn(t)).value(), p + 'leased', 'v');

  const r = ok(await client.leaserevoke(id), 'leaserevoke');
  assert.is(r.action(), 'leaserevoke');
  failed(await client.get(p + 'leased'), 100, KEY_NOT_FOUND);
  failed(await client.get(p + 'leased2'), 100, KEY_NOT_FOUND);
  failed(await client.get(p + 'leased3'), 100, KEY_NOT_FOUND);
  ok(await client.get(p + 'free'));

  const after = ok(await client.leasetimetolive(id), 'leasetimetolive after revoke');
  assert.is(after.value().ttl(), -1);
  assert.not.ok(ok(await client.leases()).leases().includes(id));
});

test('leases: number ids, and modify_if keeps a lease', async () => {
  const p = uniquePrefix('kv-lease-num');
  const id = ok(await client.leasegrant(60)).value().lease();
  ok(await client.set(p + 'k', 'v'));
  // modify moves the key onto the lease
  const m = ok(await client.modify(p + 'k', 'v2', id));
  assert.is(m.value().lease(), id);
  assert.is(m.prev_value().lease(), 0n);
  const mi = ok(await client.modify_if(p + 'k', 'v3', 'v2', id));
  assert.is(mi.value().lease(), id);
  if (id <= BigInt(Number.MAX_SAFE_INTEGER)) {
    ok(await client.leasetimetolive(Number(id)));
  }
  ok(await client.leaserevoke(id));
  failed(await client.get(p + 'k'), 100, KEY_NOT_FOUND);
});

test('leases: unknown lease → 5 on revoke, put, add and modify', async () => {
  const p = uniquePrefix('kv-lease-unknown');
  const id = ok(await client.leasegrant(5)).value().lease();
  ok(await client.leaserevoke(id));
  const rv = failed(await client.leaserevoke(id), 5, LEASE_NOT_FOUND);
  assert.is(rv.action(), 'leaserevoke');
  const s = failed(await client.set(p + 'k', 'v', id), 5, LEASE_NOT_FOUND);
  assert.is(s.action(), 'set');
  failed(await client.put(p + 'k', 'v', id), 5, LEASE_NOT_FOUND);
  failed(await client.add(p + 'k', 'v', id), 5, LEASE_NOT_FOUND);
  ok(await client.set(p + 'k', 'v'));
  failed(await client.modify(p + 'k', 'v2', id), 5, LEASE_NOT_FOUND);
  failed(await client.modify_if(p + 'k', 'v2', 'v', id), 5, LEASE_NOT_FOUND);
  kvIs(ok(await client.get(p + 'k')).value(), p + 'k', 'v', 1);
  failed(await client.leaserevoke(123456789n), 5, LEASE_NOT_FOUND);
  // time-to-live of an unknown lease is not an error: ttl -1
  const ttl = ok(await client.leasetimetolive(123456789n));
  assert.is(ttl.value().ttl(), -1);
  assert.is(ttl.value().lease(), 123456789n);
});

// ---- last: everything ------------------------------------------------------------------------------

test("rmdir('', true) deletes every key (runs last)", async () => {
  const p = uniquePrefix('kv-rmdir-all');
  ok(await client.set(p + 'x', '1'));
  ok(await client.set('\u00ff-high', '2'));
  ok(await client.set('a-low', '3'));
  const total = ok(await client.ls('')).keys();
  assert.ok(total.length >= 3);
  const r = ok(await client.rmdir('', true));
  assert.is(r.action(), 'delete');
  assert.equal(r.keys(), total, 'every key, in key order');
  const rest = ok(await client.ls(''));
  assert.equal(rest.keys(), []);
  const ctl = await cluster.etcdctl(['get', '', '--from-key', '--keys-only']);
  assert.is(ctl.code, 0, ctl.stderr);
  assert.is(ctl.stdout.length, 0, 'etcdctl sees no keys either');
  failed(await client.rmdir('', true), 100, KEY_NOT_FOUND);
});

test.run();
