// KeepAlive against a real etcd: refresh pacing, lease loss (revoke, long outage, expiry while cut off, each
// within the documented bound), Cancel, one shared stream, surviving a proxy outage and etcd restarts (one longer
// than the TTL: a lease in doubt that etcd confirms alive), and closing with the client.

import * as path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, ClientClosedError, KeepAlive, KeepAliveError, LeaseExpiredError } from '../../src/index';
import { LOSS_GRACE_MS, leaseKeeper } from '../../src/lease-keeper';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { startProxy, type Proxy } from '../../src/testing';
import { eventually, ok } from './util';
import { pause, settle, within } from '../helpers/wait';
import { remainingTtl } from '../helpers/lease';
import { runChild, startChild } from '../helpers/child';
import { closeOwned, owned } from '../helpers/cleanup';
import { rejection } from '../helpers/throws';

let cluster: EtcdCluster;
let client: Client;

const test = suite('keepalive integration');

test.before(async () => {
  cluster = await startEtcd({ name: 'it-keepalive', dataDirOnTmpfs: true });
  client = new Client(cluster.endpoint);
});

test.after.each(closeOwned);
test.after(async () => {
  await client?.close();
  await cluster?.stop();
});

/** A handler that records every call, with a promise for the first. */
function recorder() {
  const calls: Error[] = [];
  let first!: (e: Error) => void;
  const firstCall = new Promise<Error>((r) => (first = r));
  return {
    calls,
    firstCall,
    handler: (e: Error) => {
      calls.push(e);
      first(e);
    },
  };
}

test('leasekeepalive(3) keeps a 3 s lease alive well past its TTL; Check() passes', async () => {
  const ka = await client.leasekeepalive(3);
  try {
    const id = ka.Lease();
    assert.is(typeof id, 'bigint');
    assert.ok(id > 0n);
    const start = Date.now();
    let polls = 0;
    while (Date.now() - start < 7500) {
      const ttl = await remainingTtl(client, id);
      assert.ok(ttl > 0, `lease ${id} expired after ${Date.now() - start} ms (ttl ${ttl})`);
      polls++;
      await pause(500, 'spacing between the TTL polls');
    }
    assert.ok(polls >= 2, `${polls} TTL polls in 7.5 s`);
    await ka.Check();
    assert.ok((await remainingTtl(client, id)) > 0);
  } finally {
    ka.Cancel();
    await client.leaserevoke(ka.Lease());
  }
});

test('revoked lease: handler gets LeaseExpiredError (a RangeError) promptly; Check() rejects with it', async () => {
  const rec = recorder();
  const ka = await KeepAlive.create(client, rec.handler, 3);
  await ka.Check();
  ok(await client.leaserevoke(ka.Lease()), 'leaserevoke');
  const revokedAt = Date.now();
  const err = await within(rec.firstCall, 5000, 'handler after revoke');
  // The next refresh (every TTL/3 = 1 s) carries etcd's verdict; a local-deadline report would be a KeepAliveError.
  assert.ok(Date.now() - revokedAt < 4000, `handler took ${Date.now() - revokedAt} ms`);
  assert.instance(err, LeaseExpiredError);
  assert.instance(err, RangeError);
  assert.is(err.message, 'Failed to refresh lease due to expiration: the new TTL is 0.');
  assert.is((err as LeaseExpiredError).leaseId, ka.Lease());
  const checked = await ka.Check().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.is(checked, err, 'Check() rethrows the stored error');
  assert.is(await ka.closed(), err);
  await settle(); // a duplicate call queued behind the first would have run by now
  assert.is(rec.calls.length, 1, 'handler called exactly once');
});

test('Check() on a revoked lease (before the next refresh) rejects with LeaseExpiredError and calls the handler', async () => {
  const rec = recorder();
  const granted = ok(await client.leasegrant(30));
  const ka = new KeepAlive(client, rec.handler, 30, granted.value().lease());
  await ka.Check();
  ok(await client.leaserevoke(ka.Lease()));
  const err = await rejection(ka.Check(), LeaseExpiredError, 'ka.Check()');
  assert.is(await within(rec.firstCall, 5000, 'handler'), err);
  await settle();
  assert.is(rec.calls.length, 1, 'handler called exactly once');
});

test('Cancel() stops refreshing and does not revoke: the lease lives on, then expires', async () => {
  const rec = recorder();
  const ka = await KeepAlive.create(client, rec.handler, 2);
  const id = ka.Lease();
  await ka.Check();
  ka.Cancel();
  ka.Cancel(); // idempotent
  assert.ok((await remainingTtl(client, id)) > 0, 'not revoked by Cancel');
  assert.is(await ka.closed(), undefined);
  const checked = await rejection(ka.Check(), KeepAliveError, 'ka.Check()');
  assert.match((checked as Error).message, /cancelled/);
  await eventually(async () => (await remainingTtl(client, id)) === -1, 6000, 'the cancelled lease to expire');
  assert.is(rec.calls.length, 0, 'no handler call on Cancel');
});

