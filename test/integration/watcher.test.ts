// Watcher and the one-shot client.watch against a real etcd:
// every constructor form, the C++ action rules, Wait/Cancel/Cancelled, argument checks, the one-shot
// overloads, 1000 watchers on one stream, and a catch-up that etcd sends fragmented. Faults (cuts, restarts,
// compaction of the resume revision) are in watch-faults.test.ts.

import * as path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CompactionRequest, WatchRequest, type WatchResponse } from '../../generated/etcdserver/etcdserverpb/rpc';
import { ClientClosedError, Client, EventType, Transaction, Watcher, type Response } from '../../src/index';
import { watchEngine } from '../../src/watch';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { eventually, ok, uniquePrefix } from './util';
import { rejectsWith, throwsKind } from '../helpers/throws';
import { recorder } from '../helpers/watch';
import { closeOwned, owned } from '../helpers/cleanup';
import { runChild } from '../helpers/child';

/** A wait callback that records its calls. */
function waitRecorder() {
  const calls: boolean[] = [];
  return { calls, cb: (cancelled: boolean) => calls.push(cancelled) };
}

// ---------------------------------------------------------------------------------------------------------

const test = suite<{ cluster: EtcdCluster; client: Client }>('Watcher');

test.before(async (ctx) => {
  ctx.cluster = await startEtcd({ name: 'it-watcher', dataDirOnTmpfs: true });
  ctx.client = new Client(ctx.cluster.endpoint);
});

test.after.each(closeOwned);

test.after(async (ctx) => {
  await ctx.client?.close();
  await ctx.cluster?.stop();
});

// ---- constructor forms ----------------------------------------------------------------------------------

test('(client, key, cb): one key; a non-recursive watch of "/dir" does not fire for "/dir/newkey"', async ({ client }) => {
  const p = uniquePrefix('w-key');
  const rec = recorder();
  const w = owned(new Watcher(client, `${p}dir`, rec.cb));
  await w.ready();
  ok(await client.put(`${p}dir/newkey`, 'child'));
  ok(await client.put(`${p}dirx`, 'sibling'));
  ok(await client.put(`${p}dir`, 'self'));
  await eventually(() => rec.events.length >= 1, 5_000, 'the event for the key itself');
  // events arrive in revision order, so had the child or the sibling fired, they would be first
  assert.equal(rec.keys(), [`${p}dir`]);
  assert.is(rec.events[0]!.value, 'self');
  assert.is(await w.Cancel(), true);
});

test('(client, key, cb, true): every key with the prefix, nothing outside it', async ({ client }) => {
  const p = uniquePrefix('w-rec');
  const rec = recorder();
  const w = owned(new Watcher(client, `${p}d/`, rec.cb, true));
  await w.ready();
  ok(await client.put(`${p}d`, 'not under d/'));
  ok(await client.put(`${p}d/a`, '1'));
  ok(await client.put(`${p}e/x`, 'outside'));
  ok(await client.put(`${p}d/b/c`, '2'));
  await eventually(() => rec.events.length >= 2, 5_000, 'prefix events');
  ok(await client.put(`${p}d/z`, 'last'));
  await eventually(() => rec.events.length >= 3, 5_000, 'the last event');
  assert.equal(rec.keys(), [`${p}d/a`, `${p}d/b/c`, `${p}d/z`]);
  assert.is(await w.Cancel(), true);
});

test('(client, key, cb, wait_cb) and (client, key, cb, wait_cb, true)', async ({ client }) => {
  const p = uniquePrefix('w-wcb');
  const r1 = recorder();
  const w1 = waitRecorder();
  const one = owned(new Watcher(client, `${p}k`, r1.cb, w1.cb));
  const r2 = recorder();
  const w2 = waitRecorder();
  const rec = owned(new Watcher(client, p, r2.cb, w2.cb, true));
  await Promise.all([one.ready(), rec.ready()]);
  ok(await client.put(`${p}k/child`, 'c'));
  ok(await client.put(`${p}k`, 'v'));
  await eventually(() => r1.events.length >= 1 && r2.events.length >= 2, 5_000, 'events');
  assert.equal(r1.keys(), [`${p}k`]);
  assert.equal(r2.keys(), [`${p}k/child`, `${p}k`]);
  assert.ok(!one.Wait(() => {}), 'a wait callback is already set');
  assert.is(await one.Cancel(), true);
  assert.is(await rec.Cancel(), true);
  await eventually(() => w1.calls.length === 1 && w2.calls.length === 1, 2_000, 'wait callbacks');
  assert.equal(w1.calls, [true]);
  assert.equal(w2.calls, [true]);
});

