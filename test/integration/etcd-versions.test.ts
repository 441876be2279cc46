// What changed in etcd 3.5–3.7 that a client meets, asserted on the versions that have it (and the old behaviour
// on the versions that do not): the auth hardening of 3.4.42/3.5.28/3.6.9/3.7 (Compact needs root, lease calls an
// authenticated user, LeaseKeepAlive put permission on the lease's keys), Status's auth, requested progress
// notifications ordered behind earlier events and dropped while a watcher is unsynced (3.4.25/3.5.8/3.6), and the
// launcher's per-version progress-notify flag. Each gated test carries its range in its name.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CompactionRequest, LeaseService, StatusRequest, WatchRequest, type WatchResponse } from '../../generated/etcdserver/etcdserverpb/rpc';
import { Client, GrpcStatusError, KeepAlive, KeepAliveError, Watcher } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import {
  ETCD_AUTH_HARDENED,
  ETCD_PROGRESS_ORDERED,
  ETCD_STATUS_ADMIN_ONLY,
  eventually,
  failed,
  ok,
  reader,
  testOnEtcd,
  uniquePrefix,
} from './util';
import { rejection } from '../helpers/throws';

const PERMISSION_DENIED = 'etcdserver: permission denied';
const USER_EMPTY = 'etcdserver: user name is empty';
const NOT_HARDENED = '<3.4.42 || >=3.5 <3.5.28 || >=3.6 <3.6.9';
const STATUS_FOR_ANY_USER = '<3.4.42 || >=3.5 <3.5.28 || >=3.5.32 <3.6 || >=3.6.12';

/** Counts the unary requests a client sends for `path` (wraps its transport), to show nothing is retried. */
function countCalls(client: Client, path: string): { readonly count: number } {
  const transport = client.conn.transport;
  const unary = transport.unary.bind(transport);
  const counter = { count: 0 };
  transport.unary = (method, request, options) => {
    if (method.path === path) counter.count++;
    return unary(method, request, options);
  };
  return counter;
}

// ---- auth ------------------------------------------------------------------------------------------------

interface AuthCtx {
  cluster: EtcdCluster;
  root: Client;
  alice: Client;
  anonymous: Client;
}

const auth = suite<AuthCtx>('auth rules by etcd version');

auth.before(async (ctx) => {
  ctx.cluster = await startEtcd({ name: 'it-versions-auth', dataDirOnTmpfs: true });
  // root (root role), alice (read-write on /sec/ only), then auth on — as an operator would, with etcdctl.
  for (const args of [
    ['user', 'add', 'root:pw'],
    ['user', 'add', 'alice:apw'],
    ['role', 'add', 'rw'],
    ['role', 'grant-permission', 'rw', '--prefix=true', 'readwrite', '/sec/'],
    ['user', 'grant-role', 'alice', 'rw'],
    ['auth', 'enable'],
  ]) {
    const r = await ctx.cluster.etcdctl(args);
    assert.is(r.code, 0, `etcdctl ${args.join(' ')}: ${r.stderr}`);
  }
  ctx.root = Client.WithUser(ctx.cluster.endpoint, 'root', 'pw');
  ctx.alice = Client.WithUser(ctx.cluster.endpoint, 'alice', 'apw');
  ctx.anonymous = new Client(ctx.cluster.endpoint);
});

auth.after(async (ctx) => {
  await Promise.all([ctx.root?.close(), ctx.alice?.close(), ctx.anonymous?.close()]);
  await ctx.cluster?.stop();
});

testOnEtcd(ETCD_AUTH_HARDENED, auth, 'Compact by a user without the root role: 7 with etcd\'s message, sent once', async () => {
  const { root, alice } = auth_ctx();
  const rev = ok(await root.put('/sec/compact', 'x')).index();
  const calls = countCalls(alice, '/etcdserverpb.KV/Compact');
  const err = await rejection(alice.raw.kv.compact(CompactionRequest.fromPartial({ revision: BigInt(rev) })), GrpcStatusError);
  assert.is(err.code, 7);
  assert.is(err.details, PERMISSION_DENIED);
  assert.is(calls.count, 1, 'not retried');
  // root may
  await root.raw.kv.compact(CompactionRequest.fromPartial({ revision: BigInt(rev) }));
});

