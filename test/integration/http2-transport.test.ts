// The node:http2 transport against a real etcd, through the public Client (`transport: 'http2'`):
// reads and writes, a txn, a watch, a multi-MiB range, an etcd restart and a paused member.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, ERROR_GRPC_DEADLINE_EXCEEDED, ERROR_GRPC_UNAVAILABLE, Transaction, Watcher, type Response } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { eventually, kvIs, ok, uniquePrefix } from './util';
import { closeOwned, owned } from '../helpers/cleanup';

let cluster: EtcdCluster;
let client: Client;
const extra: Client[] = [];

const test = suite('http2 transport');

test.before(async () => {
  cluster = await startEtcd({ name: 'it-http2', dataDirOnTmpfs: true });
  client = new Client(cluster.endpoint, { transport: 'http2' });
});

test.after.each(closeOwned);
test.after(async () => {
  cluster?.members[0]?.resume();
  await Promise.all([client, ...extra].map((c) => c?.close()));
  await cluster?.stop();
});

test('put, get, range and delete', async () => {
  const p = uniquePrefix('h2-kv');
  ok(await client.set(p + 'a', '1'));
  ok(await client.put(p + 'b', '2'));
  ok(await client.set(p + 'c', '3'));
  kvIs(ok(await client.get(p + 'a')).value(), p + 'a', '1', 1);
  const ls = ok(await client.ls(p));
  assert.equal(ls.keys(), [p + 'a', p + 'b', p + 'c']);
  ok(await client.rm(p + 'b'));
  assert.equal(ok(await client.ls(p)).keys(), [p + 'a', p + 'c']);
  const missing = await client.get(p + 'b');
  assert.is(missing.error_code(), 100);
  // concurrency on one connection
  const puts = await Promise.all(Array.from({ length: 200 }, (_, i) => client.put(`${p}many/${i}`, `v${i}`)));
  puts.forEach((r) => ok(r));
  assert.is(ok(await client.ls(p + 'many/')).values().length, 200);
});

test('a txn: compares, success ops and the values they return', async () => {
  const p = uniquePrefix('h2-txn');
  ok(await client.set(p + 'cond', 'yes'));
  ok(await client.set(p + 'r/1', 'one'));
  const t = new Transaction();
  t.add_compare_value(p + 'cond', 'yes');
  t.add_success_put(p + 'new', 'fresh');
  t.add_success_range(p + 'r/', '', true);
  t.add_failure_put(p + 'failure-ran', 'x');
  const r = ok(await client.txn(t), 'txn');
  assert.is(r.action(), 'txn');
  assert.equal(r.keys(), [p + 'r/1']);
  kvIs(ok(await client.get(p + 'new')).value(), p + 'new', 'fresh');
  assert.is((await client.get(p + 'failure-ran')).error_code(), 100);
});

test('watch: a Watcher on a prefix receives every event in order', async () => {
  const p = uniquePrefix('h2-watch');
  const seen: string[] = [];
  let probes = 0;
  const w = new Watcher(
    client,
    p,
    (r: Response) => {
      for (const e of r.events()) {
        const key = e.kv().key().slice(p.length);
        if (key === 'probe') probes++;
        else seen.push(`${e.event_type()}:${key}=${e.kv().as_string()}`);
      }
    },
    true,
  );
  try {
    // the watch is in place once a write made after it shows up
    await eventually(async () => (ok(await client.put(p + 'probe', 'x')), probes > 0), 5000, 'the watch to be created');
    for (let i = 0; i < 20; i++) ok(await client.put(`${p}k${i}`, `v${i}`));
    ok(await client.rm(p + 'k0'));
    await eventually(() => seen.length === 21, 5000, '21 events');
    assert.equal(seen.slice(0, 20), Array.from({ length: 20 }, (_, i) => `0:k${i}=v${i}`));
    assert.is(seen[20], '1:k0=');
  } finally {
    await w.Cancel();
  }
});

test('a 3 MiB range (three 1 MiB values) arrives intact', async () => {
  const p = uniquePrefix('h2-big');
  const values = [0x61, 0x62, 0x63].map((c, i) => {
    const b = Buffer.alloc(1024 * 1024, c);
    b.writeUInt32BE(i, 0);
    return b;
  });
  for (let i = 0; i < values.length; i++) ok(await client.set(`${p}${i}`, values[i]!));
  const r = ok(await client.ls(p));
  assert.is(r.values().length, 3);
  r.values().forEach((v, i) => assert.ok(v.as_bytes().equals(values[i]!), `value ${i} intact`));
  // and through a watch catching up from history (one response carrying all three)
  const got: Buffer[] = [];
  const w = new Watcher(client, p, r.values()[0]!.modified_index(), (res: Response) => {
    for (const e of res.events()) got.push(e.kv().as_bytes());
  }, true);
  try {
    await eventually(() => got.length === 3, 10_000, 'three big events');
    got.forEach((b, i) => assert.ok(b.equals(values[i]!), `event ${i} intact`));
  } finally {
    await w.Cancel();
  }
});

test('an etcd restart: calls fail with 14, then work again once it is back', async () => {
  const p = uniquePrefix('h2-restart');
  const c = owned(new Client(cluster.endpoint, { transport: 'http2' }));
  extra.push(c);
  ok(await c.set(p + 'k', 'before'));
  const member = cluster.members[0]!;
  await member.stop();
  const down = await c.get(p + 'k');
  assert.is(down.error_code(), ERROR_GRPC_UNAVAILABLE, `${down.error_code()} ${down.error_message()}`);
  const w = await c.set(p + 'k', 'during');
  assert.is(w.error_code(), ERROR_GRPC_UNAVAILABLE);
  await member.start();
  const r = await eventually(async () => {
    const x = await c.get(p + 'k');
    return x.is_ok() ? x : undefined;
  }, 10_000, 'a get after the restart');
  kvIs(r.value(), p + 'k', 'before');
  ok(await c.set(p + 'k', 'after'));
});

test('a deadline against a paused member → 4 "gRPC timeout"; works again after resume', async () => {
  const p = uniquePrefix('h2-paused');
  const c = owned(new Client(cluster.endpoint, { transport: 'http2' }));
  extra.push(c);
  ok(await c.set(p + 'k', 'v'));
  c.set_grpc_timeout(500);
  const member = cluster.members[0]!;
  member.pause();
  try {
    const t0 = Date.now();
    const [g, s] = await Promise.all([c.get(p + 'k'), c.set(p + 'k', 'w')]);
    const ms = Date.now() - t0;
    for (const r of [g, s]) {
      assert.is(r.error_code(), ERROR_GRPC_DEADLINE_EXCEEDED, `${r.error_code()} ${r.error_message()}`);
      assert.is(r.error_message(), 'gRPC timeout');
    }
    assert.ok(ms >= 450 && ms < 5000, `took ${ms} ms (set_grpc_timeout(500); a timer never fires early)`);
  } finally {
    member.resume();
  }
  const r = await eventually(async () => {
    const x = await c.get(p + 'k');
    return x.is_ok() ? x : undefined;
  }, 10_000, 'a get after resume');
  assert.ok(['v', 'w'].includes(r.value().as_string()));
});

test.run();
