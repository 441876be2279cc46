// Fail-over on a three-member etcd cluster, every endpoint given to the client. Killing or pausing (SIGSTOP)
// any one member — the leader, or the member carrying the client's watch or keepalive stream — leaves puts,
// gets, a Watcher and the keepalive of a 3 s lease working (across an election too: a lease in doubt is
// verified with etcd, not reported lost); a paused member (connection open but silent) is
// found by HTTP/2 keepalive pings, never more often than etcd's 5 s floor, and calls with a timeout that hit it
// answer 4 while the next ones go elsewhere. A member that lost its leader refuses at once ("no leader") and
// ends its streams. Beside all this, a single-member etcd behind proxies checks the ping pacing: pings every
// ~6 s on an idle stream, no GOAWAY too_many_pings, no reconnect, over 30 s with busy streams.

import * as grpc from '@grpc/grpc-js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Discovery, KeepAlive, KeepAliveError, Registry, Watcher } from '../../src/index';
import { LOSS_GRACE_MS, leaseKeeper } from '../../src/lease-keeper';
import { KEEPALIVE_TIME_MS, KEEPALIVE_TIMEOUT_MS } from '../../src/transport/grpc-js';
import { startEtcd, type EtcdCluster, type EtcdMember } from '../helpers/etcd';
import { startProxy, type Proxy } from '../../src/testing';
import { eventually, ok, uniquePrefix } from './util';
import { pause, within } from '../helpers/wait';
import { assertEachValueOnce, etcdHistory } from '../helpers/history';
import { track } from '../helpers/discovery';
import { recorder } from '../helpers/watch';

// ---- grpc-js's own log: a GOAWAY too_many_pings is logged (at ERROR) as "excess pings" -------------------

const grpcLog: string[] = [];
const capture = (...args: unknown[]) => void grpcLog.push(args.map(String).join(' '));
grpc.setLogger({ error: capture, info: capture, debug: capture });

// ---- helpers ---------------------------------------------------------------------------------------------

/** Sums a Prometheus counter of one member over the lines that match `labels`. */
async function counter(member: EtcdMember, name: string, labels: RegExp): Promise<number> {
  const text = await (await fetch(`${member.clientUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const close = line.indexOf('}');
    if (labels.test(line.slice(0, close))) sum += Number(line.slice(close + 1));
  }
  return sum;
}

/** Streams of `method` open on a member right now (gRPC server started − handled). */
async function openStreams(member: EtcdMember, method: 'Watch' | 'LeaseKeepAlive'): Promise<number> {
  const m = new RegExp(`grpc_method="${method}"`);
  return (await counter(member, 'grpc_server_started_total', m)) - (await counter(member, 'grpc_server_handled_total', m));
}

/** The one running member that carries a `method` stream (this suite's clients are the only stream users). */
async function streamHost(cluster: EtcdCluster, method: 'Watch' | 'LeaseKeepAlive'): Promise<EtcdMember> {
  return eventually(async () => {
    const live = cluster.members.filter((m) => m.isRunning && !m.isPaused);
    const counts = await Promise.all(live.map((m) => openStreams(m, method)));
    const hosts = live.filter((_, i) => counts[i]! > 0);
    return hosts.length === 1 ? hosts[0] : undefined;
  }, 10_000, `the one member carrying the ${method} stream`);
}

/** Does the member, asked directly over etcd's JSON gateway, know a leader? */
async function hasLeader(member: EtcdMember): Promise<boolean> {
  const res = await fetch(`${member.clientUrl}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(1000) });
  const status = (await res.json()) as { leader?: string };
  return status.leader !== undefined && status.leader !== '0';
}

/**
 * A client, a lease kept alive (3 s unless said) and a prefix Watcher recording revisions: what each fault must
 * not break. `first` lists that member's endpoint first, so the client's first streams usually start there.
 */