testOnEtcd(NOT_HARDENED, auth, 'Compact by a user without the root role succeeds (no check before the hardening)', async () => {
  const { alice } = auth_ctx();
  const rev = ok(await alice.put('/sec/compact-old', 'x')).index();
  const res = await alice.raw.kv.compact(CompactionRequest.fromPartial({ revision: BigInt(rev) }));
  assert.ok(res.header!.revision >= BigInt(rev));
});

testOnEtcd(ETCD_AUTH_HARDENED, auth, 'lease grant / time-to-live / revoke without a user: 3 "user name is empty" in the Response, at once', async () => {
  const { alice, anonymous } = auth_ctx();
  const lease = ok(await alice.leasegrant(30)).value().lease();
  const grants = countCalls(anonymous, LeaseService.leaseGrant.path);
  const t0 = Date.now();
  failed(await anonymous.leasegrant(30), 3, USER_EMPTY);
  failed(await anonymous.leasetimetolive(lease), 3, USER_EMPTY);
  failed(await anonymous.leaserevoke(lease), 3, USER_EMPTY);
  // "At once": not retried (grants.count proves it exactly); the bound only catches a hang or a backoff loop.
  assert.ok(Date.now() - t0 < 6000, `answered in ${Date.now() - t0} ms`);
  assert.is(grants.count, 1, 'not retried');
  // an authenticated user may, whatever its roles
  assert.ok(ok(await alice.leasetimetolive(lease)).value().ttl() > 0);
  ok(await alice.leaserevoke(lease));
});

testOnEtcd(NOT_HARDENED, auth, 'lease grant / time-to-live / revoke without a user succeed (no check before the hardening)', async () => {
  const { anonymous } = auth_ctx();
  const lease = ok(await anonymous.leasegrant(30)).value().lease();
  assert.ok(ok(await anonymous.leasetimetolive(lease)).value().ttl() > 0);
  ok(await anonymous.leaserevoke(lease));
});

testOnEtcd(
  ETCD_AUTH_HARDENED,
  auth,
  'KeepAlive of a lease with a key the user may not write: the handler gets KeepAliveError 7 at once, Check() rejects with it, the user\'s other KeepAlive goes on',
  async () => {
    const { root, alice } = auth_ctx();
    const foreign = ok(await root.leasegrant(30)).value().lease();
    ok(await root.put(uniquePrefix('versions-ka'), 'v', foreign)); // outside /sec/: alice may not write it
    const ownErrors: Error[] = [];
    const own = await KeepAlive.create(alice, (e) => ownErrors.push(e), 30);
    await own.Check();
    const errors: Error[] = [];
    const t0 = Date.now();
    const ka = new KeepAlive(alice, (e) => errors.push(e), 30, foreign);
    try {
      let checkErr: unknown;
      try {
        await ka.Check();
      } catch (e) {
        checkErr = e;
      }
      assert.instance(checkErr, KeepAliveError);
      assert.is((checkErr as KeepAliveError).code, 7);
      assert.match((checkErr as Error).message, PERMISSION_DENIED);
      await eventually(() => errors.length === 1, 6000, 'the handler');
      // "At once": long before the first scheduled refresh (10 s) or the local deadline (30 s) could report it.
      assert.ok(Date.now() - t0 < 6000, `reported in ${Date.now() - t0} ms`);
      assert.is(errors[0], checkErr, 'the handler and Check() get the same error');
      // The refusal ended the shared stream; alice's own lease did nothing wrong and is still kept alive.
      await own.Check();
      assert.equal(ownErrors, []);
      assert.ok(ok(await alice.leasetimetolive(own.Lease())).value().ttl() > 0);
      // root may keep the foreign lease alive
      const rootKa = new KeepAlive(root, 30, foreign);
      await rootKa.Check();
      rootKa.Cancel();
    } finally {
      ka.Cancel();
      own.Cancel();
      await root.leaserevoke(foreign);
      await alice.leaserevoke(own.Lease());
    }
  },
);

