// Lock and election against a real etcd: C++ action strings and values, blocking semantics, interop with
// etcdctl's lock, timeouts, observers (WaitOnce, for-await, reopen without duplicates) and closing.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, ClientClosedError, type Observer, type Response } from '../../src/index';
import { etcdctlBin, startEtcd, type EtcdCluster } from '../helpers/etcd';
import { startProxy } from '../../src/testing';
import { eventually, failed, ok, uniquePrefix } from './util';
import { pause, pending, within } from '../helpers/wait';
import { remainingTtl } from '../helpers/lease';
import { closeOwned, owned } from '../helpers/cleanup';
import { rejection } from '../helpers/throws';

let cluster: EtcdCluster;
let client: Client;

const test = suite('lock and election integration');

test.before(async () => {
  cluster = await startEtcd({ name: 'it-lock', dataDirOnTmpfs: true });
  client = new Client(cluster.endpoint);
});

test.after.each(closeOwned);
test.after(async () => {
  await client?.close();
  await cluster?.stop();
});

/** How many keys exist under `prefix` (lock owners and waiters, election candidates). */
async function keysUnder(prefix: string): Promise<number> {
  return ok(await client.keys(prefix), 'keys').values().length;
}

// ---- lock ---------------------------------------------------------------------------------------------

test('lock/unlock round trip: lock_key under the name, a kept-alive lease, revoked on unlock', async () => {
  const name = uniquePrefix('lock') + 'rt';
  const r = ok(await client.lock(name), 'lock');
  assert.is(r.action(), 'lock');
  assert.ok(r.lock_key().startsWith(name + '/'), r.lock_key());
  const lease = r.value().lease();
  assert.ok(lease !== 0n, 'value().lease() is the lock lease');
  assert.is(r.lock_key(), `${name}/${lease.toString(16)}`);
  assert.ok(r.index() > 0);
  assert.ok((await remainingTtl(client, lease)) > 0);
  ok(await client.get(r.lock_key()), 'the lock key exists');

  const u = ok(await client.unlock(r.lock_key()), 'unlock');
  assert.is(u.action(), 'unlock');
  assert.is(await remainingTtl(client, lease), -1, 'lease revoked by unlock');
  failed(await client.get(r.lock_key()), 100);
});

test('a second lock on the same key waits until the first is unlocked', async () => {
  const name = uniquePrefix('lock') + 'wait';
  const first = ok(await client.lock(name));
  const second = pending(client.lock(name));
  await eventually(async () => (await keysUnder(name + '/')) === 2, 5000, 'the second locker to queue');
  assert.not.ok(second.settled(), 'second lock granted while the first is held');
  ok(await client.unlock(first.lock_key()));
  const r2 = ok(await within(second.promise, 5000, 'second lock after unlock'));
  assert.is.not(r2.lock_key(), first.lock_key());
  ok(await client.unlock(r2.lock_key()));
  assert.is(await keysUnder(name + '/'), 0);
});

test('our lock blocks `etcdctl lock` until we unlock', async () => {
  const name = uniquePrefix('lock') + 'ctl';
  const held = ok(await client.lock(name));
  const ctl = pending(cluster.etcdctl(['lock', name, '--', 'echo', 'got'], { timeoutMs: 20_000 }));
  await eventually(async () => (await keysUnder(name + '/')) === 2, 5000, 'etcdctl to queue for the lock');
  assert.not.ok(ctl.settled(), 'etcdctl got the lock while we hold it');
  ok(await client.unlock(held.lock_key()));
  const res = await within(ctl.promise, 10_000, 'etcdctl after unlock');
  assert.is(res.code, 0, res.stderr);
  assert.is(res.stdout.toString().trim(), 'got');
});

