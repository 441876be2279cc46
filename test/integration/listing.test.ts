// Listings of any size (README "Listings"): `ls`, `keys` and `rmdir` read through KV.RangeStream on etcd >= 3.7
// and through pages of Range elsewhere, at one revision, with the same C++ results either way; and calls newer
// than the server fail with an error naming both versions.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DowngradeRequest_DowngradeAction, RangeRequest } from '../../generated/etcdserver/etcdserverpb/rpc';
import { Client, GrpcStatusError, Transaction, UnsupportedByServerError, type Response } from '../../src/index';
import { listingSwitch, type ListingPath } from '../../src/listing';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { etcdVersion, failed, ok, testOnEtcd, uniquePrefix } from './util';
import { closeOwned, owned } from '../helpers/cleanup';
import { rejection } from '../helpers/throws';

let cluster: EtcdCluster;
let client: Client;

const test = suite('listings of any size');

/** grpc-js's own default receive limit, which our transports lift: one Range of the big set exceeds it. */
const RECEIVE_LIMIT = 4 * 1024 * 1024;
const BIG_KEYS = 1500;
const VALUE_BYTES = 4096; // 1500 x 4 KiB = 5.9 MiB of values

test.before(async () => {
  cluster = await startEtcd({ name: 'it-listing', dataDirOnTmpfs: true });
  client = new Client(cluster.endpoint);
});

test.after.each(() => {
  listingSwitch.force = undefined;
  listingSwitch.afterRmdirListing = undefined;
});

test.after.each(closeOwned);
test.after(async () => {
  await client?.close();
  await cluster?.stop();
});

const keyOf = (prefix: string, i: number) => `${prefix}${String(i).padStart(5, '0')}`;
const valueOf = (i: number) => `${i}:`.padEnd(VALUE_BYTES, String.fromCharCode(97 + (i % 26)));

/** Writes `n` keys of VALUE_BYTES under `prefix`, 100 per txn (each well below --max-request-bytes). */
async function fill(prefix: string, n: number): Promise<void> {
  for (let start = 0; start < n; start += 100) {
    const t = new Transaction();
    for (let i = start; i < Math.min(n, start + 100); i++) t.add_success_put(keyOf(prefix, i), valueOf(i));
    ok(await client.txn(t), `fill ${start}`);
  }
}

/** Everything C++ code can see of a listing (or of what rmdir deleted). */
function cppView(r: Response) {
  return {
    ok: r.is_ok(),
    code: r.error_code(),
    index: r.index(),
    keys: r.keys(),
    values: r.values().map((v) => [v.key(), v.as_string(), v.created_index(), v.modified_index(), v.version(), v.lease()]),
    first: r.value().key(),
  };
}

async function withPath<T>(path: ListingPath | undefined, fn: () => Promise<T>): Promise<T> {
  listingSwitch.force = path;
  try {
    return await fn();
  } finally {
    listingSwitch.force = undefined;
  }
}

test('a listing larger than the receive limit: one Range fails, ls and keys read it all, through both paths', async () => {
  const prefix = uniquePrefix('listing-big');
  await fill(prefix, BIG_KEYS);
  const limited = owned(new Client(cluster.endpoint, { transport: 'grpc-js', grpcOptions: { 'grpc.max_receive_message_length': RECEIVE_LIMIT } }));
  try {
    // The data really is more than one message can carry under this limit.
    const end = Buffer.from(prefix);
    end[end.length - 1]! += 1;
    const single = await rejection(limited.raw.kv.range(RangeRequest.fromPartial({ key: Buffer.from(prefix), rangeEnd: end })), GrpcStatusError, 'one Range of the whole set must exceed the limit');
    assert.is((single as GrpcStatusError).code, 8, 'RESOURCE_EXHAUSTED');

    for (const path of [undefined, 'pages'] as const) {
      const r = ok(await withPath(path, () => limited.ls(prefix)), `ls via ${path ?? 'default'}`);
      assert.is(r.values().length, BIG_KEYS);
      for (const i of [0, 1, 777, BIG_KEYS - 1]) {
        assert.is(r.value(i).key(), keyOf(prefix, i));
        assert.is(r.value(i).as_string(), valueOf(i));
      }
      const k = ok(await withPath(path, () => limited.keys(prefix)), `keys via ${path ?? 'default'}`);
      assert.equal(k.keys(), r.keys());
      assert.ok(k.values().every((v) => v.as_string() === ''), 'keys() lists no values');
    }
  } finally {
    await limited.close();
  }
});

