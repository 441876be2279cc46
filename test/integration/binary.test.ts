// Binary keys and values: bytes with \0, 0xff and invalid UTF-8 round-trip exactly
// through set/get/ls/rm/txn, and agree byte for byte with what etcdctl writes and reads.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Transaction } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { COMPARE_FAILED, KEY_ALREADY_EXISTS, KEY_NOT_FOUND, failed, ok, uniquePrefix } from './util';

let cluster: EtcdCluster;
let client: Client;

const test = suite('binary keys and values');

test.before(async () => {
  cluster = await startEtcd({ name: 'it-binary', dataDirOnTmpfs: true });
  client = new Client(cluster.endpoint);
});

test.after(async () => {
  await client?.close();
  await cluster?.stop();
});

const b = (...parts: (string | number[] | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : Buffer.from(x))));

/** Every byte value, plus the awkward ones again: \0 first and last, lone continuation bytes, a truncated sequence. */
const NASTY = b([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0xe2, 0x82], [...Array(256).keys()], [0x0a, 0x0d, 0xed, 0xa0, 0x80, 0x00]);

function bytesEq(actual: Buffer, expected: Buffer, what: string): void {
  assert.ok(Buffer.isBuffer(actual), `${what} is a Buffer`);
  assert.ok(actual.equals(expected), `${what}: got ${actual.toString('hex')}, want ${expected.toString('hex')}`);
}

test('set/get round-trip binary keys and values exactly', async () => {
  const p = b(uniquePrefix('bin-rt'));
  const cases: [Buffer, Buffer][] = [
    [b(p, [0x00]), b('v\0zero')],
    [b(p, [0x00, 0x41, 0x00]), NASTY],
    [b(p, [0xff]), b([0xff, 0xff, 0xff])],
    [b(p, [0xff, 0xfe, 0x00]), b([0x00])],
    [b(p, [0xc3, 0x28]), b([0xc3, 0x28])], // invalid UTF-8
    [b(p, 'plain'), Buffer.alloc(0)],
    [b(p, [0x80, 0x80]), b('\u00e9\u{1f600}')], // valid multi-byte UTF-8 value
  ];
  for (const [k, v] of cases) {
    const s = ok(await client.set(k, v), `set ${k.toString('hex')}`);
    assert.is(s.action(), 'set');
  }
  for (const [k, v] of cases) {
    const g = ok(await client.get(k), `get ${k.toString('hex')}`);
    bytesEq(g.value().key_bytes(), k, 'key_bytes');
    bytesEq(g.value().as_bytes(), v, 'as_bytes');
    assert.is(g.value().key(), k.toString('utf8'));
    assert.is(g.value().as_string(), v.toString('utf8'));
  }
  // a Uint8Array that is not a Buffer, and a view into a larger buffer
  const big = b('xxxx', p, 'view', 'yyyy');
  const view = new Uint8Array(big.buffer, big.byteOffset + 4, big.length - 8);
  ok(await client.set(view, new Uint8Array([1, 0, 2])));
  bytesEq(ok(await client.get(b(p, 'view'))).value().as_bytes(), b([1, 0, 2]), 'value via Uint8Array');
  // a JS string with \0 inside is UTF-8 with a NUL byte
  ok(await client.set(p.toString('utf8') + 'str\0key', 'str\0value'));
  const gs = ok(await client.get(b(p, 'str', [0], 'key')));
  bytesEq(gs.value().as_bytes(), b('str', [0], 'value'), 'string with NUL');
  assert.is(gs.value().as_string(), 'str\0value');
});

