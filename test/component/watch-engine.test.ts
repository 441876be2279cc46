// The watch engine against a scriptable fake etcd (src/testing/fake-etcd.ts): the responses a real etcd
// will not produce on demand — created-and-canceled, a stream ended in the middle of a catch-up, fragments,
// progress notifications at a chosen revision, compaction, a permanent stream error — and what the engine
// must send or deliver in each case.

import * as grpc from '@grpc/grpc-js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, EventType, Watcher, type Response } from '../../src/index';
import { WatchEngine, watchEngine } from '../../src/watch';
import type { Clock } from '../../src/reconnecting-stream';
import { eventually } from '../integration/util';
import { deleteEvent as del, putEvent as put, startFakeEtcd, type FakeEtcd } from '../../src/testing';

const test = suite<{ fake: FakeEtcd; client: Client }>('watch engine (fake etcd)');

test.before.each(async (ctx) => {
  ctx.fake = await startFakeEtcd();
  ctx.client = new Client(ctx.fake.url);
});

test.after.each(async (ctx) => {
  await ctx.client?.close();
  await ctx.fake?.close();
});

/** Callback that records every Response. */
function recorder(): { all: Response[]; events: { key: string; rev: number; value: string }[]; cb: (r: Response) => void } {
  const all: Response[] = [];
  const events: { key: string; rev: number; value: string }[] = [];
  return {
    all,
    events,
    cb: (r) => {
      all.push(r);
      for (const e of r.events()) events.push({ key: e.kv().key(), rev: e.kv().modified_index(), value: e.kv().as_string() });
    },
  };
}

/** Asserts that `p` rejects (and that the error matches `check`, when given). */
async function rejects(p: Promise<unknown>, check?: RegExp | ((e: Error) => boolean), what = 'promise'): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, `${what} should reject`);
  if (check instanceof RegExp) assert.match((err as Error).message, check);
  else if (check) assert.ok(check(err as Error), `${what} rejected with ${String(err)}`);
}

const revs = (events: { rev: number }[]) => events.map((e) => e.rev);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test('the create request: key, range_end, start_revision, prev_kv, progress_notify, fragment; hasleader metadata', async ({ fake, client }) => {
  const rec = recorder();
  const w = new Watcher(client, '/p/', 7, rec.cb, true);
  const call = await fake.call(0);
  const c = await call.create(0);
  assert.is(Buffer.from(c.key).toString(), '/p/');
  assert.is(Buffer.from(c.rangeEnd).toString(), '/p0');
  assert.is(c.startRevision, 7n);
  assert.is(c.prevKv, true, 'every watch asks for prev_kv');
  assert.is(c.progressNotify, true);
  assert.is(c.fragment, true);
  assert.equal(call.metadata.get('hasleader'), ['true']);
  call.created(0, 20);
  assert.is(await w.ready(), 20);
  assert.is(await w.Cancel(), true);
  assert.equal(call.cancels.map((x) => x.watchId), [0n]);
});

test('creates go one at a time, and events are routed by watch id', async ({ fake, client }) => {
  const a = recorder();
  const b = recorder();
  const wa = new Watcher(client, 'a', a.cb);
  const wb = new Watcher(client, 'b', b.cb);
  const call = await fake.call(0);
  await call.create(0);
  // the second create waits for the first's answer (etcd's answer carries no request id)
  await rejects(call.create(1, 150), /timed out/, 'a second create before the first is answered');
  call.created(5, 10);
  await call.create(1);
  call.created(6, 10);
  await Promise.all([wa.ready(), wb.ready()]);
  call.send({ watchId: 6, header: { revision: 11 }, events: [put('b', 'vb', 11)] });
  call.send({ watchId: 5, header: { revision: 12 }, events: [put('a', 'va', 12)] });
  call.send({ watchId: 99, header: { revision: 13 }, events: [put('zzz', 'unknown id', 13)] });
  await eventually(() => a.all.length === 1 && b.all.length === 1, 5_000, 'both events');
  assert.equal(a.events, [{ key: 'a', rev: 12, value: 'va' }]);
  assert.equal(b.events, [{ key: 'b', rev: 11, value: 'vb' }]);
  assert.is(a.all[0]!.watch_id(), 5);
  assert.is(b.all[0]!.watch_id(), 6);
  await Promise.all([wa.Cancel(), wb.Cancel()]);
});