test('RangeStream and pages give the same C++ results, at one revision, on both transports', async () => {
  const prefix = uniquePrefix('listing-same');
  await fill(prefix, 600);
  const rev = ok(await client.head()).index();
  // Later writes (inside and outside the range) must not show in a listing at `rev`.
  ok(await client.put(keyOf(prefix, 0), 'changed later'));
  ok(await client.put(`${prefix}zzz`, 'added later'));
  for (const transport of ['http2', 'grpc-js'] as const) {
    const c = owned(new Client(cluster.endpoint, { transport }));
    try {
      const calls: [string, (c: Client) => Promise<Response>][] = [
        ['ls at rev', (c) => c.ls(prefix, 0, rev)],
        ['ls with a limit', (c) => c.ls(prefix, 377, rev)],
        ['keys at rev', (c) => c.keys(prefix, 0, rev)],
        ['ls of [key, range_end)', (c) => c.ls(keyOf(prefix, 100), keyOf(prefix, 450), 0, rev)],
        ['ls of nothing', (c) => c.ls(`${prefix}nothing/`)],
      ];
      for (const [what, call] of calls) {
        const auto = cppView(await withPath(undefined, () => call(c)));
        const paged = cppView(await withPath('pages', () => call(c)));
        assert.equal(paged, auto, `${what} on ${transport}: pages and the default path differ`);
        assert.ok(auto.ok, `${what}: ${auto.code}`);
      }
      const atRev = await c.ls(prefix, 0, rev);
      assert.is(atRev.values().length, 600);
      assert.is(atRev.value(0).as_string(), valueOf(0), 'the listing reads at the requested revision');
      assert.is((await c.ls(prefix, 377, rev)).values().length, 377);
      assert.equal((await c.ls(keyOf(prefix, 100), keyOf(prefix, 450), 0, rev)).keys(), atRev.keys().slice(100, 450));
    } finally {
      await c.close();
    }
  }
});

testOnEtcd('>=3.7', test, 'ls, keys and rmdir read through RangeStream', async () => {
  const prefix = uniquePrefix('listing-stream');
  await fill(prefix, 50);
  listingSwitch.last = undefined;
  ok(await client.ls(prefix));
  assert.is(listingSwitch.last, 'stream');
  listingSwitch.last = undefined;
  ok(await client.keys(prefix));
  assert.is(listingSwitch.last, 'stream');
  listingSwitch.last = undefined;
  ok(await client.rmdir(prefix, true));
  assert.is(listingSwitch.last, 'stream');
});

testOnEtcd('<3.7', test, 'without RangeStream, listings page through Range; raw RangeStream names the versions', async () => {
  const prefix = uniquePrefix('listing-pages');
  await fill(prefix, 50);
  listingSwitch.last = undefined;
  const r = ok(await client.ls(prefix));
  assert.is(r.values().length, 50);
  assert.is(listingSwitch.last, 'pages');
  const end = Buffer.from(prefix);
  end[end.length - 1]! += 1;
  const err = await new Promise<unknown>((resolve) => {
    const s = client.raw.kv.rangeStream(RangeRequest.fromPartial({ key: Buffer.from(prefix), rangeEnd: end }));
    s.on('data', () => {});
    s.on('error', resolve);
    s.on('end', () => resolve(undefined));
  });
  assert.instance(err, UnsupportedByServerError);
  assert.is((err as UnsupportedByServerError).code, 12);
  assert.is((err as UnsupportedByServerError).details, `RangeStream needs etcd >= 3.7; the server is ${etcdVersion().join('.')}`);
});

test('rmdir of a range larger than one message: values() is exactly what was there, through both paths', async () => {
  for (const path of [undefined, 'pages'] as const) {
    const prefix = uniquePrefix('listing-rmdir');
    await fill(prefix, BIG_KEYS);
    const before = ok(await client.ls(prefix));
    const r = ok(await withPath(path, () => client.rmdir(prefix, true)), `rmdir via ${path ?? 'default'}`);
    assert.is(r.action(), 'delete');
    assert.equal(cppView(r).values, cppView(before).values);
    assert.is(r.value().key(), keyOf(prefix, 0));
    assert.is(r.prev_value().key(), keyOf(prefix, 0));
    assert.ok(r.index() > before.index(), 'index() is the delete revision');
    assert.is(ok(await client.head()).index(), r.index());
    assert.is(ok(await client.ls(prefix)).values().length, 0);
    failed(await withPath(path, () => client.rmdir(prefix, true)), 100, 'etcd-cpp-apiv3: key not found');
  }
});