test('prev_value, ls, keys and rm keep bytes exact and in byte order', async () => {
  const p = b(uniquePrefix('bin-ls'));
  const keys = [b(p, [0xff]), b(p, [0x00]), b(p, [0xc3, 0x28]), b(p, 'm'), b(p, [0x00, 0xff])];
  const val = (k: Buffer) => b([0x00], k.subarray(p.length), [0xff]);
  for (const k of keys) ok(await client.set(k, val(k)));
  const old = ok(await client.set(keys[0]!, b('replaced')));
  bytesEq(old.prev_value().as_bytes(), val(keys[0]!), 'prev_value bytes');
  bytesEq(old.prev_value().key_bytes(), keys[0]!, 'prev_value key bytes');

  const sorted = [...keys].sort(Buffer.compare);
  const l = ok(await client.ls(p));
  assert.is(l.values().length, keys.length);
  l.values().forEach((v, i) => {
    bytesEq(v.key_bytes(), sorted[i]!, `ls key ${i}`);
    bytesEq(v.as_bytes(), sorted[i]!.equals(keys[0]!) ? b('replaced') : val(sorted[i]!), `ls value ${i}`);
  });
  const k = ok(await client.keys(p));
  assert.equal(
    k.values().map((v) => v.key_bytes().toString('hex')),
    sorted.map((x) => x.toString('hex')),
  );
  for (const v of k.values()) assert.is(v.as_bytes().length, 0);

  // a prefix that ends in 0xff: only keys under it
  const ff = ok(await client.ls(b(p, [0xff])));
  assert.equal(
    ff.values().map((v) => v.key_bytes().toString('hex')),
    [b(p, [0xff]).toString('hex')],
  );
  // range form with binary bounds: [p\0, p\xc3)
  const range = ok(await client.ls(b(p, [0x00]), b(p, [0xc3])));
  assert.equal(
    range.values().map((v) => v.key_bytes().toString('hex')),
    [b(p, [0x00]), b(p, [0x00, 0xff]), b(p, 'm')].map((x) => x.toString('hex')),
  );

  const r = ok(await client.rm(keys[2]!));
  bytesEq(r.value().key_bytes(), keys[2]!, 'rm value key');
  bytesEq(r.value().as_bytes(), val(keys[2]!), 'rm value');
  bytesEq(r.prev_value().as_bytes(), val(keys[2]!), 'rm prev_value');
  failed(await client.get(keys[2]!), 100, KEY_NOT_FOUND);

  const rd = ok(await client.rmdir(p, true));
  assert.equal(
    rd.values().map((v) => v.key_bytes().toString('hex')),
    sorted.filter((x) => !x.equals(keys[2]!)).map((x) => x.toString('hex')),
  );
  assert.equal(ok(await client.ls(p)).values(), []);
});

test('a prefix of only 0xff bytes lists to the end of the keyspace', async () => {
  const top = [b([0xff, 0xff]), b([0xff, 0xff, 0x00]), b([0xff, 0xff, 0xff, 0x01])];
  const below = b([0xff, 0xfe, 0xff]);
  for (const k of [...top, below]) ok(await client.set(k, k));
  const l = ok(await client.ls(b([0xff, 0xff])));
  assert.equal(
    l.values().map((v) => v.key_bytes().toString('hex')),
    top.map((k) => k.toString('hex')),
  );
  for (const v of l.values()) bytesEq(v.as_bytes(), v.key_bytes(), 'value = key');
  const d = ok(await client.rmdir(b([0xff, 0xff]), true));
  assert.is(d.values().length, 3);
  bytesEq(ok(await client.get(below)).value().as_bytes(), below, 'key below the prefix survives');
  ok(await client.rm(below));
});

test('add / modify / modify_if / rm_if / txn compare binary values exactly', async () => {
  const p = b(uniquePrefix('bin-cas'));
  const k = b(p, [0x00, 0xfe]);
  const v1 = b([0x00, 0x01, 0xff]);
  const v1text = b([0x00, 0x01, 0xef, 0xbf, 0xbd]); // what v1 looks like after a lossy UTF-8 round trip
  const v2 = b([0xc3, 0x28, 0x00]);
  const a = ok(await client.add(k, v1));
  assert.is(a.action(), 'create');
  bytesEq(a.value().as_bytes(), v1, 'add value');
  const dup = failed(await client.add(k, v2), 105, KEY_ALREADY_EXISTS);
  bytesEq(dup.value().as_bytes(), v1, 'existing value on 105');
  // comparing with the lossy text form must fail: the compare is on bytes
  failed(await client.modify_if(k, v2, v1text), 101, COMPARE_FAILED);
  failed(await client.modify_if(k, v2, v1.toString('utf8')), 101, COMPARE_FAILED);
  const m = ok(await client.modify_if(k, v2, v1));
  bytesEq(m.value().as_bytes(), v2, 'modify_if new value');
  const mod = ok(await client.modify(k, NASTY));
  bytesEq(mod.value().as_bytes(), NASTY, 'modify value');
  bytesEq(mod.prev_value().as_bytes(), v2, 'modify prev_value');

  const t = new Transaction();
  t.setup_compare_and_swap(k, NASTY, v1);
  const tr = ok(await client.txn(t));
  assert.is(tr.action(), 'txn');
  bytesEq(ok(await client.get(k)).value().as_bytes(), v1, 'after txn swap');
  const t2 = new Transaction();
  t2.setup_compare_and_swap(k, NASTY, v2);
  bytesEq(failed(await client.txn(t2), 101, COMPARE_FAILED).value().as_bytes(), v1, 'txn failure value');

  const bad = failed(await client.rm_if(k, v2), 101, COMPARE_FAILED);
  bytesEq(bad.value().as_bytes(), v1, 'rm_if failure value');
  const good = ok(await client.rm_if(k, v1));
  bytesEq(good.value().as_bytes(), v1, 'rm_if deleted value');
  bytesEq(good.prev_value().key_bytes(), k, 'rm_if deleted key');
});