test('(client, key, range_end, cb) watches [key, range_end); (…, cb, wait_cb) too', async ({ client }) => {
  const p = uniquePrefix('w-range');
  const rec = recorder();
  const w = owned(new Watcher(client, `${p}b`, `${p}d`, rec.cb));
  const rec2 = recorder();
  const wcb = waitRecorder();
  const w2 = owned(new Watcher(client, `${p}c`, `${p}e`, rec2.cb, wcb.cb));
  await Promise.all([w.ready(), w2.ready()]);
  for (const k of ['a', 'b', 'bz', 'c', 'd', 'e']) ok(await client.put(`${p}${k}`, k));
  ok(await client.put(`${p}c2`, 'sentinel'));
  await eventually(() => rec.events.some((e) => e.value === 'sentinel') && rec2.events.some((e) => e.value === 'sentinel'), 5_000, 'sentinels');
  assert.equal(rec.keys(), ['b', 'bz', 'c', 'c2'].map((k) => p + k), 'range_end is exclusive, key inclusive');
  assert.equal(rec2.keys(), ['c', 'd', 'c2'].map((k) => p + k));
  await w.Cancel();
  await w2.Cancel();
  await eventually(() => wcb.calls.length === 1, 2_000, 'wait callback');
  assert.equal(wcb.calls, [true]);
});

test('(client, key, fromIndex, cb) replays history from that revision; (…, true) and (…, wait_cb, true) too', async ({ client }) => {
  const p = uniquePrefix('w-from');
  const r1 = ok(await client.put(`${p}k`, 'v1')).index();
  ok(await client.put(`${p}other`, 'x'));
  const r3 = ok(await client.put(`${p}k`, 'v2')).index();
  ok(await client.rm(`${p}k`));

  const a = recorder();
  const wa = owned(new Watcher(client, `${p}k`, r1, a.cb));
  const b = recorder();
  const wb = owned(new Watcher(client, p, r3, b.cb, true));
  const c = recorder();
  const wcb = waitRecorder();
  const wc = owned(new Watcher(client, p, r1, c.cb, wcb.cb, true));
  await eventually(() => a.events.length >= 3 && b.events.length >= 2 && c.events.length >= 4, 5_000, 'history');
  assert.equal(a.events.map((e) => [e.type, e.value]), [[EventType.PUT, 'v1'], [EventType.PUT, 'v2'], [EventType.DELETE_, '']]);
  assert.is(a.all.length, 1, 'the catch-up comes as one response');
  assert.is(a.all[0]!.action(), 'create');
  assert.equal(b.keys(), [`${p}k`, `${p}k`]);
  assert.equal(b.events[0]!.rev, r3);
  assert.equal(c.keys(), [`${p}k`, `${p}other`, `${p}k`, `${p}k`]);
  // and they go on live afterwards
  ok(await client.put(`${p}k`, 'v3'));
  await eventually(() => a.events.length === 4 && b.events.length === 3 && c.events.length === 5, 5_000, 'live event');
  await Promise.all([wa.Cancel(), wb.Cancel(), wc.Cancel()]);
  await eventually(() => wcb.calls.length === 1, 2_000, 'wait callback');
  assert.equal(wcb.calls, [true]);
});