test('a lock held by `etcdctl lock` blocks ours until etcdctl releases it', async () => {
  const name = uniquePrefix('lock') + 'ctl-holds';
  const env: NodeJS.ProcessEnv = { ETCDCTL_API: '3' };
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD')) env[k] = v;
  // etcdctl runs the command while it holds the lock (without our stdin): it says so, then waits for a file.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'it-lock-'));
  const release = path.join(dir, 'release');
  const holdScript = `echo holding; while [ ! -e '${release}' ]; do sleep 0.05; done; echo releasing`;
  const child = spawn(etcdctlBin()!, [`--endpoints=${cluster.endpoint}`, 'lock', name, '--', 'sh', '-c', holdScript], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let errOut = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (errOut += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  try {
    await eventually(() => out.includes('holding'), 5000, `etcdctl to take the lock (${errOut})`);
    const ours = pending(client.lock(name));
    await eventually(async () => (await keysUnder(name + '/')) === 2, 5000, 'our lock to queue');
    assert.not.ok(ours.settled(), 'we got the lock while etcdctl holds it');
    fs.writeFileSync(release, '');
    assert.is(await within(exited, 5000, 'etcdctl exit'), 0, errOut);
    assert.ok(out.includes('releasing'));
    const r = ok(await within(ours.promise, 5000, 'our lock after etcdctl released it'));
    ok(await client.unlock(r.lock_key()));
  } finally {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('lock with set_grpc_timeout on a held lock: 4 "gRPC timeout"; the waiter lease is revoked', async () => {
  const name = uniquePrefix('lock') + 'timeout';
  const held = ok(await client.lock(name));
  const impatient = owned(new Client(cluster.endpoint));
  try {
    impatient.set_grpc_timeout(1000);
    const leasesBefore = new Set(ok(await client.leases()).leases());
    const started = Date.now();
    const r = await impatient.lock(name);
    failed(r, 4, 'gRPC timeout');
    assert.is(r.action(), 'lock');
    assert.ok(Date.now() - started < 5000);
    assert.is(await keysUnder(name + '/'), 1, 'only the holder is left: no waiter key lingers');
    const newLeases = ok(await client.leases()).leases().filter((l) => !leasesBefore.has(l));
    assert.equal(newLeases, [], 'the waiter lease was revoked');
  } finally {
    await impatient.close();
  }
  ok(await client.get(held.lock_key()), 'the holder still holds');
  ok(await client.unlock(held.lock_key()));
});

test('lock_with_lease: the caller lease is used and reported; unlock leaves it alone', async () => {
  const name = uniquePrefix('lock') + 'own';
  const lease = ok(await client.leasegrant(30)).value().lease();
  const r = ok(await client.lock_with_lease(name, lease));
  assert.is(r.action(), 'lock');
  assert.is(r.value().lease(), lease);
  assert.is(r.lock_key(), `${name}/${lease.toString(16)}`);
  ok(await client.unlock(r.lock_key()));
  assert.ok((await remainingTtl(client, lease)) > 0, 'unlock does not revoke a caller lease');
  failed(await client.get(r.lock_key()), 100);
  ok(await client.leaserevoke(lease));
});

test('closing the client ends a lock wait with ClientClosedError', async () => {
  const name = uniquePrefix('lock') + 'close';
  const held = ok(await client.lock(name));
  const c = owned(new Client(cluster.endpoint));
  const waiting = pending(c.lock(name));
  await eventually(async () => (await keysUnder(name + '/')) === 2, 5000, 'the waiter to queue');
  await c.close();
  const err = await rejection(within(waiting.promise, 3000, 'lock wait after close'), ClientClosedError, 'the lock wait after close');
  ok(await client.unlock(held.lock_key()));
  assert.throws(() => client.lock(42 as unknown as string), /key/);
  assert.throws(() => client.lock(name, -1), (e: unknown) => e instanceof RangeError);
});

// ---- election -----------------------------------------------------------------------------------------

async function campaign(name: string, value: string, ttl = 30): Promise<{ lease: bigint; r: Response }> {
  const lease = ok(await client.leasegrant(ttl)).value().lease();
  return { lease, r: ok(await client.campaign(name, lease, value), 'campaign') };
}

test('campaign / leader / proclaim / resign round trip', async () => {
  const name = uniquePrefix('elect') + 'rt';
  const { lease, r } = await campaign(name, 'v1');
  assert.is(r.action(), 'campaign');
  assert.is(r.name(), name);
  const key = r.value().key();
  const rev = r.value().created_index();
  assert.ok(key.startsWith(name + '/'), key);
  assert.ok(rev > 0);
  assert.is(r.value().lease(), lease);
  assert.is(r.value().as_string(), '', 'campaign value() carries no value, as C++');

  const l = ok(await client.leader(name), 'leader');
  assert.is(l.action(), 'leader');
  assert.is(l.name(), name);
  assert.is(l.value().key(), key);
  assert.is(l.value().as_string(), 'v1');
  assert.is(l.value().created_index(), rev);
  assert.is(l.value().lease(), lease);

  const p = ok(await client.proclaim(name, lease, key, rev, 'v2'), 'proclaim');
  assert.is(p.action(), 'proclaim');
  assert.is(ok(await client.leader(name)).value().as_string(), 'v2');

  const res = ok(await client.resign(name, lease, key, rev), 'resign');
  assert.is(res.action(), 'resign');
  const none = await client.leader(name);
  assert.not.ok(none.is_ok());
  assert.is(none.action(), 'leader');
  assert.match(none.error_message(), /no leader/);
  ok(await client.leaserevoke(lease));
});

test('a second campaigner waits until the first resigns; a timed-out one gets 4', async () => {
  const name = uniquePrefix('elect') + 'two';
  const first = await campaign(name, 'one');
  const lease2 = ok(await client.leasegrant(30)).value().lease();
  const second = pending(client.campaign(name, lease2, 'two'));
  await eventually(async () => (await keysUnder(name + '/')) === 2, 5000, 'the second candidate to register');
  assert.not.ok(second.settled(), 'second campaigner elected while the first leads');

  const impatient = owned(new Client(cluster.endpoint));
  try {
    impatient.set_grpc_timeout(500);
    const lease3 = ok(await client.leasegrant(30)).value().lease();
    const t = await impatient.campaign(name, lease3, 'three');
    failed(t, 4, 'gRPC timeout');
    assert.is(t.action(), 'campaign');
    ok(await client.leaserevoke(lease3));
  } finally {
    await impatient.close();
  }

  ok(await client.resign(name, first.lease, first.r.value().key(), first.r.value().created_index()));
  const r2 = ok(await within(second.promise, 5000, 'second campaign after resign'));
  assert.is(r2.value().lease(), lease2);
  assert.is(ok(await client.leader(name)).value().as_string(), 'two');
  ok(await client.leaserevoke(first.lease));
  ok(await client.leaserevoke(lease2));
});

test('observe: WaitOnce sees the leader, then each proclamation, in order; then for-await; break closes it', async () => {
  const name = uniquePrefix('elect') + 'obs';
  const obs = client.observe(name);
  const { lease, r } = await campaign(name, 'a1');
  const key = r.value().key();
  const rev = r.value().created_index();
  const o1 = ok(await within(obs.WaitOnce(), 5000, 'first report'));
  assert.is(o1.action(), 'observe');
  assert.is(o1.name(), name);
  assert.is(o1.value().key(), key);
  assert.is(o1.value().as_string(), 'a1');
  assert.is(o1.value().lease(), lease);

  ok(await client.proclaim(name, lease, key, rev, 'a2'));
  ok(await client.proclaim(name, lease, key, rev, 'a3'));
  assert.is(ok(await within(obs.WaitOnce(), 5000, 'a2')).value().as_string(), 'a2');
  assert.is(ok(await within(obs.WaitOnce(), 5000, 'a3')).value().as_string(), 'a3');

  ok(await client.proclaim(name, lease, key, rev, 'a4'));
  ok(await client.proclaim(name, lease, key, rev, 'a5'));
  const seen: string[] = [];
  await within(
    (async () => {
      for await (const x of obs) {
        seen.push(ok(x).value().as_string());
        if (seen.length === 2) break;
      }
    })(),
    5000,
    'for-await',
  );
  assert.equal(seen, ['a4', 'a5']);
  const after = await obs.WaitOnce();
  assert.is(after.error_code(), 1, 'break closed the observer');
  assert.is(after.error_message(), 'observer closed');
  await obs.close(); // idempotent
  ok(await client.resign(name, lease, key, rev));
  ok(await client.leaserevoke(lease));
});

test('observe sees a new leader after the first resigns', async () => {
  const name = uniquePrefix('elect') + 'obs-change';
  const first = await campaign(name, 'first');
  const obs = client.observe(name);
  try {
    assert.is(ok(await within(obs.WaitOnce(), 5000, 'current leader')).value().as_string(), 'first');
    const lease2 = ok(await client.leasegrant(30)).value().lease();
    const second = client.campaign(name, lease2, 'second');
    ok(await client.resign(name, first.lease, first.r.value().key(), first.r.value().created_index()));
    const next = ok(await within(obs.WaitOnce(), 5000, 'new leader'));
    assert.is(next.value().as_string(), 'second');
    assert.is(next.value().lease(), lease2);
    ok(await second);
    ok(await client.leaserevoke(lease2));
  } finally {
    await obs.close();
    await client.leaserevoke(first.lease);
  }
});

test('an observer reopens after a connection cut without reporting the same leader twice', async () => {
  const name = uniquePrefix('elect') + 'obs-cut';
  const proxy = await startProxy(cluster.endpoint);
  const pc = owned(new Client(proxy.url));
  const obs: Observer = pc.observe(name);
  try {
    const { lease, r } = await campaign(name, 'b1');
    assert.is(ok(await within(obs.WaitOnce(), 5000, 'b1')).value().as_string(), 'b1');
    proxy.cut();
    await pause(300, 'the outage itself');
    proxy.restore();
    // The reopened stream reports the current leader (b1) first: it must be skipped, not delivered again.
    await eventually(() => obs.reportsSkipped === 1, 5000, 'the repeated report after reopening');
    assert.ok(obs.streamsOpened >= 2);
    ok(await client.proclaim(name, lease, r.value().key(), r.value().created_index(), 'b2'));
    assert.is(ok(await within(obs.WaitOnce(), 5000, 'b2')).value().as_string(), 'b2');
    ok(await client.leaserevoke(lease));
  } finally {
    await pc.close();
    await proxy.close();
  }
});

test('closing the client ends its observers: WaitOnce rejects, for-await ends, observe() throws', async () => {
  const name = uniquePrefix('elect') + 'obs-close';
  const c = owned(new Client(cluster.endpoint));
  const a = c.observe(name);
  const b = c.observe(name);
  const waitOnce = pending(a.WaitOnce()); // no leader: waits
  const loop = pending(
    (async () => {
      const got: Response[] = [];
      for await (const x of b) got.push(x);
      return got;
    })(),
  );
  await c.close();
  const err = await rejection(within(waitOnce.promise, 3000, 'WaitOnce after close'), ClientClosedError, 'WaitOnce after close');
  assert.equal(await within(loop.promise, 3000, 'for-await after close'), []);
  assert.throws(() => c.observe(name), (e: unknown) => e instanceof ClientClosedError);
});

test.run();