test('1. created and canceled in one response: the callback gets code 1 with the reason, Wait() is false', async ({ fake, client }) => {
  const rec = recorder();
  let waited: boolean | undefined;
  const w = new Watcher(client, 'k', rec.cb, (cancelled) => (waited = cancelled));
  const call = await fake.call(0);
  await call.create(0);
  call.send({ watchId: -1, created: true, canceled: true, cancelReason: 'etcdserver: permission denied for this key', header: { revision: 3 } });
  assert.is(await w.Wait(), false);
  assert.is(rec.all.length, 1);
  const r = rec.all[0]!;
  assert.not.ok(r.is_ok());
  assert.is(r.error_code(), 1);
  assert.is(r.error_message(), 'etcdserver: permission denied for this key');
  assert.is(r.events().length, 0);
  await rejects(w.ready(), /ended before/, 'ready()');
  await eventually(() => waited !== undefined, 2_000, 'wait callback');
  assert.is(waited, false);
  assert.is(w.Cancelled(), false, 'ended by the server, not by Cancel()');
  // the engine has no watcher left: it drops the stream
  await call.waitClosed();
  assert.is(await w.Cancel(), false, 'Cancel() after the end reports how it ended');
});

test('1b. a canceled response without a reason still ends the watcher with code 1', async ({ fake, client }) => {
  const rec = recorder();
  const w = new Watcher(client, 'k', rec.cb);
  const call = await fake.call(0);
  await call.create(0);
  call.created(3, 10);
  await w.ready();
  call.send({ watchId: 3, canceled: true, header: { revision: 10 } });
  assert.is(await w.Wait(), false);
  assert.is(rec.all.length, 1);
  assert.is(rec.all[0]!.error_code(), 1);
  assert.ok(rec.all[0]!.error_message().length > 0, 'some message');
});

for (const how of ['end', 'unavailable'] as const) {
  test(`2. the stream ${how === 'end' ? 'ends cleanly' : 'fails with UNAVAILABLE'} mid catch-up: resume at R+1, nothing delivered twice`, async ({ fake, client }) => {
    const rec = recorder();
    const w = new Watcher(client, '/c/', 2, rec.cb, true);
    const s0 = await fake.call(0);
    assert.is((await s0.create(0)).startRevision, 2n);
    s0.created(0, 10);
    await w.ready();
    for (let r = 2; r <= 5; r++) s0.send({ watchId: 0, header: { revision: 10 }, events: [put(`/c/k${r}`, `v${r}`, r)] });
    await eventually(() => rec.events.length === 4, 5_000, 'events 2..5');
    if (how === 'end') s0.end();
    else s0.fail(grpc.status.UNAVAILABLE, 'etcdserver: server stopped');

    const s1 = await fake.call(1);
    const c = await s1.create(0);
    assert.is(c.startRevision, 6n, 'resumes after the last delivered revision');
    assert.is(Buffer.from(c.key).toString(), '/c/');
    assert.is(Buffer.from(c.rangeEnd).toString(), '/c0');
    assert.is(w.nextRevision(), 6);
    s1.created(7, 10);
    // a server that re-sends from an older revision: 3..5 are dropped, 6 and 7 delivered as one batch
    s1.send({ watchId: 7, header: { revision: 10 }, events: [3, 4, 5, 6, 7].map((r) => put(`/c/k${r}`, `v${r}`, r)) });
    s1.send({ watchId: 7, header: { revision: 10 }, events: [put('/c/k5', 'v5', 5)] });
    s1.send({ watchId: 7, header: { revision: 10 }, events: [put('/c/k8', 'v8', 8)] });
    s1.send({ watchId: 7, header: { revision: 10 }, events: [put('/c/k9', 'v9', 9), del('/c/k2', 10)] });
    await eventually(() => rec.events.length >= 9, 5_000, 'events up to 10');
    assert.equal(revs(rec.events), range(2, 10));
    assert.is(rec.all.length, 4 + 3, 'one callback per response that still had new events');
    const batch = rec.all[4]!;
    assert.equal(revs(batch.events().map((e) => ({ rev: e.kv().modified_index() }))), [6, 7]);
    assert.is(batch.value().key(), '/c/k6', 'value() is the first delivered event');
    assert.is(batch.watch_id(), 7, 'the new stream’s watch id');
    assert.is(rec.all[6]!.events()[1]!.event_type(), EventType.DELETE_);
    assert.ok(rec.all.every((r) => r.is_ok()), 'a transient stream end is not reported to the callback');
    assert.is(w.nextRevision(), 11);
    assert.is(watchEngine(client.conn).streamsOpened, 2);
    await w.Cancel();
  });
}