test('(client, key, range_end, fromIndex, cb[, wait_cb])', async ({ client }) => {
  const p = uniquePrefix('w-rangefrom');
  const first = ok(await client.put(`${p}a`, 'a')).index();
  ok(await client.put(`${p}b`, 'b'));
  ok(await client.put(`${p}c`, 'c'));
  ok(await client.put(`${p}b`, 'b2'));
  const rec = recorder();
  const w = owned(new Watcher(client, `${p}b`, `${p}c`, first, rec.cb));
  const rec2 = recorder();
  const wcb = waitRecorder();
  const w2 = owned(new Watcher(client, `${p}a`, `${p}c`, first, rec2.cb, wcb.cb));
  await eventually(() => rec.events.length >= 2 && rec2.events.length >= 3, 5_000, 'history');
  assert.equal(rec.events.map((e) => e.value), ['b', 'b2']);
  assert.equal(rec2.events.map((e) => e.value), ['a', 'b', 'b2']);
  await w.Cancel();
  await w2.Cancel();
  await eventually(() => wcb.calls.length === 1, 2_000, 'wait callback');
});

test('URL form: new Watcher(endpoint, key, cb) owns its client and delivers events', async ({ cluster, client }) => {
  const p = uniquePrefix('w-url');
  const rec = recorder();
  const w = owned(new Watcher(cluster.endpoint, p, rec.cb, true));
  await w.ready();
  ok(await client.put(`${p}k`, 'v'));
  await eventually(() => rec.events.length === 1, 5_000, 'event');
  assert.is(await w.Cancel(), true);
  assert.ok(w.Cancelled());
  // its own client (an internal) is closed with it
  const own = (w as unknown as { client: Client }).client;
  assert.ok(own instanceof Client && own !== client);
  await eventually(() => own.conn.closed, 2_000, 'the watcher’s own client to close');
  await rejectsWith(own.head(), ClientClosedError, 'head() on the watcher’s closed client');
  // the user's client is untouched
  ok(await client.head());
});

test('URL form: after Cancel() the process exits (the watcher closed its own client)', async ({ cluster }) => {
  const src = path.resolve(__dirname, '../../src/index');
  const code = `
    const { Watcher } = require(${JSON.stringify(src)});
    (async () => {
      const w = new Watcher(${JSON.stringify(cluster.endpoint)}, '/it/url-exit', () => {}, true);
      process.stdout.write('ready ' + String((await w.ready()) > 0) + '\\n');
      process.stdout.write('cancel ' + String(await w.Cancel()) + '\\n');
    })();`;
  const { code: exitCode, hung, out, err } = await runChild({ code, timeoutMs: 15_000 });
  assert.is(hung, false, `the child did not exit within 15 s (stdout: ${JSON.stringify(out)})`);
  assert.is(exitCode, 0, `stderr: ${err}`);
  assert.is(out, 'ready true\ncancel true\n');
});

// ---- responses ------------------------------------------------------------------------------------------

test('action rules: create / set / delete, value() and prev_value(), index(), watch_id(), ttl() -1', async ({ client }) => {
  const p = uniquePrefix('w-actions');
  const rec = recorder();
  const w = owned(new Watcher(client, p, rec.cb, true));
  await w.ready();
  const c = ok(await client.put(`${p}k`, 'v1')).index();
  const s = ok(await client.put(`${p}k`, 'v2')).index();
  const d = ok(await client.rm(`${p}k`)).index();
  await eventually(() => rec.all.length === 3, 5_000, 'three responses');
  const [rc, rs, rd] = rec.all as [Response, Response, Response];

  assert.is(rc.action(), 'create');
  assert.ok(rc.is_ok());
  assert.is(rc.index(), c);
  assert.is(rc.value().key(), `${p}k`);
  assert.is(rc.value().as_string(), 'v1');
  assert.is(rc.value().version(), 1);
  assert.is(rc.value().created_index(), c);
  assert.is(rc.value().modified_index(), c);
  assert.is(rc.value().ttl(), -1);
  assert.is(rc.prev_value().key(), '', 'no previous value for a new key');
  assert.is(rc.events().length, 1);
  assert.ok(rc.events()[0]!.has_kv());
  assert.not.ok(rc.events()[0]!.has_prev_kv());
  assert.ok(rc.watch_id() >= 0);

  assert.is(rs.action(), 'set');
  assert.is(rs.index(), s);
  assert.is(rs.value().as_string(), 'v2');
  assert.is(rs.value().version(), 2);
  assert.is(rs.prev_value().as_string(), 'v1', 'every watch asks for prev_kv');
  assert.is(rs.prev_value().modified_index(), c);
  assert.is(rs.prev_value().ttl(), -1);
  assert.ok(rs.events()[0]!.has_prev_kv());

  assert.is(rd.action(), 'delete');
  assert.is(rd.index(), d);
  assert.is(rd.value().key(), `${p}k`, 'a delete has the key');
  assert.is(rd.value().as_string(), '', '… with an empty value');
  assert.is(rd.value().modified_index(), d);
  assert.is(rd.prev_value().as_string(), 'v2');
  assert.is(rd.events()[0]!.event_type(), EventType.DELETE_);
  assert.is(rd.watch_id(), rc.watch_id(), 'same watcher, same id');
  await w.Cancel();
});