test('etcdctl reads back what we wrote, byte for byte', async () => {
  const p = uniquePrefix('bin-ctl-ours');
  const key = p + 'value';
  const value = b('A', [0x00], 'B', [0xff, 0xfe], 'C\n', [0x80, 0xc3, 0x28], 'end');
  ok(await client.set(key, value));
  const plain = await cluster.etcdctl(['get', key, '--print-value-only']);
  assert.is(plain.code, 0, plain.stderr);
  bytesEq(plain.stdout, b(value, '\n'), 'etcdctl --print-value-only');

  // binary keys: etcdctl -w json base64-encodes keys and values
  const binKey = b(p, 'k', [0x00, 0xff, 0xc3]);
  ok(await client.set(binKey, NASTY));
  const json = await cluster.etcdctl(['get', p, '--prefix', '-w', 'json']);
  assert.is(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout.toString('utf8')) as { kvs: { key: string; value: string; version: number }[] };
  const got = parsed.kvs.map((kv) => [Buffer.from(kv.key, 'base64'), Buffer.from(kv.value, 'base64')] as const);
  assert.is(got.length, 2);
  bytesEq(got[0]![0], binKey, 'json key 0'); // "k" < "value"
  bytesEq(got[0]![1], NASTY, 'json value 0');
  bytesEq(got[1]![0], b(key), 'json key 1');
  bytesEq(got[1]![1], value, 'json value 1');
});

test('we read back what etcdctl wrote (value from stdin), byte for byte', async () => {
  const p = uniquePrefix('bin-ctl-theirs');
  const value = b([0x00], 'x', [0xff, 0x00, 0xc3, 0x28], '\r\n\n', [0x00]);
  const put = await cluster.etcdctl(['put', p + 'stdin'], { input: value });
  assert.is(put.code, 0, put.stderr);
  assert.is(put.stdout.toString().trim(), 'OK');
  const g = ok(await client.get(p + 'stdin'));
  bytesEq(g.value().as_bytes(), value, 'value written by etcdctl from stdin');
  assert.is(g.value().version(), 1);

  const all = await cluster.etcdctl(['put', p + 'all-bytes'], { input: NASTY });
  assert.is(all.code, 0, all.stderr);
  bytesEq(ok(await client.get(p + 'all-bytes')).value().as_bytes(), NASTY, 'all 256 byte values');

  // a multi-byte UTF-8 key and value given as arguments
  const arg = await cluster.etcdctl(['put', p + 'ключ', 'значение ✓']);
  assert.is(arg.code, 0, arg.stderr);
  const ga = ok(await client.get(p + 'ключ'));
  assert.is(ga.value().as_string(), 'значение ✓');
  bytesEq(ga.value().key_bytes(), b(p + 'ключ'), 'utf-8 key bytes');

  // our delete is visible to etcdctl
  const rm = ok(await client.rm(p + 'stdin'));
  bytesEq(rm.value().as_bytes(), value, 'deleted value');
  const after = await cluster.etcdctl(['get', p + 'stdin', '--print-value-only']);
  assert.is(after.code, 0, after.stderr);
  assert.is(after.stdout.length, 0);
});

test.run();
