// The watch guarantee under faults: across cuts, etcd restarts and member deaths a watcher delivers every
// event exactly once, in order. The reference is etcd's own history, read afterwards by an undisturbed watch.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Watcher, type Response } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { startProxy, type Proxy } from '../../src/testing';
import { eventually, uniquePrefix } from './util';

type Seen = { key: string; rev: number; type: number; value: string };

function collect(into: Seen[]): (r: Response) => void {
  return (r) => {
    assert.ok(r.is_ok(), `watch error ${r.error_code()} ${r.error_message()}`);
    for (const e of r.events()) into.push({ key: e.kv().key(), rev: e.kv().modified_index(), type: e.event_type(), value: e.kv().as_string() });
  };
}

/** etcd's history of `prefix` from `fromRev` to `toRev`, read by a fresh watch on a healthy connection. */
async function history(client: Client, prefix: string, fromRev: number, toRev: number): Promise<Seen[]> {
  const out: Seen[] = [];
  const w = new Watcher(client, prefix, fromRev, collect(out), true);
  try {
    await eventually(() => out.length > 0 && out[out.length - 1]!.rev >= toRev, 20_000, `history up to ${toRev}`);
  } finally {
    await w.Cancel();
  }
  return out;
}

function assertSameHistory(seen: Seen[], expected: Seen[], what: string): void {
  const revs = seen.map((s) => s.rev);
  for (let i = 1; i < revs.length; i++) {
    assert.ok(revs[i]! >= revs[i - 1]!, `${what}: revisions out of order at ${i}: ${revs[i - 1]} then ${revs[i]}`);
  }
  const dup = seen.findIndex((s, i) => i > 0 && s.rev === seen[i - 1]!.rev && s.key === seen[i - 1]!.key);
  assert.is(dup, -1, `${what}: event delivered twice at index ${dup}`);
  assert.is(seen.length, expected.length, `${what}: ${seen.length} events seen, ${expected.length} in etcd's history`);
  assert.equal(seen, expected, `${what}: delivered events differ from etcd's history`);
}

/** Writes `prefix/<n>` steadily until stopped; failed writes (during an outage) are simply retried later. */
function writer(client: Client, prefix: string) {
  let stop = false;
  let written = 0;
  let lastRev = 0;
  const done = (async () => {
    for (let n = 0; !stop; n++) {
      const r = await client.put(`${prefix}k${n % 50}`, `v${n}`);
      if (r.is_ok()) {
        written++;
        lastRev = r.index();
      } else {
        await new Promise((res) => setTimeout(res, 20));
      }
      await new Promise((res) => setImmediate(res));
    }
  })();
  return {
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
  const seen: Seen[] = [];
  const w = new Watcher(ctx.viaProxy, prefix, collect(seen), true);
  const start = (await w.ready()) + 1;
  const load = writer(ctx.direct, prefix);
  for (let round = 0; round < 3; round++) {
    const before = load.written;
    await eventually(() => load.written >= before + 30, 10_000, 'writes before the cut');
    ctx.proxy.cut();
    const during = load.written;
    await eventually(() => load.written >= during + 50, 10_000, 'writes during the cut');
    ctx.proxy.restore();
  }
  await load.stop();
  const last = load.lastRev;
  await eventually(() => seen.length > 0 && seen[seen.length - 1]!.rev >= last, 15_000, 'the watcher to catch up');
  assertSameHistory(seen, await history(ctx.direct, prefix, start, last), 'cut/restore');
  assert.ok(seen.length >= load.written, 'every successful write was seen');
  await w.Cancel();
});

single('a watcher more than 1000 revisions behind after a cut still gets every event', async (ctx) => {
  const prefix = uniquePrefix('wf-behind');
  const seen: Seen[] = [];
  const w = new Watcher(ctx.viaProxy, prefix, collect(seen), true);
  const start = (await w.ready()) + 1;
  ctx.proxy.cut();
  let last = 0;
  for (let i = 0; i < 1200; i++) last = (await ctx.direct.put(`${prefix}k${i % 10}`, `v${i}`)).index();
  ctx.proxy.restore();
  await eventually(() => seen.length > 0 && seen[seen.length - 1]!.rev >= last, 20_000, 'catch-up after 1200 writes');
  assert.is(seen.length, 1200);
  assertSameHistory(seen, await history(ctx.direct, prefix, start, last), 'behind by 1200');
  await w.Cancel();
});

single('a prefix watcher loses nothing across repeated etcd restarts (graceful, then a crash) under load', async (ctx) => {
  const prefix = uniquePrefix('wf-restart');
  const seen: Seen[] = [];
  const w = new Watcher(ctx.direct, prefix, collect(seen), true);
  const start = (await w.ready()) + 1;
  const load = writer(ctx.direct, prefix);
  for (let round = 0; round < 2; round++) {
    const before = load.written;
    await eventually(() => load.written >= before + 30, 15_000, 'writes before the restart');
    // A graceful stop, then a crash. (On SIGTERM etcd 3.5+ drains open streams — the watcher's — for up to ~7 s,
    // and stop() kills it after 5 s; either way the restart counts from the process's exit.)
    if (round === 0) await ctx.cluster.members[0]!.stop();
    else await ctx.cluster.members[0]!.kill();
    await ctx.cluster.members[0]!.start();
  }
  const after = load.written;
  await eventually(() => load.written >= after + 30, 15_000, 'writes after the last restart');
  await load.stop();
  const last = load.lastRev;
  await eventually(() => seen.length > 0 && seen[seen.length - 1]!.rev >= last, 15_000, 'the watcher to catch up');
  assertSameHistory(seen, await history(ctx.direct, prefix, start, last), 'restarts');
  assert.not.ok(w.Cancelled(), 'the watcher is still running');
  await w.Cancel();
});

single('compaction of the resume revision ends that watcher with code 11; other watchers continue', async (ctx) => {
  const prefix = uniquePrefix('wf-compact');
  const compacted: Response[] = [];
  const seen: Seen[] = [];
  const victim = new Watcher(ctx.viaProxy, prefix, (r) => {
    if (!r.is_ok()) compacted.push(r);
  }, true);
  await victim.ready();
  const survivor = new Watcher(ctx.direct, prefix, collect(seen), true);
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
  await eventually(() => seen.length === 20, 5_000, 'survivor events');
  const more = await ctx.direct.put(`${prefix}k`, 'after');
  await eventually(() => seen.some((s) => s.rev === more.index()), 5_000, 'survivor keeps going');
  await survivor.Cancel();
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
  const seen: Seen[] = [];
  const w = new Watcher(ctx.client, prefix, collect(seen), true);
  const start = (await w.ready()) + 1;
  let last = 0;
  const write = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = await eventually(async () => {
        const r = await ctx.writer.put(`${prefix}k${i % 5}`, `v${i}`);
        return r.is_ok() ? r : undefined;
      }, 15_000, 'a put during fail-over');
      last = r.index();
    }
  };
  for (const member of ctx.cluster.members) {
    await write(10);
    await member.kill();
    await write(10);
    await eventually(() => seen.length > 0 && seen[seen.length - 1]!.rev >= last, 15_000, `watch after killing ${member.name}`);
    await member.start();
    await ctx.cluster.waitHealthy();
  }
  assertSameHistory(seen, await history(ctx.writer, prefix, start, last), 'three-member fail-over');
  await w.Cancel();
});

three.run();
