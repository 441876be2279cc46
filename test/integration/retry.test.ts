// The retry table against a real etcd, through a fault proxy (src/retry.ts): a write is never applied twice
// by a retry — a put or a compare-and-swap txn whose request reached etcd but whose answer was lost resolves
// 14 and etcd shows it applied exactly once — while reads, and writes that surely never left the process
// (refused connection: grpc-js's "No connection established"), are retried and succeed once the link is back.
// A read routed to a silent endpoint is abandoned after its per-attempt deadline and answered by another.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PutRequest, RangeRequest } from '../../generated/etcdserver/etcdserverpb/rpc';
import { Client, GrpcStatusError, Transaction } from '../../src/index';
import { FIRST_ATTEMPT_TIMEOUT_MS } from '../../src/retry';
import { pickFreePorts, startEtcd, type EtcdCluster } from '../helpers/etcd';
import { startProxy, type Proxy } from '../../src/testing';
import { eventually, kvIs, ok, uniquePrefix } from './util';
import { within } from '../helpers/wait';
import { closeOwned, owned } from '../helpers/cleanup';
import { rejection } from '../helpers/throws';

interface Ctx {
  cluster: EtcdCluster;
  /** Straight to etcd: the referee. */
  direct: Client;
  proxies: Proxy[];
  clients: Client[];
}

const test = suite<Ctx>('retry table (etcd behind a fault proxy)');

test.before(async (ctx) => {
  ctx.cluster = await startEtcd({ name: 'it-retry', dataDirOnTmpfs: true });
  ctx.direct = new Client(ctx.cluster.endpoint);
  ctx.proxies = [];
  ctx.clients = [];
});

test.after.each(closeOwned);
test.after(async (ctx) => {
  await Promise.all((ctx.clients ?? []).map((c) => c.close()));
  await Promise.all((ctx.proxies ?? []).map((p) => p.close()));
  await ctx.direct?.close();
  await ctx.cluster?.stop();
});

/** A proxy to the etcd and a client through it, connected; both closed in `after`. */
async function viaProxy(ctx: Ctx): Promise<{ proxy: Proxy; client: Client }> {
  const proxy = await startProxy(ctx.cluster.endpoints[0]!);
  const client = new Client(proxy.url);
  ctx.proxies.push(proxy);
  ctx.clients.push(client);
  ok(await client.head(), 'connected through the proxy');
  return { proxy, client };
}

/**
 * Sends `call` with server→client bytes black-holed, waits until etcd has applied it (seen by `applied`), then
 * cuts the connection and at once restores the link: a wrongful retry would go through and apply it again.
 */
async function answerLost<T>(proxy: Proxy, call: () => Promise<T>, applied: () => Promise<boolean>): Promise<T> {
  proxy.blackholeReplies();
  const up = proxy.bytesUp;
  const pending = call();
  try {
    await proxy.waitForBytes({ up: up + 1 }); // the request is on its way to etcd
    await eventually(applied, 5_000, 'etcd to apply the request');
  } finally {
    proxy.cut();
    proxy.blackholeReplies(false);
    proxy.restore();
  }
  return within(pending, 20_000, 'the call whose answer was lost');
}

test('a put whose answer is lost resolves 14 and is applied exactly once', async (ctx) => {
  const { proxy, client } = await viaProxy(ctx);
  const key = `${uniquePrefix('retry-put')}k`;
  const r = await answerLost(
    proxy,
    () => client.put(key, 'first'),
    async () => (await ctx.direct.get(key)).is_ok(),
  );
  assert.is(r.error_code(), 14, `${r.error_code()} ${r.error_message()}`);
  assert.ok(r.is_network_unavailable());
  assert.is(r.action(), 'set');
  // etcd: written once (version 1) …
  kvIs(ok(await ctx.direct.get(key)).value(), key, 'first', 1);
  // … and an identical put, once the link is back, finds the first one as its previous value
  const again = ok(await eventually(async () => {
    const x = await client.put(key, 'first');
    return x.is_ok() ? x : undefined;
  }, 10_000, 'a put after the link is back'));
  kvIs(again.prev_value(), key, 'first', 1);
  kvIs(ok(await ctx.direct.get(key)).value(), key, 'first', 2);
});