async function workload(cluster: EtcdCluster, topic: string, opts: { ttl?: number; first?: EtcdMember; graceMs?: number } = {}) {
  const prefix = uniquePrefix(topic);
  const first = opts.first;
  const options = { keepAliveGraceMs: opts.graceMs ?? 0 };
  const client = first
    ? new Client([first, ...cluster.members.filter((m) => m !== first)].map((m) => m.clientUrl).join(','), options)
    : new Client(cluster.endpoint, options);
  const ka: KeepAlive = await client.leasekeepalive(opts.ttl ?? 3);
  let kaEnded: Error | 'cancelled' | undefined;
  void ka.closed().then((e) => (kaEnded = e ?? 'cancelled'));
  const rec = recorder();
  const watcher = new Watcher(client, prefix, rec.cb, true);
  const startRev = (await watcher.ready()) + 1;
  // warm up: every member connected, the lease refreshed at least once
  for (let i = 0; i < 6; i++) ok(await client.put(`${prefix}warm`, String(i)), 'warm-up put');
  return {
    prefix,
    client,
    ka,
    watcher,
    /** The first revision the watcher delivers. */
    startRev,
    /** Every event the watcher delivered, and its error Responses (recorded, asserted by the test). */
    rec,
    /** The revisions the watcher delivered. */
    get seen() {
      return rec.events.map((e) => e.rev);
    },
    get kaEnded() {
      return kaEnded;
    },
    async close() {
      await watcher.Cancel();
      ka.Cancel();
      await client.close();
    },
  };
}
type Workload = Awaited<ReturnType<typeof workload>>;

interface DriveResult {
  written: number[];
  failures: string[];
  /** [started ms after the fault, took ms] of every put and get. */
  calls: [number, number][];
}

/**
 * Puts and gets in a loop for `ms` after the fault (and until 10 puts succeeded, at most 30 s): every call must
 * settle (bounded), puts may fail only with 14 while the cluster reorganises (a put a follower forwarded to a
 * leader that died answers after etcd's 7 s request timeout), gets must succeed (retried on another member).
 * Every put writes a value of its own (`v<i>`), so etcd's history shows a put applied twice.
 */
async function drive(w: Workload, ms: number): Promise<DriveResult> {
  const t0 = Date.now();
  const out: DriveResult = { written: [], failures: [], calls: [] };
  for (let i = 0; (Date.now() - t0 < ms || out.written.length < 10) && Date.now() - t0 < 30_000; i++) {
    let start = Date.now();
    const p = await within(w.client.put(`${w.prefix}k${i % 7}`, `v${i}`), 15_000, `put #${i}`);
    out.calls.push([start - t0, Date.now() - start]);
    if (p.is_ok()) out.written.push(p.index());
    else {
      assert.is(p.error_code(), 14, `put #${i}: ${p.error_code()} ${p.error_message()}`);
      out.failures.push(`put #${i} at ${start - t0} ms: ${p.error_message()}`);
    }
    start = Date.now();
    const g = await within(w.client.get(`${w.prefix}warm`), 15_000, `get #${i}`);
    out.calls.push([start - t0, Date.now() - start]);
    ok(g, `get #${i} at ${start - t0} ms`);
    await pause(50, 'pace the loop');
  }
  return out;
}

/**
 * After the fault: no write was applied twice (etcd's own history, read revision by revision), the watcher
 * delivered exactly etcd's history, every acknowledged write is in it, the lease lives, calls are prompt again.
 */
