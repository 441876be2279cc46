// Service registration and discovery against a real etcd: exact keys and values, online/offline reporting,
// duplicates, metadata, crashed registrants, lost leases, deleted and taken-over keys, etcd restarts, cuts with
// churn, compaction, and 200 instances coming and going at once.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Discovery, Registry, type Registration } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { startProxy, type Proxy } from '../../src/testing';
import { eventually, uniquePrefix } from './util';
import { prefixFor, track } from '../helpers/discovery';
import { closeOwned, owned } from '../helpers/cleanup';
import { startChild } from '../helpers/child';

const ROOT = path.resolve(__dirname, '../..');

let cluster: EtcdCluster;
let proxy: Proxy;
let client: Client;
let viaProxy: Client;

test.before(async () => {
  cluster = await startEtcd({ name: 'discovery' });
  proxy = await startProxy(cluster.endpoints[0]!);
  client = new Client(cluster.endpoint);
  viaProxy = new Client(proxy.url);
});

test.after.each(closeOwned);

test.after(async () => {
  await viaProxy?.close();
  await client?.close();
  await proxy?.close();
  await cluster?.stop();
});

/** Discovery's whole view as `service/instance → address`. */
function viewOf(d: Discovery): Map<string, string> {
  const m = new Map<string, string>();
  for (const s of d.services()) for (const i of d.instances(s)) m.set(`${s}/${i.instance}`, i.address);
  return m;
}

/** etcd's listing under `prefix` as `service/instance → value`, read by etcdctl. */
async function etcdListing(prefix: string): Promise<Map<string, string>> {
  const r = await cluster.etcdctl(['get', `${prefix}/`, '--prefix']);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.toString('utf8').split('\n');
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) m.set(lines[i]!.slice(prefix.length + 1), lines[i + 1]!);
  return m;
}

async function valueOf(key: string): Promise<string | undefined> {
  const r = await cluster.etcdctl(['get', key, '--print-value-only']);
  assert.is(r.code, 0, r.stderr);
  const s = r.stdout.toString('utf8');
  return s === '' ? undefined : s.replace(/\n$/, '');
}

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

/** Records what a registration reports, in order (`lost`, `restored`, `replaced`), and the errors it passed. */
function reports(reg: Registration) {
  const events: string[] = [];
  const errors: Error[] = [];
  reg.onLost((err) => {
    events.push('lost');
    errors.push(err);
  });
  reg.onRestored(() => events.push('restored'));
  reg.onReplaced((err) => {
    events.push('replaced');
    errors.push(err);
  });
  return { events, errors };
}

/** Runs `fn` with the proxy cut, restoring it after, even on failure. */
async function whileCut(fn: () => Promise<void>): Promise<void> {
  proxy.cut();
  try {
    await fn();
  } finally {
    proxy.restore();
  }
}

/**
 * Runs `source` (TypeScript importing `SRC`, the package entry) in a child node process with `args`, its output
 * collected. The caller must `stop()` it (SIGKILL, removes the script) in a finally.
 */