test('3. fragments are reassembled into one callback with every event', async ({ fake, client }) => {
  const rec = recorder();
  const w = new Watcher(client, '/f/', 1, rec.cb, true);
  const call = await fake.call(0);
  await call.create(0);
  call.created(2, 30);
  await w.ready();
  call.send({ watchId: 2, header: { revision: 30 }, fragment: true, events: [put('/f/a', '1', 1), put('/f/b', '2', 2)] });
  call.send({ watchId: 2, header: { revision: 30 }, fragment: true, events: [put('/f/c', '3', 3), put('/f/d', '4', 4)] });
  call.send({ watchId: 2, header: { revision: 30 }, fragment: true, events: [put('/f/a', '5', 5, 2)] });
  // nothing is delivered until the final part
  call.send({ watchId: 2, header: { revision: 30 }, events: [del('/f/b', 6)] });
  call.send({ watchId: 2, header: { revision: 30 }, events: [put('/f/e', '7', 7)] });
  await eventually(() => rec.all.length === 2, 5_000, 'two callbacks');
  const whole = rec.all[0]!;
  assert.is(whole.events().length, 6);
  assert.equal(revs(rec.events), range(1, 7));
  assert.is(whole.action(), 'create', 'action from the first event');
  assert.is(whole.value().key(), '/f/a');
  assert.is(whole.index(), 30);
  assert.is(rec.all[1]!.events().length, 1);
  assert.is(w.nextRevision(), 8);
  await w.Cancel();
});

test('3b. a stream lost in the middle of a fragmented response: the partial fragments are dropped, resume from before them', async ({ fake, client }) => {
  const rec = recorder();
  const w = new Watcher(client, '/g/', 1, rec.cb, true);
  const s0 = await fake.call(0);
  await s0.create(0);
  s0.created(0, 30);
  await w.ready();
  s0.send({ watchId: 0, header: { revision: 30 }, events: [put('/g/a', '1', 1)] });
  await eventually(() => rec.all.length === 1, 5_000, 'first event');
  s0.send({ watchId: 0, header: { revision: 30 }, fragment: true, events: [put('/g/b', '2', 2), put('/g/c', '3', 3)] });
  s0.fail(grpc.status.UNAVAILABLE, 'connection reset');
  const s1 = await fake.call(1);
  assert.is((await s1.create(0)).startRevision, 2n, 'the incomplete response was not counted as delivered');
  s1.created(0, 30);
  s1.send({ watchId: 0, header: { revision: 30 }, events: [put('/g/b', '2', 2), put('/g/c', '3', 3)] });
  await eventually(() => rec.events.length === 3, 5_000, 'the re-sent events');
  assert.equal(revs(rec.events), [1, 2, 3]);
  assert.is(rec.all.length, 2);
  await w.Cancel();
});

test('4. a progress notification moves the resume revision to its header revision + 1, without a callback', async ({ fake, client }) => {
  const rec = recorder();
  const w = new Watcher(client, 'pk', rec.cb);
  const s0 = await fake.call(0);
  assert.is((await s0.create(0)).startRevision, 0n, 'from now');
  s0.created(0, 10);
  assert.is(await w.ready(), 10);
  s0.send({ watchId: 0, header: { revision: 12 }, events: [put('pk', 'v', 12)] });
  await eventually(() => rec.all.length === 1, 5_000, 'the event');
  s0.send({ watchId: 0, header: { revision: 20 } });
  await eventually(() => w.nextRevision() === 21, 5_000, 'progress applied');
  // an older progress notification never moves it back
  s0.send({ watchId: 0, header: { revision: 15 } });
  s0.fail(grpc.status.UNAVAILABLE, 'gone');
  const s1 = await fake.call(1);
  assert.is((await s1.create(0)).startRevision, 21n);
  assert.is(rec.all.length, 1, 'progress notifications are not delivered');
  s1.created(0, 25);
  await w.Cancel();
});