testOnEtcd(NOT_HARDENED, auth, 'KeepAlive of a lease with a key the user may not write works (no check before the hardening)', async () => {
  const { root, alice } = auth_ctx();
  const foreign = ok(await root.leasegrant(30)).value().lease();
  ok(await root.put(uniquePrefix('versions-ka-old'), 'v', foreign));
  const ka = new KeepAlive(alice, 30, foreign);
  try {
    await ka.Check();
  } finally {
    ka.Cancel();
    await root.leaserevoke(foreign);
  }
});

testOnEtcd(ETCD_STATUS_ADMIN_ONLY, auth, 'Status by a user without the root role: 7, not retried', async () => {
  const { alice } = auth_ctx();
  const calls = countCalls(alice, '/etcdserverpb.Maintenance/Status');
  const err = await rejection(alice.raw.maintenance.status(StatusRequest.fromPartial({})), GrpcStatusError);
  assert.is(err.code, 7);
  assert.is(err.details, PERMISSION_DENIED);
  assert.is(calls.count, 1);
});

testOnEtcd(STATUS_FOR_ANY_USER, auth, 'Status by a user without the root role is answered', async () => {
  const { alice } = auth_ctx();
  const st = await alice.raw.maintenance.status(StatusRequest.fromPartial({}));
  assert.ok(st.dbSize > 0n);
});

/** uvu hands the context to each test; the gated tests above take it from here to keep testOnEtcd's signature. */
let currentAuth: AuthCtx | undefined;
auth.before.each((ctx) => {
  currentAuth = ctx;
});
function auth_ctx(): AuthCtx {
  if (!currentAuth) throw new Error('auth context not set');
  return currentAuth;
}

auth.run();

// ---- requested progress notifications ---------------------------------------------------------------------

const progress = suite<{ cluster: EtcdCluster; client: Client }>('watch progress by etcd version');

progress.before(async (ctx) => {
  // Timed progress notifications every 300 ms: the launcher passes the flag this version knows.
  ctx.cluster = await startEtcd({ name: 'it-versions-progress', dataDirOnTmpfs: true, watchProgressNotifyIntervalMs: 300 });
  ctx.client = new Client(ctx.cluster.endpoint);
  currentProgress = ctx;
});

progress.after(async (ctx) => {
  await ctx.client?.close();
  await ctx.cluster?.stop();
});

let currentProgress: { cluster: EtcdCluster; client: Client } | undefined;

const create = (key: Buffer, startRevision = 0n) =>
  WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', createRequest: { key, startRevision } } });
const progressRequest = () => WatchRequest.fromPartial({ requestUnion: { $case: 'progressRequest', progressRequest: {} } });
const cancelRequest = (watchId: bigint) => WatchRequest.fromPartial({ requestUnion: { $case: 'cancelRequest', cancelRequest: { watchId } } });
const isProgressReply = (m: WatchResponse) => m.watchId === -1n && !m.created && !m.canceled && m.events.length === 0;

progress('timed progress notifications (the per-version flag) move a quiet watcher\'s resume revision; the client never asks for one', async ({ client }) => {
  const p = uniquePrefix('versions-timed');
  const w = new Watcher(client, p + 'quiet', () => {});
  try {
    await w.ready();
    let last = 0;
    for (let i = 0; i < 3; i++) last = ok(await client.put(`${p}busy${i}`, 'x')).index();
    await eventually(() => w.nextRevision() > last, 5000, `a progress notification past revision ${last}`);
  } finally {
    await w.Cancel();
  }
});