function runChild(source: string, args: string[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'discovery-child-'));
  const script = path.join(dir, 'child.ts');
  fs.writeFileSync(script, source.replaceAll('SRC', JSON.stringify(path.join(ROOT, 'src/index'))));
  const c = startChild({ file: script, args });
  let code: number | null | undefined;
  void c.exited.then((e) => (code = e.code));
  return {
    /** stdout and stderr so far. */
    get out() {
      return c.out + c.err;
    },
    /** The exit code once it exited (null: killed by a signal). */
    get code() {
      return code;
    },
    exited: c.exited.then(() => undefined),
    kill: (signal: NodeJS.Signals) => c.kill(signal),
    stop: () => {
      c.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('register writes <prefix>/<service>/<instance> = address under a live lease; close deletes it at once', async () => {
  const prefix = prefixFor('reg');
  const registry = owned(new Registry(client, { prefix, ttl: 3 }));
  const reg = await registry.register('user', 'instance-1', '127.0.0.1:9000');
  assert.is(reg.key, `${prefix}/user/instance-1`);
  assert.is(await valueOf(reg.key), '127.0.0.1:9000');
  assert.ok(reg.leaseId > 0n);
  const ttl = await client.leasetimetolive(reg.leaseId);
  assert.ok(ttl.is_ok() && ttl.value().ttl() > 0, 'lease alive');
  const got = await client.get(reg.key);
  assert.is(got.value().lease(), reg.leaseId, 'key attached to the lease');
  await reg.close();
  assert.is(await valueOf(reg.key), undefined, 'key gone right after close()');
  await reg.close(); // idempotent
  assert.is((await client.leasetimetolive(reg.leaseId)).value().ttl(), -1, 'lease revoked');
  await registry.close();
});

test('bad arguments throw TypeError naming the argument', () => {
  const registry = owned(new Registry(client));
  assert.throws(() => registry.register('', 'i', 'a:1'), (e: Error) => e instanceof TypeError && /service/.test(e.message));
  assert.throws(() => registry.register('a/b', 'i', 'a:1'), (e: Error) => e instanceof TypeError && /service must not contain/.test(e.message));
  assert.throws(() => registry.register('s', 'x/y', 'a:1'), (e: Error) => e instanceof TypeError && /instance/.test(e.message));
  assert.throws(() => registry.register('s', 'i', ''), (e: Error) => e instanceof TypeError && /address/.test(e.message));
  assert.throws(() => registry.register('s', 'i', 5 as unknown as string), (e: Error) => e instanceof TypeError && /address/.test(e.message));
  assert.throws(() => new Registry(client, { ttl: 0 }), RangeError);
  assert.throws(() => new Registry({} as Client), TypeError);
  assert.throws(() => new Discovery(client, { format: 'xml' as 'plain' }), TypeError);
});

test('online for instances present before start and registered after; close() → offline at once; pick round robin', async () => {
  const prefix = prefixFor('online');
  const registry = owned(new Registry(client, { prefix }));
  const a = await registry.register('user', 'a', '127.0.0.1:9001');
  const d = owned(new Discovery(client, { prefix }));
  const t = track(d);
  await d.start();
  assert.equal(t.log, ['+user/a 127.0.0.1:9001'], 'present before start → reported by start()');
  const b = await registry.register('user', 'b', '127.0.0.1:9002');
  await registry.register('orders', 'o1', '127.0.0.1:9100');
  await eventually(() => t.online.size === 3, 5_000, 'online callbacks');
  assert.equal(d.services(), ['orders', 'user']);
  assert.equal(d.instances('user'), [
    { instance: 'a', address: '127.0.0.1:9001' },
    { instance: 'b', address: '127.0.0.1:9002' },
  ]);
  assert.equal([d.pick('user')?.instance, d.pick('user')?.instance, d.pick('user')?.instance], ['a', 'b', 'a']);
  assert.is(d.pick('nobody'), undefined);
  await b.close();
  const closedAt = Date.now();
  // close() deletes the key: one watch event, sooner than the TTL (3 s) after which an abandoned lease would end.
  await eventually(() => !t.online.has('user/b'), 5_000, 'offline after close()');
  assert.ok(Date.now() - closedAt < 3_000, `offline sooner than the TTL after close (took ${Date.now() - closedAt} ms)`);
  assert.equal(d.pick('user')?.instance, 'a');
  await a.close();
  await eventually(() => d.instances('user').length === 0, 2_000, 'user empty');
  assert.is(d.pick('user'), undefined);
  await d.close();
  await d.close();
  await registry.close();
  assert.equal(t.errors, []);
  const late = await d.start().then(() => undefined, (e: Error) => e);
  assert.match(late?.message ?? '', /closed/);
});

test('a duplicate instance is refused with a clear error (its lease revoked); replace takes over', async () => {
  const prefix = prefixFor('dup');
  const registry = owned(new Registry(client, { prefix }));
  const first = await registry.register('user', 'i1', '127.0.0.1:9000');
  const leasesBefore = (await client.leases()).leases().length;
  const err = await registry.register('user', 'i1', '127.0.0.1:9999').then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(err instanceof Error, 'refused');
  assert.match(err!.message, "service 'user'");
  assert.match(err!.message, "instance 'i1'");
  assert.match(err!.message, `${prefix}/user/i1`);
  assert.match(err!.message, '{ replace: true }');
  assert.is(await valueOf(first.key), '127.0.0.1:9000', 'the existing registration is untouched');
  assert.is((await client.leases()).leases().length, leasesBefore, "the refused attempt's lease was revoked");

  const second = await registry.register('user', 'i1', '127.0.0.1:9999', { replace: true });
  assert.is(await valueOf(first.key), '127.0.0.1:9999');
  assert.is((await client.get(first.key)).value().lease(), second.leaseId);
  await first.close(); // revokes the first lease, which no longer holds the key
  assert.is(await valueOf(first.key), '127.0.0.1:9999', 'still registered by the replacement');
  await registry.close();
  assert.is(await valueOf(first.key), undefined);
});

test('metadata round trip: stored as JSON, reported by discovery', async () => {
  const prefix = prefixFor('meta');
  const registry = owned(new Registry(client, { prefix }));
  const d = owned(new Discovery(client, { prefix }));
  const t = track(d);
  await d.start();
  const meta = { zone: 'eu-1', weight: 2, tags: ['a', 'b'] };
  const reg = await registry.register('user', 'm1', '10.1.2.3:80', { metadata: meta });
  assert.is(await valueOf(reg.key), '{"Addr":"10.1.2.3:80","Metadata":{"tags":["a","b"],"weight":2,"zone":"eu-1"}}');
  await eventually(() => t.online.has('user/m1'), 5_000, 'online');
  assert.equal(t.metadata.get('user/m1'), meta);
  assert.equal(d.instances('user'), [{ instance: 'm1', address: '10.1.2.3:80', metadata: meta }]);
  // A plain value written by someone else is read as the address; a key outside the layout is ignored.
  await client.put(`${prefix}/user/m2`, '10.1.2.4:80');
  await client.put(`${prefix}/user/m3/extra`, '10.1.2.5:80');
  await client.put(`${prefix}/toplevel`, 'x');
  await eventually(() => t.online.has('user/m2'), 5_000, 'plain value online');
  assert.equal(d.instances('user').map((i) => i.instance), ['m1', 'm2']);
  await d.close();
  await registry.close();
  assert.equal(t.errors, []);
});

test('a crashed registrant (SIGKILL, ttl 2) goes offline within TTL + 1 s', async () => {
  const prefix = prefixFor('crash');
  const d = owned(new Discovery(client, { prefix }));
  const t = track(d);
  await d.start();
  const child = runChild(
    `import { Client, Registry } from SRC;
const client = new Client(process.argv[2]!);
new Registry(client, { prefix: process.argv[3]!, ttl: 2 }).register('crashy', 'c1', '127.0.0.1:7777').then(
  (r) => { process.stdout.write('registered ' + r.leaseId + '\\n'); setInterval(() => {}, 1000); },
  (e) => { console.error(e); process.exit(1); },
);
`,
    [cluster.endpoint, prefix],
  );
  try {
    await eventually(() => child.out.includes('registered'), 20_000, `the child to register (output: ${child.out})`);
    await eventually(() => t.online.has('crashy/c1'), 5_000, 'online');
    // Let the keepalive refresh a few times, so the lease is surely fresh when the process dies.
    const leaseId = BigInt(/registered (\d+)/.exec(child.out)![1]!);
    await eventually(async () => (await client.leasetimetolive(leaseId)).value().ttl() >= 1, 3_000, 'fresh lease');
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await child.exited;
    await eventually(() => !t.online.has('crashy/c1'), 5_000, 'offline after the crash');
    const took = Date.now() - killedAt;
    // TTL 2 s + etcd's expiry sweep (~500 ms) + one watch event, with a loaded machine's slack.
    assert.ok(took <= 5_000, `offline ${took} ms after SIGKILL (TTL 2 s + 3 s allowed)`);
  } finally {
    child.stop();
    await d.close();
  }
  assert.equal(t.errors, []);
});

test('a lease revoked by someone else: lost, then restored under a new lease with the key back', async () => {
  const prefix = prefixFor('revoked');
  const registry = owned(new Registry(client, { prefix, ttl: 3 }));
  const d = owned(new Discovery(client, { prefix }));
  const t = track(d);
  await d.start();
  const reg = await registry.register('user', 'r1', '127.0.0.1:9500');
  const { events, errors } = reports(reg);
  const oldLease = reg.leaseId;
  const r = await cluster.etcdctl(['lease', 'revoke', oldLease.toString(16)]);
  assert.is(r.code, 0, r.stderr);
  await eventually(() => events.includes('restored'), 8_000, 'restored');
  assert.equal(events, ['lost', 'restored']);
  assert.is(errors[0]?.name, 'LeaseExpiredError');
  assert.is.not(reg.leaseId, oldLease);
  assert.is(await valueOf(reg.key), '127.0.0.1:9500');
  assert.is((await client.get(reg.key)).value().lease(), reg.leaseId);
  assert.ok((await client.leasetimetolive(reg.leaseId)).value().ttl() > 0);
  await eventually(() => t.online.get('user/r1') === '127.0.0.1:9500', 5_000, 'back online');
  assert.equal(t.log, ['+user/r1 127.0.0.1:9500', '-user/r1 127.0.0.1:9500', '+user/r1 127.0.0.1:9500']);
  await registry.close();
  await eventually(() => !t.online.has('user/r1'), 2_000, 'offline');
  await d.close();
  assert.equal(t.errors, []);
});

test('an outage longer than the TTL: the lease is lost (KeepAliveError), then restored when etcd is back', async () => {
  const prefix = prefixFor('outage');
  const registry = owned(new Registry(viaProxy, { prefix, ttl: 2 }));
  const d = owned(new Discovery(client, { prefix }));
  const t = track(d);
  await d.start();
  const reg = await registry.register('user', 'o1', '127.0.0.1:9700');
  await eventually(() => t.online.has('user/o1'), 5_000, 'online');
  const events: string[] = [];
  reg.onLost((err) => events.push(`lost ${err.name}`));
  reg.onRestored(() => events.push('restored'));
  proxy.cut();
  try {
    await eventually(() => events.length > 0, 10_000, 'lost while cut'); // TTL 2 s + the KeepAlive's grace for an unanswered lease
    await eventually(() => !t.online.has('user/o1'), 6_000, 'etcd to expire the key');
  } finally {
    proxy.restore();
  }
  await eventually(() => events.includes('restored'), 10_000, 'restored after the cut');
  assert.equal(events, ['lost KeepAliveError', 'restored']);
  await eventually(() => t.online.has('user/o1'), 5_000, 'back online');
  assert.is(await valueOf(reg.key), '127.0.0.1:9700');
  assert.equal(t.log, ['+user/o1 127.0.0.1:9700', '-user/o1 127.0.0.1:9700', '+user/o1 127.0.0.1:9700']);
  await registry.close();
  await eventually(() => !t.online.has('user/o1'), 2_000, 'offline after close');
  await d.close();
  assert.equal(t.errors, []);
});

test('a key deleted while its lease lives comes back under the same lease: lost then restored, offline then online', async () => {
  const prefix = prefixFor('deleted');
  const registry = owned(new Registry(client, { prefix, ttl: 3 }));
  const d = owned(new Discovery(client, { prefix }));
  const t = track(d);
  await d.start();
  const reg = await registry.register('user', 'd1', '127.0.0.1:9800', { metadata: { zone: 'a' } });
  await eventually(() => t.online.has('user/d1'), 5_000, 'online');
  const value = await valueOf(reg.key);
  const lease = reg.leaseId;
  const { events, errors } = reports(reg);
  for (let round = 1; round <= 2; round++) {
    const del = await cluster.etcdctl(['del', reg.key]);
    assert.is(del.stdout.toString('utf8').trim(), '1', `round ${round}: etcdctl deleted the key`);
    const deletedAt = Date.now();
    await eventually(
      async () => {
        const v = (await client.get(reg.key)).value();
        return v.lease() === lease && v.as_string() === value;
      },
      6_000,
      `round ${round}: the key back under the same lease`,
    );
    const took = Date.now() - deletedAt;
    assert.ok(took < 5_000, `round ${round}: back ${took} ms after the delete`);
    await eventually(() => events.length === 2 * round, 2_000, `round ${round}: lost and restored reported`);
  }
  assert.equal(events, ['lost', 'restored', 'lost', 'restored']);
  for (const err of errors) assert.match(err.message, `key ${reg.key} was deleted while its lease ${lease} was alive`);
  assert.is(reg.leaseId, lease, 'the lease never changed');
  assert.not.ok(reg.closed);
  const seen = '+user/d1 127.0.0.1:9800';
  const gone = '-user/d1 127.0.0.1:9800';
  await eventually(() => t.log.length === 5, 5_000, 'discovery to see both round trips');
  assert.equal(t.log, [seen, gone, seen, gone, seen], 'discovery: offline then online, each time');
  assert.equal(t.metadata.get('user/d1'), { zone: 'a' });

  await reg.close();
  await reg.close(); // idempotent
  assert.is(await valueOf(reg.key), undefined, 'closed: the key is gone');
  await eventually(() => !t.online.has('user/d1'), 2_000, 'offline after close');
  await registry.close();
  await d.close();
  assert.equal(t.errors, []);
});

test('taken over by a replace registration or a plain put: the old registration steps aside for good, no fight', async () => {
  const prefix = prefixFor('takeover');
  const otherClient = owned(new Client(cluster.endpoint)); // "another process"
  const registry = owned(new Registry(client, { prefix }));
  const other = owned(new Registry(otherClient, { prefix }));
  try {
    const first = await registry.register('user', 't1', '127.0.0.1:9900');
    const firstLease = first.leaseId;
    const firstReports = reports(first);

    const second = await other.register('user', 't1', '127.0.0.1:9901', { replace: true });
    await eventually(() => first.closed, 5_000, 'the first registration to see the takeover');
    assert.match(firstReports.errors[0]!.message, "instance 't1' was taken over");
    assert.match(firstReports.errors[0]!.message, `lease ${second.leaseId}`);
    assert.ok(first.closed, 'the first registration has ended');
    await first.close(); // resolves once it has stepped aside
    assert.equal(firstReports.events, ['replaced']);
    assert.is((await client.leasetimetolive(firstLease)).value().ttl(), -1, "the first registration's lease is revoked");
    let v = (await client.get(second.key)).value();
    assert.is(v.as_string(), '127.0.0.1:9901');
    assert.is(v.lease(), second.leaseId);
    assert.is(v.version(), 2, 'written twice (first, then the takeover) and never again');

    // A put by hand (no lease) takes it over too: the second steps aside and leaves the key as written.
    const secondReports = reports(second);
    assert.ok((await client.put(second.key, '10.9.9.9:1')).is_ok());
    await eventually(() => second.closed, 5_000, 'the second registration to see the takeover');
    await second.close();
    assert.equal(secondReports.events, ['replaced']);
    assert.match(secondReports.errors[0]!.message, '"10.9.9.9:1" under no lease');
    v = (await client.get(second.key)).value();
    assert.is(v.as_string(), '10.9.9.9:1', 'the hand-written value stays');
    assert.is(v.lease(), 0n);
    assert.is(v.version(), 3);
    assert.ok((await client.rm(second.key)).is_ok());
  } finally {
    await registry.close();
    await other.close();
    await otherClient.close();
  }
});

test('a key deleted while the registrant is cut off comes back when the watch resumes; after a compaction too', async () => {
  const prefix = prefixFor('deleted-cut');
  const registry = owned(new Registry(viaProxy, { prefix, ttl: 5 }));
  const reg = await registry.register('user', 'c1', '127.0.0.1:9950');
  const lease = reg.leaseId;
  const { events, errors } = reports(reg);
  const del = async () => {
    const r = await cluster.etcdctl(['del', reg.key]);
    assert.is(r.code, 0, r.stderr);
  };
  /** The key is back under the same lease, and lost (with `why`) then restored were reported. */
  const repaired = async (why: string) => {
    await eventually(
      async () => {
        const v = (await client.get(reg.key)).value();
        return v.lease() === lease && v.as_string() === '127.0.0.1:9950';
      },
      8_000,
      `the key back under the same lease (${why})`,
    );
    await eventually(() => events.length === 2, 2_000, 'lost and restored reported');
    assert.equal(events, ['lost', 'restored']);
    assert.match(errors[0]!.message, why);
    events.length = 0;
    errors.length = 0;
  };

  // 1. Deleted during a cut: the watch resumes from where it was and sees the delete.
  await whileCut(del);
  await repaired('was deleted');

  // 2. Deleted and compacted during a cut: the watch cannot resume (compacted), so the registration looks at
  //    its key again, finds it gone and writes it again.
  await whileCut(async () => {
    await del();
    assert.ok((await client.put(`${prefix}/filler`, 'x')).is_ok());
    const c = await cluster.etcdctl(['compact', String((await client.head()).index())]);
    assert.is(c.code, 0, c.stderr);
  });
  await repaired('was found deleted');
  assert.is(reg.leaseId, lease);
  await registry.close();
  assert.is(await valueOf(reg.key), undefined);
});

test('a process whose key was deleted and written again exits by itself once its registry and client are closed', async () => {
  const prefix = prefixFor('exit');
  const child = runChild(
    `import { Client, Discovery, Registry } from SRC;
const client = new Client(process.argv[2]!);
const registry = new Registry(client, { prefix: process.argv[3]!, ttl: 2 });
const discovery = new Discovery(client, { prefix: process.argv[3]! });
void (async () => {
  await discovery.start();
  const reg = await registry.register('exit', 'e1', '127.0.0.1:1');
  reg.onRestored(async () => {
    await reg.close();
    await reg.close();
    await registry.close();
    await discovery.close();
    await client.close();
    process.stdout.write('closed\\n');
  });
  process.stdout.write('registered\\n');
})().catch((e) => { console.error(e); process.exit(1); });
`,
    [cluster.endpoint, prefix],
  );
  try {
    await eventually(() => child.out.includes('registered'), 20_000, `the child to register (output: ${child.out})`);
    const del = await cluster.etcdctl(['del', `${prefix}/exit/e1`]);
    assert.is(del.code, 0, del.stderr);
    await eventually(() => child.out.includes('closed'), 5_000, `the child to restore and close (output: ${child.out})`);
    await eventually(() => child.code !== undefined, 5_000, `the child to exit by itself (output: ${child.out})`);
    assert.is(child.code, 0, child.out);
    assert.is(await valueOf(`${prefix}/exit/e1`), undefined);
  } finally {
    child.stop();
  }
});

test('etcd restarted under 5 registered services: all come back and discovery converges', async () => {
  const prefix = prefixFor('restart');
  const registry = owned(new Registry(client, { prefix, ttl: 3 }));
  const d = owned(new Discovery(client, { prefix }));
  const t = track(d);
  await d.start();
  const regs: Registration[] = [];
  for (let i = 0; i < 5; i++) regs.push(await registry.register(`svc${i}`, 'main', `127.0.0.1:${9600 + i}`));
  await eventually(() => t.online.size === 5, 5_000, 'five online');
  const member = cluster.members[0]!;
  await member.stop();
  await member.start();
  await eventually(
    async () => {
      const listing = await etcdListing(prefix);
      return listing.size === 5 && sameMap(viewOf(d), listing) && sameMap(t.online, listing);
    },
    20_000,
    'every key back and discovery equal to etcd',
  );
  for (const reg of regs) assert.ok((await client.leasetimetolive(reg.leaseId)).value().ttl() > 0, `${reg.key} lease alive`);
  await registry.close();
  await eventually(() => t.online.size === 0, 5_000, 'all offline');
  await d.close();
  assert.equal(t.errors, []);
});

test('through a proxy cut during churn, discovery converges with nothing reported twice', async () => {
  const prefix = prefixFor('churn');
  const registry = owned(new Registry(client, { prefix }));
  const d = owned(new Discovery(viaProxy, { prefix }));
  const t = track(d);
  await d.start();
  const live = new Map<string, Registration>();
  let n = 0;
  const churn = async (rounds: number) => {
    for (let i = 0; i < rounds; i++) {
      const name = `i${n++}`;
      live.set(name, await registry.register('churn', name, `127.0.0.1:${10000 + n}`));
      if (live.size > 5) {
        const [oldest] = live.keys();
        await live.get(oldest!)!.close();
        live.delete(oldest!);
      }
    }
  };
  await churn(8);
  for (let round = 0; round < 3; round++) {
    proxy.cut();
    await churn(10);
    proxy.restore();
    await churn(3);
  }
  await eventually(
    async () => {
      const listing = await etcdListing(prefix);
      return sameMap(viewOf(d), listing) && sameMap(t.online, listing) && listing.size === live.size;
    },
    15_000,
    'discovery equal to etcd',
  );
  assert.equal([...t.online.keys()].sort(), [...live.keys()].map((k) => `churn/${k}`).sort());
  assert.equal(t.errors, []);
  await d.close();
  await registry.close();
});

test('compaction while cut: the re-list reports only the difference', async () => {
  const prefix = prefixFor('compact');
  const registry = owned(new Registry(client, { prefix }));
  const a = await registry.register('svc', 'a', '127.0.0.1:1');
  await registry.register('svc', 'b', '127.0.0.1:2');
  await registry.register('svc', 'c', '127.0.0.1:3');
  const d = owned(new Discovery(viaProxy, { prefix }));
  const t = track(d);
  await d.start();
  assert.is(t.log.length, 3);
  t.log.length = 0;
  proxy.cut();
  await a.close(); // gone
  await registry.register('svc', 'c', '127.0.0.1:33', { replace: true }); // moved
  await registry.register('svc', 'd', '127.0.0.1:4'); // new
  const e = await registry.register('svc', 'e', '127.0.0.1:5'); // came and went: never seen
  await e.close();
  await client.put(`${prefix}/svc/b`, '127.0.0.1:2'); // re-put, same address: nothing to report
  const rev = (await client.head()).index();
  const c = await cluster.etcdctl(['compact', String(rev)]);
  assert.is(c.code, 0, c.stderr);
  proxy.restore();
  await eventually(() => t.log.length >= 4, 15_000, 'the difference to be reported');
  assert.equal(t.log, ['-svc/a 127.0.0.1:1', '-svc/c 127.0.0.1:3', '+svc/c 127.0.0.1:33', '+svc/d 127.0.0.1:4']);
  // ...and it watches again from the new listing.
  await registry.register('svc', 'f', '127.0.0.1:6');
  await eventually(() => t.online.has('svc/f'), 5_000, 'watching again after the re-list');
  assert.ok(sameMap(viewOf(d), await etcdListing(prefix)));
  assert.equal(t.errors, []);
  await d.close();
  await registry.close();
});

test('200 instances registering and leaving concurrently: discovery equals etcd at the end', async () => {
  const prefix = prefixFor('many');
  const registry = owned(new Registry(client, { prefix, ttl: 5 }));
  const d = owned(new Discovery(client, { prefix }));
  const t = track(d);
  try {
    await d.start();
    const stay = new Set<string>();
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const service = `s${i % 4}`;
        const reg = await registry.register(service, `n${i}`, `10.0.${i >> 8}.${i & 255}:80`);
        if (i % 3 === 0) await reg.close();
        else stay.add(`${service}/n${i}`);
      }),
    );
    await eventually(
      async () => {
        const listing = await etcdListing(prefix);
        return listing.size === stay.size && sameMap(viewOf(d), listing) && sameMap(t.online, listing);
      },
      15_000,
      'discovery equal to etcd',
    );
    assert.equal([...viewOf(d).keys()].sort(), [...stay].sort());
    assert.equal(t.errors, []);
    await registry.close();
    await eventually(() => t.online.size === 0, 10_000, 'all offline after registry.close()');
    assert.is((await etcdListing(prefix)).size, 0);
    // the offline phase too: each of the remaining instances went offline exactly once
    assert.equal(t.errors, [], 'online/offline exactly once, offline phase included');
    assert.is(t.log.filter((l) => l.startsWith('-')).length, t.log.filter((l) => l.startsWith('+')).length, 'one offline per online');
  } finally {
    await registry.close();
    await d.close();
  }
});

test.run();