test('4b. a requested-progress reply (watch_id -1, broadcast) never moves a watcher: etcd before 3.4.25/3.5.8 could send it ahead of pending events', async ({ fake, client }) => {
  // The engine relies only on timed progress notifications (progress_notify, per watcher, behind its events on
  // every etcd version) and never sends a progress request, so nothing waits for a reply newer etcd may drop.
  const rec = recorder();
  const w = new Watcher(client, 'bp', rec.cb);
  const s0 = await fake.call(0);
  await s0.create(0);
  s0.created(0, 10);
  assert.is(await w.ready(), 10);
  s0.send({ watchId: 0, header: { revision: 12 }, events: [put('bp', 'v', 12)] });
  await eventually(() => rec.all.length === 1, 5_000, 'the event');
  s0.send({ watchId: -1, header: { revision: 30 } });
  s0.send({ watchId: 0, header: { revision: 14 }, events: [put('bp', 'w', 14, 2)] });
  await eventually(() => rec.all.length === 2, 5_000, 'the event after the broadcast');
  assert.is(w.nextRevision(), 15, 'the broadcast progress reply was ignored');
  s0.fail(grpc.status.UNAVAILABLE, 'gone');
  const s1 = await fake.call(1);
  assert.is((await s1.create(0)).startRevision, 15n);
  s1.created(0, 30);
  await w.Cancel();
});

test('4c. a learner refusing the stream (9 on etcd 3.6+, 14 before) re-opens it instead of ending the watcher', async ({ fake, client }) => {
  const rec = recorder();
  const w = new Watcher(client, 'lr', rec.cb);
  const s0 = await fake.call(0);
  await s0.create(0);
  s0.created(0, 10);
  assert.is(await w.ready(), 10);
  s0.fail(grpc.status.FAILED_PRECONDITION, 'etcdserver: rpc not supported for learner');
  const s1 = await fake.call(1);
  assert.is((await s1.create(0)).startRevision, 11n, 're-created where it left off');
  s1.created(0, 11);
  s1.send({ watchId: 0, header: { revision: 12 }, events: [put('lr', 'v', 12)] });
  await eventually(() => rec.all.length === 1, 5_000, 'an event on the new stream');
  assert.not.ok(w.Cancelled(), 'the watcher goes on');
  await w.Cancel();
});

test('5. a "from now" watcher is pinned to the created revision: after a reconnect it resumes at that + 1', async ({ fake, client }) => {
  const rec = recorder();
  const w = new Watcher(client, 'now', rec.cb);
  assert.is(w.nextRevision(), 0);
  const s0 = await fake.call(0);
  assert.is((await s0.create(0)).startRevision, 0n);
  s0.created(4, 10);
  assert.is(await w.ready(), 10);
  assert.is(w.nextRevision(), 11);
  s0.end();
  const s1 = await fake.call(1);
  assert.is((await s1.create(0)).startRevision, 11n);
  s1.created(0, 14);
  s1.send({ watchId: 0, header: { revision: 14 }, events: [put('now', 'a', 11), put('now', 'b', 13, 2)] });
  await eventually(() => rec.all.length === 1, 5_000, 'events written during the outage');
  assert.equal(revs(rec.events), [11, 13]);
  // ready() keeps the first acknowledgement
  assert.is(await w.ready(), 10);
  await w.Cancel();
});

test('6. compaction cancel: code 11, the C++ message, compact_revision(), Wait() false', async ({ fake, client }) => {
  const rec = recorder();
  let waited: boolean | undefined;
  const w = new Watcher(client, 'old', 2, rec.cb);
  assert.ok(w.Wait((c) => (waited = c)));
  const call = await fake.call(0);
  await call.create(0);
  call.created(0, 10);
  call.send({ watchId: 0, canceled: true, compactRevision: 5, header: { revision: 10 } });
  assert.is(await w.Wait(), false);
  assert.is(rec.all.length, 1);
  const r = rec.all[0]!;
  assert.is(r.error_code(), 11);
  assert.is(r.error_message(), 'required revision has been compacted');
  assert.is(r.compact_revision(), 5);
  assert.is(r.index(), 10);
  await eventually(() => waited !== undefined, 2_000, 'wait callback');
  assert.is(waited, false);
});