async function assertSurvived(cluster: EtcdCluster, w: Workload, r: DriveResult, what: string): Promise<void> {
  assert.ok(r.written.length >= 10, `${what}: only ${r.written.length} puts succeeded (${r.failures.join('; ')})`);
  // nothing stays stuck on the faulty member: the last calls all answer promptly (3 s: no 5 s connect wait, no
  // 7 s request timeout, with a loaded machine's slack)
  const last = r.calls.slice(-8);
  for (const [at, took] of last) assert.ok(took < 3000, `${what}: a call ${at} ms after the fault took ${took} ms`);
  // the watcher (resumed elsewhere if its member was hit) delivers every acknowledged write, once, in order
  const final = ok(await w.client.put(`${w.prefix}final`, 'x'), `${what}: final put`).index();
  await eventually(() => w.seen.includes(final), 10_000, `${what}: the watcher to see revision ${final}`);
  assert.equal(w.rec.errors, [], `${what}: no error Response on the watcher`);
  for (let i = 1; i < w.seen.length; i++) assert.ok(w.seen[i]! > w.seen[i - 1]!, `${what}: watch revisions in order, once`);
  const missing = r.written.filter((rev) => !w.seen.includes(rev));
  assert.equal(missing, [], `${what}: acknowledged writes the watcher never delivered`);
  // at most once, against etcd itself: a put retried after it had landed is a second revision with its value
  const live = cluster.members.filter((m) => m.isRunning && !m.isPaused).map((m) => m.clientUrl);
  const reader = new Client(live.join(','));
  try {
    const history = await etcdHistory(reader, w.prefix, w.startRev, final);
    assertEachValueOnce(history, what);
    assert.equal(w.rec.events, history, `${what}: the watcher delivered exactly etcd's history`);
    const acknowledged = new Set(r.written);
    assert.ok(history.filter((h) => acknowledged.has(h.rev)).length === acknowledged.size, `${what}: every acknowledged put is in etcd's history`);
  } finally {
    await reader.close();
  }
  // the 3 s lease survived: the KeepAlive is running and etcd still has it
  assert.is(w.kaEnded, undefined, `${what}: keepalive ended: ${String(w.kaEnded)}`);
  await w.ka.Check();
  const checker = new Client(live.join(','));
  try {
    const ttl = ok(await checker.leasetimetolive(w.ka.Lease()), `${what}: leasetimetolive`).value().ttl();
    assert.ok(ttl > 0, `${what}: lease TTL ${ttl}`);
  } finally {
    await checker.close();
  }
}

async function restore(cluster: EtcdCluster): Promise<void> {
  for (const m of cluster.members) {
    if (m.isPaused) m.resume();
    else if (!m.isRunning) await m.start();
  }
  await cluster.waitHealthy();
}

// ---- ping pacing, checked beside the fault tests ---------------------------------------------------------

interface PingReport {
  /** ms since start at which the idle client sent bytes (pings only: nothing else is sent on an idle watch). */
  idleSends: number[];
  idleConnections: number;
  busyConnections: number;
  busyCalls: number;
  busyFailures: string[];
}

const PING_RUN_MS = 30_000;

/**
 * For 30 s, one client with only an idle Watcher and one busy client (watcher, keepalive, a call every 100 ms)
 * talk to a single etcd through counting proxies.
 */