test('20 keepalives share one LeaseKeepAlive stream', async () => {
  const keeper = leaseKeeper(client.conn);
  assert.is(keeper.size, 0, 'no keepalive left over from earlier tests');
  const before = keeper.streamsOpened;
  const all = await Promise.all(Array.from({ length: 20 }, () => client.leasekeepalive(10)));
  try {
    assert.is(new Set(all.map((k) => k.Lease())).size, 20);
    await Promise.all(all.map((k) => k.Check()));
    assert.is(keeper.size, 20);
    assert.is(keeper.streamsOpened - before, 1, 'exactly one stream opened for 20 leases');
    assert.is(keeper.currentState, 'open');
  } finally {
    for (const k of all) k.Cancel();
    await Promise.all(all.map((k) => client.leaserevoke(k.Lease())));
  }
  assert.is(keeper.size, 0);
  assert.is(keeper.currentState, 'idle', 'stream ended once the last keepalive was cancelled');
});

test('survives a 1 s outage through a proxy; the lease is refreshed again afterwards', async () => {
  const proxy: Proxy = await startProxy(cluster.endpoint);
  const pc = owned(new Client(proxy.url));
  try {
    const rec = recorder();
    const ka = await KeepAlive.create(pc, rec.handler, 5);
    const id = ka.Lease();
    await ka.Check();
    const keeper = leaseKeeper(pc.conn);
    const before = keeper.streamsOpened;
    proxy.cut();
    const cutAt = Date.now();
    await pause(1000, 'the outage itself');
    proxy.restore();
    // Without a refresh after the cut the lease would end by cutAt + 5 s; seeing it end later proves one.
    await eventually(
      async () => Date.now() + (await remainingTtl(client, id)) * 1000 > cutAt + 5000,
      5000,
      'a refresh after the outage',
    );
    assert.ok(keeper.streamsOpened > before, 'the keepalive stream was reopened');
    assert.is(rec.calls.length, 0, 'no handler call for a short outage');
    await ka.Check();
    ka.Cancel();
    ok(await client.leaserevoke(id));
  } finally {
    await pc.close();
    await proxy.close();
  }
});