test('a txn writing 3 keys under the prefix is ONE callback with 3 events', async ({ client }) => {
  const p = uniquePrefix('w-txn');
  const rec = recorder();
  const w = owned(new Watcher(client, p, rec.cb, true));
  await w.ready();
  ok(await client.put(`${p}b`, 'old'));
  const t = new Transaction();
  t.add_success_put(`${p}a`, '1');
  t.add_success_put(`${p}b`, '2');
  t.add_success_put(`${p}c`, '3');
  const rev = ok(await client.txn(t)).index();
  await eventually(() => rec.all.length === 2, 5_000, 'two responses');
  const r = rec.all[1]!;
  assert.is(r.events().length, 3);
  assert.equal(r.events().map((e) => e.kv().key()), [`${p}a`, `${p}b`, `${p}c`]);
  assert.ok(r.events().every((e) => e.kv().modified_index() === rev));
  assert.is(r.index(), rev);
  assert.is(r.action(), 'create', 'from the first event');
  assert.is(r.value().key(), `${p}a`);
  assert.is(r.events()[1]!.prev_kv().as_string(), 'old');
  await w.Cancel();
});

test('ready() resolves with the revision; every event written after it is delivered', async ({ client }) => {
  const p = uniquePrefix('w-ready');
  const before = ok(await client.head()).index();
  const rec = recorder();
  const w = owned(new Watcher(client, p, rec.cb, true));
  const rev = await w.ready();
  assert.ok(rev >= before, `ready revision ${rev} >= ${before}`);
  assert.is(w.nextRevision(), rev + 1);
  const writes = await Promise.all(Array.from({ length: 50 }, (_, i) => client.put(`${p}${i}`, `${i}`)));
  const revs = writes.map((r) => ok(r).index()).sort((a, b) => a - b);
  await eventually(() => rec.events.length === 50, 5_000, '50 events');
  assert.equal(rec.events.map((e) => e.rev), revs);
  await w.Cancel();
});

// ---- lifetime -------------------------------------------------------------------------------------------

test('Wait(), Wait(cb), Cancel() idempotent and concurrent, Cancelled()', async ({ client }) => {
  const p = uniquePrefix('w-life');
  const w = owned(new Watcher(client, p, () => {}, true));
  await w.ready();
  let resolved: boolean | undefined;
  void w.Wait().then((v) => (resolved = v));
  const wcb = waitRecorder();
  assert.is(w.Wait(wcb.cb), true, 'first wait callback is set');
  assert.is(w.Wait(() => {}), false, 'a second one is refused');
  assert.is(w.Cancelled(), false);
  assert.is(resolved, undefined);
  const results = await Promise.all([w.Cancel(), w.Cancel(), w.Cancel(), w.Cancel(), w.Cancel()]);
  assert.equal(results, [true, true, true, true, true]);
  assert.is(w.Cancelled(), true);
  assert.is(await w.Wait(), true);
  assert.is(await w.Cancel(), true, 'again after the end');
  await eventually(() => wcb.calls.length === 1, 2_000, 'wait callback');
  assert.equal(wcb.calls, [true]);
  assert.is(resolved, true);
  // still exactly once
  await new Promise((r) => setImmediate(r));
  assert.equal(wcb.calls, [true]);
});

