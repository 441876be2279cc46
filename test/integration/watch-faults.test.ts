// The watch guarantee under faults: across cuts, etcd restarts and member deaths a watcher delivers every
// event exactly once, in order. The reference is etcd's own history, read independently of the watch engine under
// test: one raw Range per revision (the keys of the prefix modified at exactly that revision), cross-checked with
// the writer's own log of acknowledged (key, value, revision) triples.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Watcher, type Response } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { startProxy, type Proxy } from '../../src/testing';
import { assertEachValueOnce, assertLogInHistory, etcdHistory, type WriteLog } from '../helpers/history';
import { recorder, type Seen } from '../helpers/watch';
import { eventually, uniquePrefix } from './util';

function assertSameHistory(seen: Seen[], expected: Seen[], what: string): void {
  const revs = seen.map((s) => s.rev);
  for (let i = 1; i < revs.length; i++) {
    assert.ok(revs[i]! > revs[i - 1]!, `${what}: revisions out of order or repeated at ${i}: ${revs[i - 1]} then ${revs[i]}`);
  }
  assert.is(seen.length, expected.length, `${what}: ${seen.length} events seen, ${expected.length} in etcd's history`);
  assert.equal(seen, expected, `${what}: delivered events differ from etcd's history`);
}

/** Writes `prefix/<n>` steadily until stopped; failed writes (during an outage) are simply retried later. */
function writer(client: Client, prefix: string) {
  let stop = false;
  let written = 0;
  let lastRev = 0;
  const log: WriteLog = [];
  const done = (async () => {
    for (let n = 0; !stop; n++) {
      const key = `${prefix}k${n % 50}`;
      const value = `v${n}`;
      const r = await client.put(key, value);
      if (r.is_ok()) {
        written++;
        lastRev = r.index();
        log.push({ key, value, rev: r.index() });
      } else {
        await new Promise((res) => setTimeout(res, 20));
      }
      await new Promise((res) => setImmediate(res));
    }
  })();
  return {
    /** The acknowledged writes, as the writer saw them. */
    log,
    get written() {
      return written;
    },
    get lastRev() {
      return lastRev;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

const single = suite<{ cluster: EtcdCluster; proxy: Proxy; direct: Client; viaProxy: Client }>('watch faults (one member)');

single.before(async (ctx) => {
  ctx.cluster = await startEtcd();
  ctx.proxy = await startProxy(ctx.cluster.endpoints[0]!);
  ctx.direct = new Client(ctx.cluster.endpoint);
  ctx.viaProxy = new Client(ctx.proxy.url);
});

single.after(async (ctx) => {
  await ctx.viaProxy?.close();
  await ctx.direct?.close();
  await ctx.proxy?.close();
  await ctx.cluster?.stop();
});

single('a prefix watcher sees exactly the events written while the connection is cut and restored, under load', async (ctx) => {
  const prefix = uniquePrefix('wf-cut');
  const rec = recorder();
  const w = new Watcher(ctx.viaProxy, prefix, rec.cb, true);
  let load: ReturnType<typeof writer> | undefined;
  try {
    const start = (await w.ready()) + 1;
    const run = (load = writer(ctx.direct, prefix)); // after ready(): every write is at or after `start`
    for (let round = 0; round < 3; round++) {
      const before = run.written;
      await eventually(() => run.written >= before + 30, 10_000, 'writes before the cut');
      ctx.proxy.cut();
      const during = run.written;
      await eventually(() => run.written >= during + 50, 10_000, 'writes during the cut');
      ctx.proxy.restore();
    }
    await run.stop();
    const last = run.lastRev;
    const seen = rec.events;
    await eventually(() => seen.length > 0 && seen[seen.length - 1]!.rev >= last, 15_000, 'the watcher to catch up');
    assert.equal(rec.errors, [], 'no error Response');
    const history = await etcdHistory(ctx.direct, prefix, start, last);
    assertLogInHistory(run.log, history, 'cut/restore');
    assertEachValueOnce(history, 'cut/restore');
    assertSameHistory(seen, history, 'cut/restore');
    assert.ok(seen.length >= run.written, 'every successful write was seen');
  } finally {
    ctx.proxy.restore();
    await load?.stop();
    await w.Cancel();
  }
});

single('a watcher more than 1000 revisions behind after a cut still gets every event', async (ctx) => {
  const prefix = uniquePrefix('wf-behind');
  const rec = recorder();
  const w = new Watcher(ctx.viaProxy, prefix, rec.cb, true);
  try {
    const start = (await w.ready()) + 1;
    ctx.proxy.cut();
    const log: WriteLog = [];
    for (let i = 0; i < 1200; i++) {
      const key = `${prefix}k${i % 10}`;
      const r = await ctx.direct.put(key, `v${i}`);
      assert.ok(r.is_ok(), `put ${i}: ${r.error_code()} ${r.error_message()}`);
      log.push({ key, value: `v${i}`, rev: r.index() });
    }
    const last = log[log.length - 1]!.rev;
    ctx.proxy.restore();
    const seen = rec.events;
    await eventually(() => seen.length > 0 && seen[seen.length - 1]!.rev >= last, 20_000, 'catch-up after 1200 writes');
    assert.equal(rec.errors, [], 'no error Response');
    assert.is(seen.length, 1200);
    const history = await etcdHistory(ctx.direct, prefix, start, last);
    assertLogInHistory(log, history, 'behind by 1200');
    assertEachValueOnce(history, 'behind by 1200');
    assert.is(history.length, 1200, "etcd's history holds exactly the 1200 writes");
    assertSameHistory(seen, history, 'behind by 1200');
  } finally {
    ctx.proxy.restore();
    await w.Cancel();
  }
});

single('a prefix watcher loses nothing across repeated etcd restarts (graceful, then a crash) under load', async (ctx) => {
  const prefix = uniquePrefix('wf-restart');
  const rec = recorder();
  const w = new Watcher(ctx.direct, prefix, rec.cb, true);
  let load: ReturnType<typeof writer> | undefined;
  try {
    const start = (await w.ready()) + 1;
    const run = (load = writer(ctx.direct, prefix)); // after ready(): every write is at or after `start`
    for (let round = 0; round < 2; round++) {
      const before = run.written;
      await eventually(() => run.written >= before + 30, 15_000, 'writes before the restart');
      // A graceful stop, then a crash. (On SIGTERM etcd 3.5+ drains open streams — the watcher's — for up to ~7 s,
      // and stop() kills it after 5 s; either way the restart counts from the process's exit.)
      if (round === 0) await ctx.cluster.members[0]!.stop();
      else await ctx.cluster.members[0]!.kill();
      await ctx.cluster.members[0]!.start();
    }
    const after = run.written;
    await eventually(() => run.written >= after + 30, 15_000, 'writes after the last restart');
    await run.stop();
    const last = run.lastRev;
    const seen = rec.events;
    await eventually(() => seen.length > 0 && seen[seen.length - 1]!.rev >= last, 15_000, 'the watcher to catch up');
    assert.equal(rec.errors, [], 'no error Response');
    // A put whose answer was lost in a restart is in etcd's history but not in the writer's log: etcd is the
    // reference, the log only has to be contained in it.
    const history = await etcdHistory(ctx.direct, prefix, start, last);
    assertLogInHistory(run.log, history, 'restarts');
    assertEachValueOnce(history, 'restarts');
    assertSameHistory(seen, history, 'restarts');
    assert.not.ok(w.Cancelled(), 'the watcher is still running');
  } finally {
    await load?.stop();
    await w.Cancel();
  }
});

single('compaction of the resume revision ends that watcher with code 11; other watchers continue', async (ctx) => {
  const prefix = uniquePrefix('wf-compact');
  const compacted: Response[] = [];
  const victim = new Watcher(ctx.viaProxy, prefix, (r) => {
    if (!r.is_ok()) compacted.push(r);
  }, true);
  const rec = recorder();
  const survivor = new Watcher(ctx.direct, prefix, rec.cb, true);
  try {
    await victim.ready();
    await survivor.ready();
    ctx.proxy.cut();
    let last = 0;
    for (let i = 0; i < 20; i++) last = (await ctx.direct.put(`${prefix}k`, `v${i}`)).index();
    const c = await ctx.direct.raw.kv.compact({ revision: BigInt(last), physical: true });
    assert.ok(c.header, 'compacted');
    ctx.proxy.restore();
    assert.is(await victim.Wait(), false, 'ended by etcd, not cancelled');
    assert.is(compacted.length, 1);
    assert.is(compacted[0]!.error_code(), 11);
    assert.is(compacted[0]!.error_message(), 'required revision has been compacted');
    assert.ok(compacted[0]!.compact_revision() > 0, 'compact_revision set');
    await eventually(() => rec.events.length === 20, 5_000, 'survivor events');
    assert.equal(rec.values(), Array.from({ length: 20 }, (_, i) => `v${i}`), 'the survivor saw every write once, in order');
    const more = await ctx.direct.put(`${prefix}k`, 'after');
    await eventually(() => rec.events.some((s) => s.rev === more.index()), 5_000, 'survivor keeps going');
    assert.equal(rec.errors, [], 'no error Response on the survivor');
  } finally {
    ctx.proxy.restore();
    await victim.Cancel();
    await survivor.Cancel();
  }
});

single('cancelled watchers are removed on the server and the stream is released', async (ctx) => {
  const prefix = uniquePrefix('wf-cancel');
  const client = new Client(ctx.cluster.endpoint);
  try {
    const ws = Array.from({ length: 20 }, (_, i) => new Watcher(client, `${prefix}${i}`, () => {}));
    await Promise.all(ws.map((w) => w.ready()));
    const metrics = async () => {
      const res = await fetch(`${ctx.cluster.endpoints[0]}/metrics`);
      const text = await res.text();
      const m = /^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(text);
      return m ? Number(m[1]) : NaN;
    };
    const withWatchers = await metrics();
    assert.ok(withWatchers >= 20, `server counts ${withWatchers} watchers`);
    await Promise.all(ws.map((w) => w.Cancel()));
    await eventually(async () => (await metrics()) <= withWatchers - 20, 5_000, 'server-side watchers to go away');
    assert.ok(ws.every((w) => w.Cancelled()));
  } finally {
    await client.close();
  }
});

single.run();

// ---------------------------------------------------------------------------------------------------------

const three = suite<{ cluster: EtcdCluster; client: Client; writer: Client }>('watch faults (three members)');

three.before(async (ctx) => {
  ctx.cluster = await startEtcd({ members: 3 });
  ctx.client = new Client(ctx.cluster.endpoint);
  ctx.writer = new Client(ctx.cluster.endpoint);
});

three.after(async (ctx) => {
  await ctx.client?.close();
  await ctx.writer?.close();
  await ctx.cluster?.stop();
});

three('killing each member in turn (the one the watch stream uses included) does not stop the watcher', async (ctx) => {
  const prefix = uniquePrefix('wf-3');
  const rec = recorder();
  const w = new Watcher(ctx.client, prefix, rec.cb, true);
  try {
    const start = (await w.ready()) + 1;
    let last = 0;
    const log: WriteLog = [];
    let n = 0;
    const write = async (count: number) => {
      for (let i = 0; i < count; i++, n++) {
        const key = `${prefix}k${n % 5}`;
        const value = `v${n}`;
        const r = await eventually(async () => {
          const r = await ctx.writer.put(key, value);
          return r.is_ok() ? r : undefined;
        }, 15_000, 'a put during fail-over');
        last = r.index();
        log.push({ key, value, rev: last });
      }
    };
    const seen = rec.events;
    for (const member of ctx.cluster.members) {
      await write(10);
      await member.kill();
      await write(10);
      await eventually(() => seen.length > 0 && seen[seen.length - 1]!.rev >= last, 15_000, `watch after killing ${member.name}`);
      await member.start();
      await ctx.cluster.waitHealthy();
    }
    assert.equal(rec.errors, [], 'no error Response');
    const history = await etcdHistory(ctx.writer, prefix, start, last);
    assertLogInHistory(log, history, 'three-member fail-over');
    assertEachValueOnce(history, 'three-member fail-over');
    assertSameHistory(seen, history, 'three-member fail-over');
  } finally {
    await w.Cancel();
  }
});

three.run();