progress('a requested progress reply carries a revision at least that of every write before it', async ({ client }) => {
  const p = uniquePrefix('versions-req');
  const stream = client.raw.watch.watch();
  const r = reader<WatchResponse>(stream);
  try {
    stream.write(create(Buffer.from(p + 'k')));
    assert.ok((await r.next(5000, 'created')).created);
    const last = ok(await client.put(p + 'k', 'v')).index();
    stream.write(progressRequest());
    for (;;) {
      const m = await r.next(5000, 'the progress reply');
      if (!isProgressReply(m)) continue;
      assert.ok(Number(m.header!.revision) >= last, `progress at ${m.header!.revision}, last write ${last}`);
      break;
    }
  } finally {
    stream.destroy();
  }
});

testOnEtcd(ETCD_PROGRESS_ORDERED, progress, 'a requested progress reply comes after the events of earlier writes', async () => {
  const { client } = currentProgress!;
  const p = uniquePrefix('versions-order');
  const stream = client.raw.watch.watch();
  const r = reader<WatchResponse>(stream);
  try {
    stream.write(create(Buffer.from(p + 'k')));
    assert.ok((await r.next(5000, 'created')).created);
    const revs: number[] = [];
    for (let i = 0; i < 5; i++) revs.push(ok(await client.put(p + 'k', String(i))).index());
    stream.write(progressRequest());
    const seen: number[] = [];
    for (;;) {
      const m = await r.next(5000, 'events, then the progress reply');
      if (isProgressReply(m)) {
        assert.equal(seen, revs, 'every earlier event came before the progress reply');
        assert.ok(Number(m.header!.revision) >= revs[revs.length - 1]!);
        break;
      }
      for (const e of m.events) seen.push(Number(e.kv!.modRevision));
    }
  } finally {
    stream.destroy();
  }
});

// A watcher waiting for a future revision keeps the stream from being "all synced" on etcd with the ordered
// progress and the future-revision fix (3.4.38, 3.5.22, 3.6.2): the request is dropped, without an answer or an
// error. Before the ordering fix it was answered at once.
const DROPS_WHILE_FUTURE = '>=3.4.38 <3.5 || >=3.5.22 <3.6 || >=3.6.2';

async function progressRepliesAroundFutureWatcher(client: Client): Promise<number> {
  const p = uniquePrefix('versions-drop');
  const stream = client.raw.watch.watch();
  const r = reader<WatchResponse>(stream);
  try {
    stream.write(create(Buffer.from(p + 'synced')));
    assert.ok((await r.next(5000, 'created (synced)')).created);
    const rev = ok(await client.put(p + 'x', 'v')).index();
    stream.write(create(Buffer.from(p + 'future'), BigInt(rev + 1_000_000)));
    const future = await r.next(5000, 'created (future)');
    assert.ok(future.created && !future.canceled);
    let replies = 0;
    stream.write(progressRequest()); // the one etcd may drop: a reply to it would carry revision `rev`
    stream.write(cancelRequest(future.watchId));
    for (;;) {
      const m = await r.next(5000, 'the cancel answer');
      if (isProgressReply(m)) replies++;
      else if (m.canceled && m.watchId === future.watchId) break;
    }
    // Every watcher is synced now. A write, then a second request: its reply carries the new revision, and a
    // reply to the first request, if any, came before it (on the same stream, from the same sender).
    const rev2 = ok(await client.put(p + 'x', 'w')).index();
    stream.write(progressRequest());
    for (;;) {
      const m = await r.next(5000, 'the reply to the second progress request');
      if (!isProgressReply(m)) continue;
      replies++;
      if (Number(m.header!.revision) >= rev2) break;
    }
    return replies;
  } finally {
    stream.destroy();
  }
}

testOnEtcd(DROPS_WHILE_FUTURE, progress, 'a progress request while a watcher waits for a future revision is dropped silently; asked again once synced, it is answered', async () => {
  assert.is(await progressRepliesAroundFutureWatcher(currentProgress!.client), 1, 'only the second request was answered');
});

testOnEtcd('<3.4.25', progress, 'a progress request while a watcher waits for a future revision is answered at once', async () => {
  assert.is(await progressRepliesAroundFutureWatcher(currentProgress!.client), 2, 'both requests were answered');
});

progress.run();