test('client.close() ends watchers (Wait() true); a new Watcher on a closed client throws ClientClosedError', async ({ cluster }) => {
  const own = owned(new Client(cluster.endpoint));
  const wcb = waitRecorder();
  const a = owned(new Watcher(own, '/it/close/a', () => {}, wcb.cb));
  const b = owned(new Watcher(own, '/it/close/b', () => {}, true));
  await Promise.all([a.ready(), b.ready()]);
  const c = owned(new Watcher(own, '/it/close/c', 1, () => {})); // possibly still being created
  await own.close();
  assert.equal(await Promise.all([a.Wait(), b.Wait(), c.Wait()]), [true, true, true]);
  assert.ok(a.Cancelled() && b.Cancelled() && c.Cancelled());
  await eventually(() => wcb.calls.length === 1, 2_000, 'wait callback');
  assert.equal(wcb.calls, [true]);
  assert.is(await a.Cancel(), true);
  throwsKind(() => new Watcher(own, '/it/close/d', () => {}), ClientClosedError);
});

test('bad arguments: TypeError / RangeError, synchronously', async ({ client }) => {
  throwsKind(() => new Watcher(client, 'k', 'not a function' as never), TypeError);
  throwsKind(() => new Watcher(client, 'k', undefined as never), TypeError, /callback/);
  throwsKind(() => new Watcher(client, 'k', 5, {} as never), TypeError, /callback/);
  throwsKind(() => new Watcher(client, 'k', -1, () => {}), RangeError, /fromIndex/);
  throwsKind(() => new Watcher(client, 'k', NaN, () => {}), RangeError, /fromIndex/);
  throwsKind(() => new Watcher(client, 'k', 1.5, () => {}), RangeError, /fromIndex/);
  throwsKind(() => new Watcher(client, 'k', 'a', -3, () => {}), RangeError, /fromIndex/);
  throwsKind(() => new Watcher({} as never, 'k', () => {}), TypeError, /client/);
  throwsKind(() => new Watcher(null as never, 'k', () => {}), TypeError, /client/);
  throwsKind(() => new Watcher(client, 42 as never, () => {}), TypeError, /key/);
  throwsKind(() => new (Watcher as new (...a: unknown[]) => Watcher)(client, 'k', () => {}, () => {}, true, 'extra'), TypeError, /unexpected argument/);
  throwsKind(() => client.watch('k', -1), RangeError);
  throwsKind(() => client.watch('k', 'z', NaN), RangeError);
  // nothing was registered by the failed constructors
  ok(await client.head());
});

// ---- one-shot client.watch ------------------------------------------------------------------------------

/** Waits until every watch queued so far on `client` is acknowledged: creates go in order on one stream. */
async function acknowledged(client: Client): Promise<void> {
  const marker = owned(new Watcher(client, '/it/marker', () => {}));
  await marker.ready();
  await marker.Cancel();
}

test('watch(key) resolves on the next put; watch(key, true) on a prefix', async ({ client }) => {
  const p = uniquePrefix('w-once');
  const one = client.watch(`${p}k`);
  const pre = client.watch(p, true);
  await acknowledged(client);
  ok(await client.put(`${p}k/child`, 'c'));
  const rev = ok(await client.put(`${p}k`, 'v')).index();
  const r = await one;
  ok(r, 'watch(key)');
  assert.is(r.action(), 'create');
  assert.is(r.value().key(), `${p}k`);
  assert.is(r.value().as_string(), 'v');
  assert.is(r.index(), rev);
  assert.is(r.events().length, 1);
  const rp = await pre;
  ok(rp, 'watch(key, true)');
  assert.is(rp.value().key(), `${p}k/child`);
  assert.is(rp.events().length, 1, 'resolves on the first response only');
});