async function pingRun(): Promise<PingReport> {
  const single = await startEtcd({ name: 'it-cluster-pings', dataDirOnTmpfs: true });
  let idleProxy: Proxy | undefined;
  let busyProxy: Proxy | undefined;
  const clients: Client[] = [];
  try {
    idleProxy = await startProxy(single.endpoints[0]!);
    busyProxy = await startProxy(single.endpoints[0]!);
    const idle = new Client(idleProxy.url);
    const busy = new Client(busyProxy.url);
    clients.push(idle, busy);
    const prefix = uniquePrefix('pings');
    await new Watcher(idle, `${prefix}idle/`, () => {}, true).ready();
    await new Watcher(busy, `${prefix}busy/`, () => {}, true).ready();
    const ka = await busy.leasekeepalive(2);
    const start = Date.now();
    const idleSends: number[] = [];
    let lastUp = idleProxy.bytesUp;
    const sampler = setInterval(() => {
      if (idleProxy!.bytesUp !== lastUp) {
        lastUp = idleProxy!.bytesUp;
        idleSends.push(Date.now() - start);
      }
    }, 20);
    let busyCalls = 0;
    const busyFailures: string[] = [];
    while (Date.now() - start < PING_RUN_MS) {
      const r = await busy.put(`${prefix}busy/k`, String(busyCalls));
      busyCalls++;
      if (!r.is_ok()) busyFailures.push(`${r.error_code()} ${r.error_message()}`);
      await pause(100, 'the pace of the busy client');
    }
    clearInterval(sampler);
    await ka.Check();
    return {
      idleSends,
      idleConnections: idleProxy.totalConnections,
      busyConnections: busyProxy.totalConnections,
      busyCalls,
      busyFailures,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await idleProxy?.close();
    await busyProxy?.close();
    await single.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------

const test = suite<{ cluster: EtcdCluster }>('three members: kill, pause, isolate');

test.before(async (ctx) => {
  ctx.cluster = await startEtcd({ members: 3, name: 'it-cluster', dataDirOnTmpfs: true });
});

test.after(async (ctx) => {
  for (const m of ctx.cluster?.members ?? []) m.resume();
  await ctx.cluster?.stop();
});

test('killing the leader: puts, gets, the watcher and a 3 s lease keep working', async ({ cluster }) => {
  // Refreshes need a leader, and the election after a leader dies takes 1-2.5 s here, on top of the fail-over,
  // so a 3 s lease's local deadline may pass unrefreshed: the lease is then in doubt, not lost, until etcd (whose
  // new leader extended every lease) answers — with the client option keepAliveGraceMs (without it the lease is
  // reported lost at its deadline, as a lock holder needs). assertSurvived: no loss reported, etcd still has it.
  const w = await workload(cluster, 'kill-leader', { ttl: 3, graceMs: LOSS_GRACE_MS });
  try {
    const leader = await cluster.leader();
    await leader.kill();
    const r = await drive(w, 6_000);
    await assertSurvived(cluster, w, r, `after killing leader ${leader.name}`);
  } finally {
    await w.close();
    await restore(cluster);
  }
});

test('killing the leader: a registration (3 s lease) stays registered and discovered, never lost', async ({ cluster }) => {
  // As the README recommends for Registry clients: a lease whose local deadline passes during the election is in
  // doubt until etcd answers, instead of lost at once (with 3 s leases a loaded machine's election can take that).
  const owner = new Client(cluster.endpoint, { keepAliveGraceMs: 5000 });
  const watcher = new Client(cluster.endpoint);
  const prefix = uniquePrefix('cl-reg').slice(0, -1);
  const registry = new Registry(owner, { prefix, ttl: 3 });
  const discovery = new Discovery(watcher, { prefix });
  const t = track(discovery);
  try {
    const reg = await registry.register('svc', 'i1', '127.0.0.1:9000');
    const lost: Error[] = [];
    reg.onLost((e) => void lost.push(e));
    await discovery.start();
    assert.is(discovery.instances('svc').length, 1);
    const leader = await cluster.leader();
    await leader.kill();
    // For longer than the TTL, the key must stay readable from the surviving members every time we look.
    const until = Date.now() + 5_000;
    while (Date.now() < until) {
      const r = await within(watcher.get(reg.key), 5_000, 'get of the registration key');
      if (r.is_ok()) assert.is(r.value().as_string(), '127.0.0.1:9000');
      else assert.is(r.error_code(), 14, `only a fail-over error is acceptable, got ${r.error_code()} ${r.error_message()}`);
      await pause(250, 'spacing between the looks');
    }
    ok(await watcher.get(reg.key), 'the registration key after the TTL has passed');
    assert.is(lost.length, 0, `registration reported lost: ${lost.map((e) => e.message).join('; ')}`);
    assert.equal(discovery.instances('svc').map((i) => i.instance), ['i1']);
    // exactly once through the election: online once, never offline (no flapping while the leader changed)
    assert.equal(t.errors, [], 'online/offline exactly once');
    assert.equal(t.log, ['+svc/i1 127.0.0.1:9000'], 'one online report, no offline during the election');
  } finally {
    await discovery.close();
    await registry.close();
    await owner.close();
    await watcher.close();
    await restore(cluster);
  }
});

test('killing the leader with no quorum for longer than the TTL: the 3 s lease is in doubt, then confirmed alive, never lost', async ({ cluster }) => {
  // Without a leader etcd cannot expire leases, and the next leader extends them all: the lease's local deadline
  // passes (deterministically: the other follower is paused until it has), yet etcd still has the lease.
  const client = new Client(cluster.endpoint, { keepAliveGraceMs: LOSS_GRACE_MS });
  const lost: Error[] = [];
  let ka: KeepAlive | undefined;
  try {
    for (let i = 0; i < 3; i++) ok(await client.head(), 'warm-up'); // connected to every member
    ka = await KeepAlive.create(client, (e) => void lost.push(e), 3);
    await ka.Check();
    const keeper = leaseKeeper(client.conn);
    const before = { doubts: keeper.doubts, confirmed: keeper.confirmedAlive };
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m !== leader)!;
    follower.pause();
    await leader.kill(); // one member of three left running: no quorum, no leader
    await eventually(() => keeper.doubts > before.doubts, 6_000, 'the lease to go into doubt (no answer within its TTL)');
    follower.resume(); // quorum again: an election, and the new leader extends every lease
    await eventually(() => keeper.confirmedAlive > before.confirmed, LOSS_GRACE_MS, 'etcd to confirm the lease alive within the grace');
    assert.equal(lost.map((e) => e.message), [], 'no loss reported');
    await ka.Check();
    const ttl = ok(await client.leasetimetolive(ka.Lease()), 'leasetimetolive').value().ttl();
    assert.ok(ttl > 0, `etcd still has the lease (TTL ${ttl})`);
  } finally {
    ka?.Cancel();
    await client.close();
    await restore(cluster);
  }
});

test('killing a follower that carries the client streams: everything fails over', async ({ cluster }) => {
  // Place a stream on a follower (as the pause test does): list a follower first, and retry until one of the
  // client's streams is there; a follower carrying no stream would test nothing of stream fail-over.
  const leader = await cluster.leader();
  const follower = cluster.members.find((m) => m !== leader)!;
  let w = await workload(cluster, 'kill-follower', { first: follower });
  const hostOnFollower = async () => [await streamHost(cluster, 'LeaseKeepAlive'), await streamHost(cluster, 'Watch')].find((m) => m !== leader);
  let target = await hostOnFollower();
  for (let i = 0; !target && i < 8; i++) {
    await w.close();
    w = await workload(cluster, 'kill-follower', { first: follower });
    target = await hostOnFollower();
  }
  try {
    assert.ok(target, 'a client stream on a follower');
    await target.kill();
    const r = await drive(w, 5_000);
    await assertSurvived(cluster, w, r, `after killing follower ${target.name}`);
  } finally {
    await w.close();
    await restore(cluster);
  }
});

test('pausing a follower that carries the keepalive stream (SIGSTOP): the 3 s lease survives, calls fail over', async ({ cluster }) => {
  // The keepalive stream is pinned to a follower (the leader case is the next test; with the leader paused, even
  // live members need an election before they answer).
  const leader = await cluster.leader();
  const follower = cluster.members.find((m) => m !== leader)!;
  let w = await workload(cluster, 'pause-ka-host', { first: follower });
  let target = await streamHost(cluster, 'LeaseKeepAlive');
  for (let i = 0; target === leader && i < 8; i++) {
    await w.close();
    w = await workload(cluster, 'pause-ka-host', { first: follower });
    target = await streamHost(cluster, 'LeaseKeepAlive');
  }
  assert.is.not(target, leader, 'a keepalive stream on a follower');
  const timed = new Client(cluster.endpoint);
  try {
    for (let i = 0; i < 3; i++) ok(await timed.head());
    timed.set_grpc_timeout(1000);
    target.pause();
    // With a client timeout, a call that lands on the silent member answers 4 and the next goes elsewhere.
    const timedCheck = (async () => {
      const codes: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await within(timed.get(`${w.prefix}warm`), 3_000, `timed get #${i}`);
        if (!r.is_ok()) assert.is(r.error_message(), 'gRPC timeout', `timed get #${i}: ${r.error_code()} ${r.error_message()}`);
        codes.push(r.error_code());
      }
      return codes;
    })();
    const r = await drive(w, 12_000);
    const codes = await timedCheck;
    assert.ok(codes.includes(4), `a call routed to the paused member timed out (codes ${codes})`);
    for (let i = 1; i < codes.length; i++) {
      if (codes[i - 1] === 4) assert.is(codes[i], 0, `the call after a timeout went to a live member (codes ${codes})`);
    }
    await assertSurvived(cluster, w, r, `after pausing ${target.name}`);
  } finally {
    await timed.close();
    await w.close();
    await restore(cluster);
  }
});

test('pausing the leader (SIGSTOP): a new leader is elected, the lease and the watcher survive', async ({ cluster }) => {
  const w = await workload(cluster, 'pause-leader', { ttl: 3, graceMs: LOSS_GRACE_MS }); // an election first: see 'killing the leader'
  try {
    const leader = await cluster.leader();
    leader.pause();
    const r = await drive(w, 12_000);
    await assertSurvived(cluster, w, r, `after pausing leader ${leader.name}`);
  } finally {
    await w.close();
    await restore(cluster);
  }
});

test('a member that lost its leader refuses calls at once with 14 "no leader" and ends its streams', async ({ cluster }) => {
  const w = await workload(cluster, 'isolated');
  let kaError: Error | undefined;
  void w.ka.closed().then((e) => (kaError = e));
  try {
    const survivor = cluster.members[0]!;
    await Promise.all(cluster.members.slice(1).map((m) => m.kill()));
    await eventually(async () => !(await hasLeader(survivor)), 10_000, 'the survivor to lose its leader');
    // each is refused at once and retried a few times (riding out a possible election), then reported
    const calls = [
      ['get', () => w.client.get(`${w.prefix}warm`)],
      ['put', () => w.client.put(`${w.prefix}k`, 'v')],
      ['ls', () => w.client.ls(w.prefix)],
      ['txn-based add', () => w.client.add(`${w.prefix}new`, 'v')],
      ['leasegrant', () => w.client.leasegrant(5)],
      ['leasetimetolive', () => w.client.leasetimetolive(w.ka.Lease())],
    ] as const;
    await Promise.all(
      calls.map(async ([what, call]) => {
        const t0 = Date.now();
        const r = await within(call(), 8_000, what);
        const took = Date.now() - t0;
        assert.is(r.error_code(), 14, `${what}: ${r.error_code()} ${r.error_message()}`);
        assert.is(r.error_message(), 'etcdserver: no leader', what);
        assert.ok(took < 5_000, `${what} answered after ${took} ms`);
      }),
    );
    // member-local calls still work on a leaderless member
    assert.ok(ok(await w.client.list_member(), 'list_member').members().length === 3);
    // the watch stream carries hasleader: the survivor ends it (etcd waits 3 election timeouts), and refuses new ones
    const m = /grpc_method="Watch".*grpc_code="Unavailable"|grpc_code="Unavailable".*grpc_method="Watch"/;
    await eventually(async () => (await counter(survivor, 'grpc_server_handled_total', m)) > 0, 10_000, 'the leaderless member to end the watch stream');
    // the keepalive cannot refresh without a leader: it reports the loss instead of hanging
    await eventually(() => kaError !== undefined, 8_000, 'the keepalive to give up');
    assert.instance(kaError, KeepAliveError);
    // back to a healthy cluster: the same client and watcher carry on
    await restore(cluster);
    const p = await eventually(async () => {
      const r = await w.client.put(`${w.prefix}after`, 'v');
      return r.is_ok() ? r : undefined;
    }, 10_000, 'a put after the cluster healed');
    await eventually(() => w.seen.includes(p.index()), 10_000, 'the watcher to resume after the cluster healed');
    assert.not.ok(w.watcher.Cancelled());
  } finally {
    await w.close();
    await restore(cluster);
  }
});

test('HTTP/2 keepalive pings: ~6 s apart on an idle stream, no GOAWAY too_many_pings, no reconnect in 30 s', async () => {
  // Run after the fault tests, not beside them: its load (a fourth etcd, a 30 s put loop) would eat their latency
  // bounds' slack on a 2-core machine.
  const r = await within(pingRun(), 90_000, 'the ping run');
  // the idle client sends nothing but pings: each send is one ping
  const sends = r.idleSends;
  assert.ok(sends.length >= 3, `pings on the idle connection at ${sends} ms`);
  for (let i = 1; i < sends.length; i++) {
    const gap = sends[i]! - sends[i - 1]!;
    assert.ok(gap >= 5_000, `two pings only ${gap} ms apart (${sends}): etcd's floor is 5 s`);
    assert.ok(gap <= KEEPALIVE_TIME_MS + KEEPALIVE_TIMEOUT_MS, `pings ${gap} ms apart (${sends})`);
  }
  assert.is(r.idleConnections, 1, 'the idle client kept its connection');
  assert.is(r.busyConnections, 1, 'the busy client kept its connection (a GOAWAY would force a reconnect)');
  // Busy: a call every 100 ms when calls are quick; 30 is one a second, enough to keep streams and pings busy.
  assert.ok(r.busyCalls > 30, `${r.busyCalls} calls`);
  assert.equal(r.busyFailures, []);
  const goaways = grpcLog.filter((l) => /excess pings|too_many_pings/i.test(l));
  assert.equal(goaways, [], 'grpc-js logged a GOAWAY too_many_pings');
});

test.run();