test('a compare-and-swap txn incrementing a counter, answer lost: 14, counter incremented exactly once', async (ctx) => {
  const { proxy, client } = await viaProxy(ctx);
  const key = `${uniquePrefix('retry-txn')}counter`;
  ok(await ctx.direct.put(key, '0'));
  const increment = (from: number) => {
    const t = new Transaction();
    t.add_compare_value(key, String(from));
    t.add_success_put(key, String(from + 1));
    t.add_failure_range(key);
    return t;
  };
  const r = await answerLost(
    proxy,
    () => client.txn(increment(0)),
    async () => (await ctx.direct.get(key)).value().as_string() === '1',
  );
  // a retry would have failed its compare (101) instead: the client must report the lost answer, not retry
  assert.is(r.error_code(), 14, `${r.error_code()} ${r.error_message()}`);
  assert.is(r.action(), 'txn');
  kvIs(ok(await ctx.direct.get(key)).value(), key, '1', 2);
  // the counter works on: the next increment through the same client applies once
  const next = await eventually(async () => {
    const x = await client.txn(increment(1));
    return x.is_ok() ? x : undefined;
  }, 10_000, 'the next increment');
  assert.ok(next.is_ok());
  kvIs(ok(await ctx.direct.get(key)).value(), key, '2', 3);
});

test('a delete whose answer is lost resolves 14; the key is gone and nothing else was deleted', async (ctx) => {
  const { proxy, client } = await viaProxy(ctx);
  const p = uniquePrefix('retry-del');
  ok(await ctx.direct.put(`${p}a`, '1'));
  ok(await ctx.direct.put(`${p}b`, '2'));
  const r = await answerLost(
    proxy,
    () => client.rm(`${p}a`),
    async () => !(await ctx.direct.get(`${p}a`)).is_ok(),
  );
  assert.is(r.error_code(), 14, `${r.error_code()} ${r.error_message()}`);
  assert.equal(ok(await ctx.direct.keys(p)).keys(), [`${p}b`]);
});

test('a get while the link is cut and restored ~300 ms later succeeds (reads are retried)', async (ctx) => {
  const { proxy, client } = await viaProxy(ctx);
  const key = `${uniquePrefix('retry-get')}k`;
  ok(await ctx.direct.put(key, 'v'));
  proxy.cut();
  const t0 = Date.now();
  const pending = client.get(key);
  setTimeout(() => proxy.restore(), 300); // the outage
  const r = await within(pending, 10_000, 'get across the outage');
  kvIs(ok(r, 'get across a 300 ms outage').value(), key, 'v', 1);
  assert.ok(Date.now() - t0 >= 250, 'it really waited for the outage');
  assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
});

test('a put issued while the only endpoint refuses connections is retried (never sent) and applied once', async (ctx) => {
  const { proxy, client } = await viaProxy(ctx);
  const key = `${uniquePrefix('retry-unsent')}k`;
  proxy.cut();
  // wait until the channel itself knows: a raw call (never retried) fails as surely not sent
  const refused = await eventually(async () => {
    try {
      await client.raw.kv.range(RangeRequest.fromPartial({ key: Buffer.from(key) }));
      return undefined;
    } catch (e) {
      return e instanceof GrpcStatusError && e.sent === false ? e : undefined;
    }
  }, 5_000, 'the channel to see the refused connection');
  assert.is(refused.code, 14);
  const pending = client.put(key, 'once');
  setTimeout(() => proxy.restore(), 300); // the outage
  const r = await within(pending, 10_000, 'put across the outage');
  ok(r, 'a never-sent put retried after the outage');
  kvIs(ok(await ctx.direct.get(key)).value(), key, 'once', 1);
});