test('watch(key, fromIndex) resolves at once with all events of the first (historical) response', async ({ client }) => {
  const p = uniquePrefix('w-once-from');
  const r1 = ok(await client.put(`${p}k`, 'v1')).index();
  ok(await client.put(`${p}k`, 'v2'));
  ok(await client.rm(`${p}k`));
  ok(await client.put(`${p}k`, 'v3'));
  const r = ok(await client.watch(`${p}k`, r1));
  assert.is(r.action(), 'create');
  assert.is(r.value().as_string(), 'v1');
  assert.equal(r.events().map((e) => e.kv().as_string()), ['v1', 'v2', '', 'v3']);
  assert.equal(r.events().map((e) => e.event_type()), [EventType.PUT, EventType.PUT, EventType.DELETE_, EventType.PUT]);

  const rp = ok(await client.watch(p, r1 + 1, true));
  assert.is(rp.action(), 'set');
  assert.is(rp.prev_value().as_string(), 'v1');
  assert.is(rp.events().length, 3);
});

test('watch(key, range_end) and watch(key, range_end, fromIndex)', async ({ client }) => {
  const p = uniquePrefix('w-once-range');
  const first = ok(await client.put(`${p}a`, 'a')).index();
  ok(await client.put(`${p}b`, 'b'));
  ok(await client.put(`${p}c`, 'c'));
  const hist = ok(await client.watch(`${p}b`, `${p}d`, first));
  assert.equal(hist.events().map((e) => e.kv().key()), [`${p}b`, `${p}c`]);

  const live = client.watch(`${p}b`, `${p}c`);
  await acknowledged(client);
  ok(await client.put(`${p}c`, 'outside'));
  ok(await client.put(`${p}a`, 'outside'));
  ok(await client.put(`${p}bb`, 'inside'));
  const r = ok(await live);
  assert.is(r.value().key(), `${p}bb`);
  assert.is(r.events().length, 1);
});

test('watch with a compacted fromIndex resolves with code 11 and compact_revision()', async ({ client }) => {
  const p = uniquePrefix('w-once-compact');
  const r1 = ok(await client.put(`${p}k`, '1')).index();
  const r2 = ok(await client.put(`${p}k`, '2')).index();
  ok(await client.put(`${p}k`, '3'));
  await client.raw.kv.compact(CompactionRequest.fromPartial({ revision: r2, physical: true }));
  const r = await client.watch(`${p}k`, r1);
  assert.not.ok(r.is_ok());
  assert.is(r.error_code(), 11);
  assert.is(r.error_message(), 'required revision has been compacted');
  assert.is(r.compact_revision(), r2);
  // a Watcher from the same revision ends the same way
  const rec = recorder();
  const w = owned(new Watcher(client, `${p}k`, r1, rec.cb));
  assert.is(await w.Wait(), false);
  assert.is(rec.all.length, 1);
  assert.is(rec.all[0]!.error_code(), 11);
  assert.is(rec.all[0]!.compact_revision(), r2);
  // and the stream is fine for others
  ok(await client.watch(`${p}k`, r2));
});

test('a pending one-shot watch rejects with ClientClosedError when the client closes', async ({ cluster }) => {
  const own = owned(new Client(cluster.endpoint));
  const pending = own.watch('/it/never/written');
  const queuedBehind = own.watch('/it/never/written2', true);
  await acknowledged(own).catch(() => {});
  await own.close();
  await rejectsWith(pending, ClientClosedError, 'pending watch');
  await rejectsWith(queuedBehind, ClientClosedError, 'second pending watch');
  await rejectsWith(own.watch('k'), ClientClosedError, 'watch after close');
});

// ---- scale ------------------------------------------------------------------------------------------------