test('etcd unreachable (default, no grace): KeepAliveError (code 4) at the lease\'s local deadline, before etcd could expire it', async () => {
  const proxy: Proxy = await startProxy(cluster.endpoint);
  const pc = owned(new Client(proxy.url));
  try {
    const rec = recorder();
    const ka = await KeepAlive.create(pc, rec.handler, 2);
    await ka.Check();
    proxy.cut();
    const cutAt = Date.now();
    const err = await within(rec.firstCall, 3000, 'handler at the local deadline');
    const took = Date.now() - cutAt;
    proxy.restore();
    assert.instance(err, KeepAliveError);
    assert.is((err as KeepAliveError).code, 4);
    assert.match(err.message, /within its TTL \(2 s\) \(etcd unreachable/);
    // The local deadline is the TTL (2 s) from the last answered refresh, sent before the cut; a timer may fire late
    // on a loaded machine, but not by the grace (5 s) a wrong default would add.
    assert.ok(took <= 3500, `reported ${took} ms after the cut: no later than the TTL from the last answered refresh`);
    assert.is(await ka.closed(), err);
  } finally {
    await pc.close();
    await proxy.close();
  }
});

test('with a grace: etcd unreachable for good: KeepAliveError (code 4) to the handler within TTL + grace of the last refresh, not before', async () => {
  const proxy: Proxy = await startProxy(cluster.endpoint);
  const pc = owned(new Client(proxy.url, { keepAliveGraceMs: LOSS_GRACE_MS }));
  try {
    const rec = recorder();
    const ka = await KeepAlive.create(pc, rec.handler, 2);
    const checkedAt = Date.now();
    await ka.Check(); // a refresh sent at or after checkedAt was answered
    proxy.cut(); // every connection reset, new ones refused: no member can be reached
    const cutAt = Date.now();
    const bound = 2000 + LOSS_GRACE_MS; // the last answered refresh was sent before the cut
    const err = await within(rec.firstCall, bound + 1000, 'handler during a long outage');
    const reportedAt = Date.now();
    proxy.restore();
    assert.instance(err, KeepAliveError);
    assert.is((err as KeepAliveError).code, 4);
    assert.match(err.message, /within its TTL \(2 s\) \+ 5 s grace/);
    assert.ok(reportedAt - cutAt <= bound + 1500, `reported ${reportedAt - cutAt} ms after the cut (bound ${bound} ms, plus a loaded machine's timer lateness)`);
    assert.ok(reportedAt - checkedAt >= bound - 50, `reported ${reportedAt - checkedAt} ms after the last known refresh: before the grace ended`);
    assert.is(await ka.closed(), err);
    const checked = await ka.Check().then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.is(checked, err);
    await settle();
    assert.is(rec.calls.length, 1, 'handler called exactly once');
  } finally {
    await pc.close();
    await proxy.close();
  }
});

test('with a grace: a lease that really expired while the client was cut off: LeaseExpiredError once etcd is reachable again, within the bound', async () => {
  const proxy: Proxy = await startProxy(cluster.endpoint);
  const pc = owned(new Client(proxy.url, { keepAliveGraceMs: LOSS_GRACE_MS }));
  try {
    const rec = recorder();
    const ka = await KeepAlive.create(pc, rec.handler, 2);
    const id = ka.Lease();
    await ka.Check();
    const keeper = leaseKeeper(pc.conn);
    const doubtsBefore = keeper.doubts;
    proxy.cut();
    const cutAt = Date.now();
    // etcd (reached directly) expires the lease: it is gone on the server, the cut-off client cannot know yet
    await eventually(async () => (await remainingTtl(client, id)) === -1, 6000, 'etcd to expire the lease');
    await eventually(() => keeper.doubts > doubtsBefore, 3000, 'the local deadline to pass (lease in doubt)');
    assert.is(rec.calls.length, 0, 'in doubt, not reported yet');
    proxy.restore();
    const err = await within(rec.firstCall, 2000 + LOSS_GRACE_MS, 'handler once etcd is reachable again');
    const took = Date.now() - cutAt;
    assert.instance(err, LeaseExpiredError, `etcd's verdict, not the local bound: got ${err}`);
    assert.ok(took <= 2000 + LOSS_GRACE_MS, `reported ${took} ms after the cut`);
    assert.is(keeper.confirmedAlive, 0);
    assert.is(await ka.closed(), err);
    await settle();
    assert.is(rec.calls.length, 1, 'handler called exactly once');
  } finally {
    await pc.close();
    await proxy.close();
  }
});

test('with a grace: etcd down for longer than the TTL (3 s lease, 3.5 s outage): in doubt, then confirmed alive by etcd, no loss reported', async () => {
  // etcd keeps leases across a restart and extends them all when its leader takes over, so the lease is alive
  // although no refresh was answered within its TTL.
  const gc = owned(new Client(cluster.endpoint, { keepAliveGraceMs: LOSS_GRACE_MS }));
  const rec = recorder();
  const ka = await KeepAlive.create(gc, rec.handler, 3);
  const id = ka.Lease();
  await ka.Check();
  const keeper = leaseKeeper(gc.conn);
  const before = { doubts: keeper.doubts, confirmed: keeper.confirmedAlive };
  const member = cluster.members[0]!;
  try {
    // SIGKILL, so the outage starts when the process exits on every version: on SIGTERM etcd 3.5+ first drains its
    // open streams (this keepalive's among them) for up to ~7 s, still answering refreshes meanwhile.
    await member.kill();
    await pause(3500, 'the outage itself: longer than the TTL');
    await member.start();
    await eventually(() => keeper.confirmedAlive > before.confirmed, LOSS_GRACE_MS, 'etcd to confirm the lease in doubt alive');
    assert.ok(keeper.doubts > before.doubts, 'the local deadline passed during the outage');
    await ka.Check();
    assert.ok((await remainingTtl(client, id)) > 0, 'etcd still has the lease');
    assert.is(rec.calls.length, 0, `loss reported: ${rec.calls.map((e) => e.message).join('; ')}`);
  } finally {
    if (!member.isRunning) await member.start();
    ka.Cancel();
    await client.leaserevoke(id);
    await gc.close();
  }
});

test('survives an etcd restart with a 5 s lease', async () => {
  const rec = recorder();
  const ka = await KeepAlive.create(client, rec.handler, 5);
  const id = ka.Lease();
  await ka.Check();
  const keeper = leaseKeeper(client.conn);
  const before = keeper.streamsOpened;
  const member = cluster.members[0]!;
  await member.stop();
  await member.start();
  await eventually(() => keeper.streamsOpened > before && keeper.currentState === 'open', 5000, 'the keepalive stream to reopen');
  await ka.Check(); // a refresh answered on the new stream, after the restart
  assert.ok((await remainingTtl(client, id)) > 0);
  assert.is(rec.calls.length, 0);
  ka.Cancel();
  ok(await client.leaserevoke(id));
});

test('keepAliveGraceMs is checked when the client is made: a clear error names it', () => {
  assert.throws(() => new Client(cluster.endpoint, { keepAliveGraceMs: -1 }), (e: Error) => e instanceof RangeError && /keepAliveGraceMs/.test(e.message));
  assert.throws(() => new Client(cluster.endpoint, { keepAliveGraceMs: '5000' as unknown as number }), (e: Error) => e instanceof TypeError && /keepAliveGraceMs/.test(e.message));
  assert.throws(() => new Client(cluster.endpoint, { keepAliveGraceMs: 1.5 }), (e: Error) => e instanceof RangeError && /keepAliveGraceMs/.test(e.message));
});

test('the URL form owns its client; argument checks throw synchronously', async () => {
  const ka = await KeepAlive.create(cluster.endpoint, 5);
  await ka.Check();
  assert.ok((await remainingTtl(client, ka.Lease())) > 0);
  ka.Cancel();
  ok(await client.leaserevoke(ka.Lease()));

  assert.throws(() => new KeepAlive(client, 0, 0), /ttl must be > 0 when lease_id is 0/);
  assert.throws(() => new KeepAlive(client, -1, 1n), (e: unknown) => e instanceof RangeError && /ttl/.test((e as Error).message));
  assert.throws(() => new KeepAlive(client, 'x' as unknown as number, 1n), (e: unknown) => e instanceof TypeError && /ttl/.test((e as Error).message));
  assert.throws(() => new KeepAlive(42 as unknown as Client, 5, 1n), (e: unknown) => e instanceof TypeError && /client/.test((e as Error).message));
  assert.throws(() => KeepAlive.create(client, 5, -3), (e: unknown) => e instanceof RangeError && /lease_id/.test((e as Error).message));
  assert.throws(() => client.leasekeepalive(1.5), /ttl/);
});

test('client.close() ends every keepalive: no handler call, Check() rejects with ClientClosedError', async () => {
  const c = owned(new Client(cluster.endpoint));
  const rec = recorder();
  const a = await KeepAlive.create(c, rec.handler, 5);
  const b = await c.leasekeepalive(5);
  await c.close();
  assert.is(await within(a.closed(), 1000, 'a closed'), undefined);
  assert.is(await within(b.closed(), 1000, 'b closed'), undefined);
  assert.is(leaseKeeper(c.conn).currentState, 'closed');
  const checked = await rejection(a.Check(), ClientClosedError, 'a.Check()');
  const after = await rejection(c.leasekeepalive(5), ClientClosedError, 'c.leasekeepalive(5)');
  assert.is(rec.calls.length, 0);
  await client.leaserevoke(a.Lease());
  await client.leaserevoke(b.Lease());
});

test('a process with keepalives exits by itself once its client is closed', async () => {
  const script = `
    const { Client } = require('./src/index.ts');
    (async () => {
      const c = new Client(process.env.EP);
      const kas = await Promise.all([c.leasekeepalive(5), c.leasekeepalive(5)]);
      await Promise.all(kas.map((k) => k.Check()));
      console.log('leases ' + kas.map((k) => k.Lease()).join(' '));
      await c.close();
    })();`;
  const { code, hung, out, err } = await runChild({ code: script, env: { ...process.env, EP: cluster.endpoint }, timeoutMs: 15_000 });
  assert.is(hung, false, `the child process did not exit within 15 s (stdout: ${out})`);
  assert.is(code, 0, err);
  const ids = out.trim().split(' ').slice(1);
  assert.is(ids.length, 2, out);
  for (const id of ids) await client.leaserevoke(BigInt(id));
});

test('no silent loss: a lease held through client.leasekeepalive(ttl) and revoked elsewhere ends the program with the error (exit 1)', async () => {
  // The program keeps a lease and does nothing else: no handler, no closed(), no Check().
  const program = `
    const { Client } = require(${JSON.stringify(path.join(__dirname, '../../src/index'))});
    const c = new Client(${JSON.stringify(cluster.endpoint)});
    c.leasekeepalive(30).then((ka) => console.log(String(ka.Lease())));
    setInterval(() => {}, 1000).unref();
  `;
  const child = startChild({ code: program });
  try {
    const id = await eventually(() => /^\d+$/m.exec(child.out)?.[0], 15_000, 'the child printed its lease id');
    ok(await client.leaserevoke(BigInt(id)), 'revoke elsewhere');
    const { code } = await within(child.exited, 15_000, 'the child exits');
    assert.is(code, 1, `exit code (stderr: ${child.err})`);
    assert.match(child.err, /LeaseExpiredError/);
  } finally {
    child.kill();
  }
});

test.run();