test('6b. one-shot watch with a compacted fromIndex resolves with code 11', async ({ fake, client }) => {
  const p = client.watch('old', 2);
  const call = await fake.call(0);
  await call.create(0);
  call.created(0, 10);
  call.send({ watchId: 0, canceled: true, compactRevision: 5, header: { revision: 10 } });
  const r = await p;
  assert.is(r.error_code(), 11);
  assert.is(r.compact_revision(), 5);
});

test('7. a permanent stream error (PERMISSION_DENIED) ends every watcher with code 7 and the server message', async ({ fake, client }) => {
  const a = recorder();
  const b = recorder();
  const wa = new Watcher(client, 'a', a.cb);
  const wb = new Watcher(client, 'b', 1, b.cb);
  const one = client.watch('c');
  const call = await fake.call(0);
  await call.create(0);
  call.created(0, 10);
  await call.create(1);
  call.created(1, 10);
  await Promise.all([wa.ready(), wb.ready()]);
  // the one-shot's create is still unanswered when the stream fails
  await call.create(2);
  call.fail(grpc.status.PERMISSION_DENIED, 'etcdserver: permission denied');
  assert.equal(await Promise.all([wa.Wait(), wb.Wait()]), [false, false]);
  for (const rec of [a, b]) {
    assert.is(rec.all.length, 1);
    assert.is(rec.all[0]!.error_code(), 7);
    assert.is(rec.all[0]!.error_message(), 'etcdserver: permission denied');
  }
  const r = await one;
  assert.is(r.error_code(), 7);
  assert.is(r.error_message(), 'etcdserver: permission denied');
  // no reconnect after a permanent error
  assert.is(fake.calls.length, 1);
  // the engine is usable again for new watchers
  const c = recorder();
  const wc = new Watcher(client, 'c', c.cb);
  const s1 = await fake.call(1);
  await s1.create(0);
  s1.created(0, 10);
  await wc.ready();
  await wc.Cancel();
});

test('7b. after a permanent error, watchers that were still queued are not re-created on the next stream', async ({ fake, client }) => {
  const wa = new Watcher(client, 'a', recorder().cb);
  const wb = new Watcher(client, 'b', recorder().cb);
  const wc = new Watcher(client, 'c', recorder().cb);
  const s0 = await fake.call(0);
  await s0.create(0);
  s0.created(0, 10);
  await wa.ready();
  await s0.create(1); // b in flight, c queued behind it
  s0.fail(grpc.status.PERMISSION_DENIED, 'etcdserver: permission denied');
  assert.equal(await Promise.all([wa.Wait(), wb.Wait(), wc.Wait()]), [false, false, false]);
  const d = recorder();
  const wd = new Watcher(client, 'd', d.cb);
  const s1 = await fake.call(1);
  const first = await s1.create(0);
  assert.is(Buffer.from(first.key).toString(), 'd', 'the first create on the new stream is the new watcher’s');
  s1.created(0, 10);
  await wd.ready();
  s1.send({ watchId: 0, header: { revision: 11 }, events: [put('d', 'v', 11)] });
  await eventually(() => d.all.length === 1, 5_000, 'the new watcher’s event');
  await wd.Cancel();
  assert.equal(s1.creates.map((c) => Buffer.from(c.key).toString()), ['d'], 'no create for an ended watcher');
});

test('Cancel() while the create is in flight: the cancel goes out after the created answer', async ({ fake, client }) => {
  const rec = recorder();
  const w = new Watcher(client, 'x', rec.cb);
  const call = await fake.call(0);
  await call.create(0);
  const cancelled = w.Cancel();
  assert.is(call.cancels.length, 0);
  call.created(9, 10);
  assert.equal(await call.cancelRequest(0), { watchId: 9n });
  assert.is(await cancelled, true);
  assert.is(rec.all.length, 0);
});