test('rmdir: a range changed between its listing and its delete is listed again; keys deleted by others are not reported', async () => {
  const prefix = uniquePrefix('listing-rmdir-race');
  const other = owned(new Client(cluster.endpoint));
  try {
    // A key added after the listing: the guarded delete fails, the range is listed again and the new key reported.
    await fill(prefix, 20);
    const attempts: number[] = [];
    listingSwitch.afterRmdirListing = async (attempt) => {
      attempts.push(attempt);
      if (attempt === 1) ok(await other.put(keyOf(prefix, 20), valueOf(20)));
    };
    let r = ok(await client.rmdir(prefix, true));
    assert.equal(attempts, [1, 2]);
    assert.equal(r.keys(), Array.from({ length: 21 }, (_, i) => keyOf(prefix, i)));
    assert.is(r.value(20).as_string(), valueOf(20));

    // A listed key deleted by someone else before our delete: not in values().
    await fill(prefix, 20);
    listingSwitch.afterRmdirListing = async () => {
      ok(await other.rm(keyOf(prefix, 7)));
    };
    r = ok(await client.rmdir(prefix, true));
    assert.equal(r.keys(), Array.from({ length: 20 }, (_, i) => keyOf(prefix, i)).filter((k) => k !== keyOf(prefix, 7)));
    assert.is(ok(await client.head()).index(), r.index());

    // A range that keeps changing: after three listings, one DeleteRange with prev_kv deletes and reports it all.
    await fill(prefix, 20);
    let n = 100;
    listingSwitch.afterRmdirListing = async () => {
      ok(await other.put(keyOf(prefix, n), valueOf(n)));
      n++;
    };
    r = ok(await client.rmdir(prefix, true));
    assert.is(r.values().length, 23);
    assert.is(r.value(22).key(), keyOf(prefix, 102));
    assert.is(ok(await client.ls(prefix)).values().length, 0);
  } finally {
    await other.close();
  }
});

test('a listing runs under one set_grpc_timeout deadline', async () => {
  const prefix = uniquePrefix('listing-deadline');
  await fill(prefix, 200);
  const c = owned(new Client(cluster.endpoint));
  try {
    c.set_grpc_timeout(1);
    for (const path of [undefined, 'pages'] as const) {
      const r = await withPath(path, () => c.ls(prefix));
      // 1 ms is too short for 800 KiB on any machine; if it ever is not, the listing must be complete.
      if (!r.is_ok()) failed(r, 4, 'gRPC timeout');
      else assert.is(r.values().length, 200);
    }
  } finally {
    await c.close();
  }
});

testOnEtcd('<3.5', test, 'AuthStatus and Downgrade fail with an error naming the server version and the one they need', async () => {
  const version = etcdVersion().join('.');
  const status = await client.raw.auth.authStatus({}).then(() => undefined, (e: unknown) => e);
  assert.instance(status, UnsupportedByServerError);
  const e = status as UnsupportedByServerError;
  assert.is(e.code, 12);
  assert.is(e.details, `AuthStatus needs etcd >= 3.5; the server is ${version}`);
  assert.is(e.rpc, 'AuthStatus');
  assert.is(e.requiredVersion, '3.5');
  assert.is(e.serverVersion, version);
  const downgrade = await client.raw.maintenance
    .downgrade({ action: DowngradeRequest_DowngradeAction.VALIDATE, version: '3.3' })
    .then(() => undefined, (x: unknown) => x);
  assert.instance(downgrade, UnsupportedByServerError);
  assert.is((downgrade as UnsupportedByServerError).details, `Downgrade needs etcd >= 3.5; the server is ${version}`);
});

testOnEtcd('>=3.5', test, 'AuthStatus answers through client.raw', async () => {
  const s = await client.raw.auth.authStatus({});
  assert.is(s.enabled, false);
  assert.is(typeof s.authRevision, 'bigint');
  assert.ok((s.header?.revision ?? 0n) > 0n);
});

testOnEtcd('>=3.6', test, "Status reports 3.6's storageVersion and dbSizeQuota", async () => {
  const s = await client.raw.maintenance.status({});
  assert.match(s.storageVersion, /^3\.\d+\.\d+$/);
  assert.ok(s.dbSizeQuota > 0n, `dbSizeQuota ${s.dbSizeQuota}`);
  assert.is(s.downgradeInfo?.enabled ?? false, false);
});

test.run();