test('1000 watchers on one client share one stream and each gets its own event', async ({ cluster }) => {
  const own = owned(new Client(cluster.endpoint));
  try {
    const p = uniquePrefix('w-1000');
    const N = 1000;
    const got: Response[][] = Array.from({ length: N }, () => []);
    const watchers = Array.from({ length: N }, (_, i) => new Watcher(own, `${p}${i}`, (r) => got[i]!.push(r)));
    await Promise.all(watchers.map((w) => w.ready()));
    for (let i = 0; i < N; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => own.put(`${p}${i + j}`, `v${i + j}`).then((r) => ok(r))));
    }
    await eventually(() => got.every((g) => g.length >= 1), 20_000, 'every watcher’s event');
    for (let i = 0; i < N; i++) {
      assert.is(got[i]!.length, 1, `watcher ${i}`);
      assert.is(got[i]![0]!.value().key(), `${p}${i}`);
      assert.is(got[i]![0]!.value().as_string(), `v${i}`);
    }
    assert.is(watchEngine(own.conn).streamsOpened, 1, 'one Watch stream for all of them');
    const ids = new Set(got.map((g) => g[0]!.watch_id()));
    assert.is(ids.size, N, 'distinct server watch ids');
    assert.ok((await Promise.all(watchers.map((w) => w.Cancel()))).every((x) => x === true));
  } finally {
    await own.close();
  }
});

test.run();

// ---- fragments ------------------------------------------------------------------------------------------

const frag = suite<{ cluster: EtcdCluster; client: Client }>('Watcher: fragmented catch-up (--max-request-bytes=4096)');

frag.before(async (ctx) => {
  ctx.cluster = await startEtcd({ name: 'it-watcher-frag', dataDirOnTmpfs: true, extraArgs: ['--max-request-bytes=4096'] });
  ctx.client = new Client(ctx.cluster.endpoint);
});

frag.after(async (ctx) => {
  await ctx.client?.close();
  await ctx.cluster?.stop();
});

// etcd 3.4 splits a watch response only above max-request-bytes + 512 KiB of gRPC overhead (v3rpc
// newWatchServer), so 200 values of 100 bytes (~30 KB) would come whole: the values here are 3000 bytes
// (each put stays under the 4096-byte request limit; the catch-up is ~620 KB).
frag('200 events from an old revision that etcd sends fragmented arrive once each, in order, in one callback', async ({ client }) => {
  const p = uniquePrefix('w-frag');
  const N = 200;
  const value = (i: number) => `${String(i).padStart(4, '0')}-`.padEnd(3000, 'x');
  const revs: number[] = [];
  for (let i = 0; i < N; i++) revs.push(ok(await client.put(`${p}${String(i).padStart(4, '0')}`, value(i)), `put ${i}`).index());

  // etcd really fragments this catch-up: a raw stream asking for fragments sees fragment=true parts
  const raw = client.raw.watch.watch();
  const parts: WatchResponse[] = [];
  raw.on('data', (m: WatchResponse) => parts.push(m));
  raw.on('error', () => {});
  raw.write(
    WatchRequest.fromPartial({
      requestUnion: { $case: 'createRequest', createRequest: { key: Buffer.from(p), rangeEnd: Buffer.from(p.slice(0, -1) + '0'), startRevision: BigInt(revs[0]!), fragment: true } },
    }),
  );
  await eventually(() => parts.reduce((n, m) => n + m.events.length, 0) >= N, 10_000, 'raw catch-up');
  raw.destroy();
  assert.ok(parts.filter((m) => m.fragment).length >= 1, `etcd sent fragments (${parts.length} messages)`);

  const rec = recorder();
  const w = owned(new Watcher(client, p, revs[0]!, rec.cb, true));
  await eventually(() => rec.events.length >= N, 10_000, `${N} events`);
  assert.is(rec.events.length, N);
  assert.equal(rec.events.map((e) => e.rev), revs, 'each event once, in order');
  assert.ok(rec.events.every((e, i) => e.value === value(i)));
  // fragments of one etcd response are one callback
  assert.is(rec.all.length, parts.filter((m) => !m.fragment && m.events.length > 0).length, 'one callback per complete etcd response');
  assert.is(rec.all[0]!.events().length, N, 'the whole catch-up in one callback');
  assert.ok(rec.all.every((r) => r.is_ok()));
  assert.is(await w.Cancel(), true);
});

frag.run();