test('only endpoint refusing connections: a put fails with 14 quickly; with a live second endpoint puts succeed', async (ctx) => {
  const [port] = await pickFreePorts(1);
  const dead = new Client(`http://127.0.0.1:${port}`);
  ctx.clients.push(dead);
  const t0 = Date.now();
  const r = await within(dead.put('/it/retry/dead', 'v'), 10_000, 'put to a refusing endpoint');
  assert.is(r.error_code(), 14, `${r.error_code()} ${r.error_message()}`);
  assert.ok(Date.now() - t0 < 5_000, `took ${Date.now() - t0} ms`);
  // the same request on the raw surface: grpc-js found no connection, so it surely was not sent
  const raw = await rejection(dead.raw.kv.put(PutRequest.fromPartial({ key: Buffer.from('/it/retry/dead'), value: Buffer.from('v') })), GrpcStatusError, 'a raw put to a dead endpoint');
  assert.is((raw as GrpcStatusError).sent, false, String(raw));

  const key = `${uniquePrefix('retry-mixed')}k`;
  for (const url of [`http://127.0.0.1:${port},${ctx.cluster.endpoint}`, `${ctx.cluster.endpoint},http://127.0.0.1:${port}`]) {
    const mixed = owned(new Client(url));
    ctx.clients.push(mixed);
    for (let i = 0; i < 10; i++) ok(await within(mixed.put(key, `${url}#${i}`), 5_000, `put #${i} via ${url}`), `put #${i} via ${url}`);
  }
  assert.is(ok(await ctx.direct.get(key)).value().version(), 20, 'every put applied once');
});

test('a read routed to a silent endpoint is retried on another after its per-attempt deadline; a write is not', async (ctx) => {
  // two endpoints, the same etcd behind each; one proxy holds every byte (sockets stay open, nothing moves)
  const silent = await startProxy(ctx.cluster.endpoints[0]!);
  const live = await startProxy(ctx.cluster.endpoints[0]!);
  ctx.proxies.push(silent, live);
  const client = new Client(`${silent.url},${live.url}`);
  ctx.clients.push(client);
  const key = `${uniquePrefix('retry-silent')}k`;
  ok(await ctx.direct.put(key, 'v'));
  await eventually(async () => {
    for (let i = 0; i < 4; i++) ok(await client.get(key));
    return silent.totalConnections > 0 && live.totalConnections > 0;
  }, 5_000, 'connections through both proxies');
  silent.pause();
  try {
    // round robin alternates: of four gets, two land on the silent endpoint first
    const took: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = Date.now();
      kvIs(ok(await within(client.get(key), 10_000, `get #${i}`), `get #${i}`).value(), key, 'v', 1);
      took.push(Date.now() - t0);
    }
    const retried = took.filter((ms) => ms >= FIRST_ATTEMPT_TIMEOUT_MS - 100);
    assert.ok(retried.length >= 1, `some get waited out the per-attempt deadline and was retried (${took} ms)`);
    for (const ms of took) assert.ok(ms < FIRST_ATTEMPT_TIMEOUT_MS + 3_000, `a get took ${ms} ms (${took}): one per-attempt deadline and one retry, with a loaded machine's slack`);
    // a put that lands on the silent endpoint is not abandoned and resent: it waits for the transport to give
    // up on the connection (HTTP/2 keepalive) and reports 14 — outcome unknown: the bytes the link held may
    // still reach etcd when it resumes
    const puts = await Promise.all([0, 1].map((i) => within(client.put(`${key}-put${i}`, 'x'), 15_000, `put #${i}`)));
    const failedPuts = puts.filter((p) => !p.is_ok());
    assert.is(failedPuts.length, 1, `one of two puts landed on the silent endpoint: ${puts.map((p) => p.error_code())}`);
    assert.is(failedPuts[0]!.error_code(), 14, failedPuts[0]!.error_message());
  } finally {
    silent.cut(); // drop the held put: resuming would deliver it to etcd after the test
    silent.resume();
  }
  // the put that answered is there; neither was applied twice (a resend would make version 2)
  const written = ok(await ctx.direct.ls(`${key}-put`)).values();
  assert.ok(written.length >= 1, 'the put that answered was applied');
  for (const v of written) assert.is(v.version(), 1, `${v.key()} applied once`);
});

test.run();