test('events between Cancel() and the server’s canceled answer are not delivered', async ({ fake, client }) => {
  fake.autoCancel = false;
  const rec = recorder();
  const w = new Watcher(client, 'x', rec.cb);
  const call = await fake.call(0);
  await call.create(0);
  call.created(0, 10);
  await w.ready();
  const cancelled = w.Cancel();
  await call.cancelRequest(0);
  call.send({ watchId: 0, header: { revision: 11 }, events: [put('x', 'late', 11)] });
  call.send({ watchId: 0, canceled: true, header: { revision: 11 } });
  assert.is(await cancelled, true);
  assert.is(rec.all.length, 0);
});

test('Cancel() while reconnecting finishes at once; closing the client ends pending watchers with Wait() true', async ({ fake, client }) => {
  const ra = recorder();
  const wa = new Watcher(client, 'a', ra.cb);
  const wb = new Watcher(client, 'b', recorder().cb);
  const s0 = await fake.call(0);
  await s0.create(0);
  s0.created(0, 10);
  await s0.create(1);
  s0.created(1, 10);
  await Promise.all([wa.ready(), wb.ready()]);
  s0.fail(grpc.status.UNAVAILABLE, 'gone');
  const s1 = await fake.call(1);
  await s1.create(0);
  // wa's create is in flight on the new stream, wb is queued behind it
  assert.is(await wb.Cancel(), true);
  s1.created(0, 10);
  await eventually(() => s1.creates.length === 1 && wa.nextRevision() === 11, 5_000, 'wa re-created');
  assert.is(s1.creates.length, 1, 'the cancelled watcher was not re-created');
  const one = client.watch('z');
  await s1.create(1);
  await client.close();
  assert.is(await wa.Wait(), true);
  assert.ok(wa.Cancelled());
  await rejects(one, (e) => e.name === 'ClientClosedError', 'the pending one-shot watch');
  await s1.waitClosed();
});

test('the reopen backoff runs on the engine clock (the seam): no new stream until the clock fires it; close clears it', async ({ fake, client }) => {
  const timers: { fn: () => void; ms: number; weak: boolean }[] = [];
  const clock: Clock = {
    now: () => 0,
    setTimer: (fn, ms, weak = false) => {
      const t = { fn, ms, weak };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      const i = timers.indexOf(t as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  const engine = new WatchEngine(client.conn, clock);
  const ends: (Response | null)[] = [];
  engine.add({ key: Buffer.from('clk'), rangeEnd: Buffer.alloc(0), startRevision: 0 }, { onEvents: () => {}, onEnd: (e) => void ends.push(e) });
  const s0 = await fake.call(0);
  await s0.create(0);
  s0.created(0, 10);
  s0.end();
  await eventually(() => timers.some((t) => !t.weak), 5_000, 'a backoff timer on the fake clock');
  const backoff = timers.find((t) => !t.weak)!;
  assert.ok(backoff.ms >= 37 && backoff.ms <= 63, `first reopen after 50 ms ±25 %, got ${backoff.ms}`);
  // The machine reopens only from its backoff timer, which only the fake clock can fire (no sleep needed).
  assert.is(fake.calls.length, 1, 'no reopen while the fake clock stands still');
  timers.splice(timers.indexOf(backoff), 1);
  backoff.fn();
  const s1 = await fake.call(1);
  assert.is((await s1.create(0)).startRevision, 11n);
  s1.end();
  await eventually(() => timers.some((t) => !t.weak), 5_000, 'a second backoff timer');
  engine.close();
  assert.is(timers.filter((t) => !t.weak).length, 0, 'close clears the backoff timer');
  assert.equal(ends, [null]);
});

test('a throwing callback does not break the engine', async ({ fake, client }) => {
  const seen: number[] = [];
  const errors: unknown[] = [];
  const onUncaught = (e: unknown) => errors.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    const w = new Watcher(client, 't', (r) => {
      seen.push(r.index());
      throw new Error('user bug');
    });
    const call = await fake.call(0);
    await call.create(0);
    call.created(0, 10);
    call.send({ watchId: 0, header: { revision: 11 }, events: [put('t', '1', 11)] });
    call.send({ watchId: 0, header: { revision: 12 }, events: [put('t', '2', 12, 2)] });
    await eventually(() => seen.length === 2 && errors.length === 2, 5_000, 'both callbacks');
    assert.is((errors[0] as Error).message, 'user bug');
    await w.Cancel();
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});

test.run();
