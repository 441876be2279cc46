// Bad input, oversized requests, dead and paused servers, timeouts and closing: programmer
// errors throw synchronously, everything the server or network causes comes back in the Response.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, ClientClosedError, type ClientOptions, ERROR_GRPC_DEADLINE_EXCEEDED, ERROR_GRPC_UNAVAILABLE, Transaction } from '../../src/index';
import { pickFreePorts, startEtcd, type EtcdCluster } from '../helpers/etcd';
import { eventually, failed, kvIs, ok, uniquePrefix } from './util';
import { pause, within } from '../helpers/wait';
import { throwsKind } from '../helpers/throws';

let cluster: EtcdCluster;
let client: Client;
const extraClients: Client[] = [];

/** A client closed in `after` even when the test fails half-way. */
function newClient(url: string, options?: string | ClientOptions): Client {
  const c = typeof options === 'object' ? new Client(url, options) : new Client(url, options);
  extraClients.push(c);
  return c;
}

const test = suite('errors, timeouts and closing');

test.before(async () => {
  cluster = await startEtcd({ name: 'it-errors', dataDirOnTmpfs: true });
  client = new Client(cluster.endpoint);
});

test.after(async () => {
  cluster?.members[0]?.resume();
  await Promise.all([client, ...extraClients].map((c) => c?.close()));
  await cluster?.stop();
});

// ---- programmer errors -----------------------------------------------------------------------------

test('wrong argument types throw TypeError synchronously, naming the argument', () => {
  const c = client as unknown as Record<string, (...a: unknown[]) => unknown>;
  throwsKind(() => c.get!(5), TypeError, /\bkey\b/, 'get(5)');
  throwsKind(() => c.get!(null), TypeError, /\bkey\b/, 'get(null)');
  throwsKind(() => c.get!('k', '3'), TypeError, /\brevision\b/, "get('k', '3')");
  throwsKind(() => c.set!('k', {}), TypeError, /\bvalue\b/, "set('k', {})");
  throwsKind(() => c.set!('k', 'v', 'lease'), TypeError, /lease/i, "set('k', 'v', 'lease')");
  throwsKind(() => c.put!(['k'], 'v'), TypeError, /\bkey\b/, "put(['k'], 'v')");
  throwsKind(() => c.add!('k', 42), TypeError, /\bvalue\b/, "add('k', 42)");
  throwsKind(() => c.modify_if!('k', 'v', {}), TypeError, /old_value/, "modify_if('k', 'v', {})");
  throwsKind(() => c.rm_if!('k', true), TypeError, /old_value/, "rm_if('k', true)");
  throwsKind(() => c.ls!('p', true), TypeError, /limit/, "ls('p', true)");
  throwsKind(() => c.leasegrant!('5'), TypeError, /\bttl\b/, "leasegrant('5')");
  throwsKind(() => c.leaserevoke!('1'), TypeError, /lease/i, "leaserevoke('1')");
  throwsKind(() => c.txn!({}), TypeError, /\btxn\b/, 'txn({})');
  throwsKind(() => c.set_grpc_timeout!('1000'), TypeError, /timeout/, "set_grpc_timeout('1000')");
  const t = new Transaction() as unknown as Record<string, (...a: unknown[]) => unknown>;
  throwsKind(() => t.add_success_put!('k', 5), TypeError, /\bvalue\b/, "add_success_put('k', 5)");
});

test('out-of-range numbers throw RangeError synchronously, naming the argument', () => {
  throwsKind(() => client.leasegrant(-1), RangeError, /\bttl\b/, 'leasegrant(-1)');
  throwsKind(() => client.leasegrant(1.5), RangeError, /\bttl\b/, 'leasegrant(1.5)');
  throwsKind(() => client.get('k', NaN), RangeError, /\brevision\b/, 'get(k, NaN)');
  throwsKind(() => client.get('k', 1.5), RangeError, /\brevision\b/, 'get(k, 1.5)');
  throwsKind(() => client.get('k', -1), RangeError, /\brevision\b/, 'get(k, -1)');
  throwsKind(() => client.ls('k', 0, NaN), RangeError, /\brevision\b/, 'ls(k, 0, NaN)');
  throwsKind(() => client.ls('k', -2), RangeError, /\blimit\b/, 'ls(k, -2)');
  throwsKind(() => client.set('k', 'v', 2n ** 64n), RangeError, /lease/i, 'set(k, v, 2^64)');
  throwsKind(() => client.leaserevoke(2n ** 64n), RangeError, /lease/i, 'leaserevoke(2^64)');
  throwsKind(() => client.leasetimetolive(-1n), RangeError, /lease/i, 'leasetimetolive(-1n)');
  throwsKind(() => client.leaserevoke(2 ** 60), RangeError, /lease/i, 'leaserevoke(unsafe number)');
  throwsKind(() => client.modify_if('k', 'v', -5), RangeError, /old_index/, 'modify_if(k, v, -5)');
  throwsKind(() => client.set_grpc_timeout(-1), RangeError, /timeout/, 'set_grpc_timeout(-1)');
});

test('malformed URLs throw TypeError at construction, naming the bad part', () => {
  const bad: [string, RegExp][] = [
    ['http://127.0.0.1:notaport', /notaport/],
    ['ftp://127.0.0.1:2379', /ftp/],
    ['http://127.0.0.1:99999', /99999/],
    ['', /empty/],
    ['http://127.0.0.1:2379,http://bad host:2379', /bad host/],
    ['http://127.0.0.1:2379/some/path', /some\/path|path/],
  ];
  for (const [url, re] of bad) {
    let threw: unknown;
    try {
      newClient(url);
    } catch (e) {
      threw = e;
    }
    assert.instance(threw, TypeError, `new Client(${JSON.stringify(url)})`);
    assert.match((threw as Error).message, re, `message for ${JSON.stringify(url)}`);
  }
  throwsKind(() => new Client(5 as unknown as string), TypeError, /url/, 'new Client(5)');
});

// ---- server-side rejections ------------------------------------------------------------------------

test('a 2 MiB value resolves with a server error quickly, and the client keeps working', async () => {
  const p = uniquePrefix('err-big');
  const big = Buffer.alloc(2 * 1024 * 1024, 0x61);
  const t0 = Date.now();
  const r = await client.set(p + 'big', big);
  const ms = Date.now() - t0;
  assert.not.ok(r.is_ok(), 'oversized put must fail');
  assert.ok([3, 8].includes(r.error_code()), `code ${r.error_code()}: ${r.error_message()}`);
  assert.ok(r.error_message().length > 0);
  assert.is(r.action(), 'set');
  assert.ok(ms < 5000, `took ${ms} ms`);
  // just over etcd's 1.5 MiB request limit but under gRPC's receive limit: etcd's own error
  const r2 = failed(await client.set(p + 'big2', Buffer.alloc(1.6 * 1024 * 1024, 0x62)), 3, /request is too large/);
  assert.is(r2.action(), 'set');
  failed(await client.get(p + 'big'), 100);
  failed(await client.get(p + 'big2'), 100);
  ok(await client.set(p + 'after', 'fine'));
  kvIs(ok(await client.get(p + 'after')).value(), p + 'after', 'fine');
  // a value just under the limit is accepted
  const nearly = Buffer.alloc(1024 * 1024, 0x63);
  ok(await client.set(p + 'mib', nearly));
  assert.ok(ok(await client.get(p + 'mib')).value().as_bytes().equals(nearly));
});

test('an empty key is refused by the server in the Response (code 3)', async () => {
  failed(await client.get(''), 3, /key is not provided/);
  failed(await client.set('', 'v'), 3, /key is not provided/);
});

test('a txn with too many operations resolves with code 3', async () => {
  const p = uniquePrefix('err-txn');
  const t = new Transaction();
  for (let i = 0; i < 200; i++) t.setup_put(`${p}${i}`, 'v');
  failed(await client.txn(t), 3, /too many operations/);
  assert.equal(ok(await client.ls(p)).values(), []);
});

// ---- unreachable / slow servers --------------------------------------------------------------------

test('a dead endpoint with set_grpc_timeout(2000) resolves 14 within 5 s', async () => {
  const [port] = await pickFreePorts(1);
  const dead = newClient(`http://127.0.0.1:${port}`);
  dead.set_grpc_timeout(2000);
  assert.is(dead.get_grpc_timeout(), 2000);
  const t0 = Date.now();
  const r = await dead.get('/it/errors/dead');
  const ms = Date.now() - t0;
  assert.is(r.error_code(), ERROR_GRPC_UNAVAILABLE, `code ${r.error_code()}: ${r.error_message()}`);
  assert.ok(r.is_network_unavailable());
  assert.not.ok(r.is_grpc_timeout());
  assert.is(r.action(), 'get');
  assert.ok(ms < 5000, `took ${ms} ms`);
  // writes and other calls too
  const t1 = Date.now();
  const s = await dead.set('/it/errors/dead', 'v');
  assert.is(s.error_code(), ERROR_GRPC_UNAVAILABLE, `set: ${s.error_code()} ${s.error_message()}`);
  const h = await dead.head();
  assert.is(h.error_code(), ERROR_GRPC_UNAVAILABLE, `head: ${h.error_code()} ${h.error_message()}`);
  assert.ok(Date.now() - t1 < 5000);
  await dead.close();
});

test('a dead endpoint without a timeout still answers 14 (bounded retries)', async () => {
  const [port] = await pickFreePorts(1);
  const dead = newClient(`127.0.0.1:${port}`);
  const t0 = Date.now();
  const r = await dead.leases();
  assert.is(r.error_code(), ERROR_GRPC_UNAVAILABLE, `code ${r.error_code()}: ${r.error_message()}`);
  assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  await dead.close();
});

test('an unresolvable host name resolves 14 (no throw, no hang)', async () => {
  const c = newClient('http://no-such-host.invalid:2379');
  c.set_grpc_timeout(3000);
  const t0 = Date.now();
  const r = await c.get('k');
  assert.ok([ERROR_GRPC_UNAVAILABLE, ERROR_GRPC_DEADLINE_EXCEEDED].includes(r.error_code()), `${r.error_code()} ${r.error_message()}`);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  await c.close();
});

test('close() during retries against a dead endpoint rejects with ClientClosedError at once', async () => {
  const [port] = await pickFreePorts(1);
  const dead = newClient(`http://127.0.0.1:${port}`);
  const pending = dead.leases().then(
    (r) => `resolved ${r.error_code()}`,
    (e: unknown) => e,
  );
  const t0 = Date.now();
  await dead.close();
  const outcome = await pending;
  // "At once": well before the retries against the dead endpoint would give up (10 s).
  assert.ok(Date.now() - t0 < 3000, `settled after ${Date.now() - t0} ms`);
  assert.instance(outcome, ClientClosedError, String(outcome));
});

test('a paused etcd with set_grpc_timeout → 4 "gRPC timeout"; works again after resume', async () => {
  const p = uniquePrefix('err-paused');
  const slow = newClient(cluster.endpoint);
  ok(await slow.set(p + 'k', 'v')); // connected before the pause
  slow.set_grpc_timeout(1000);
  const member = cluster.members[0]!;
  member.pause();
  try {
    const t0 = Date.now();
    const [g, s, l] = await Promise.all([slow.get(p + 'k'), slow.set(p + 'k', 'w'), slow.leasetimetolive(1n)]);
    const ms = Date.now() - t0;
    for (const r of [g, s, l]) {
      assert.is(r.error_code(), ERROR_GRPC_DEADLINE_EXCEEDED, `${r.action()}: ${r.error_code()} ${r.error_message()}`);
      assert.is(r.error_message(), 'gRPC timeout');
      assert.ok(r.is_grpc_timeout());
      assert.not.ok(r.is_network_unavailable());
    }
    assert.is(g.action(), 'get');
    assert.is(s.action(), 'set');
    assert.ok(ms >= 900 && ms < 6000, `timeouts took ${ms} ms (set_grpc_timeout(1000); a timer never fires early)`);
  } finally {
    member.resume();
  }
  // the same client recovers once the member runs again (the timed-out set may or may not have applied)
  const g = await eventually(async () => {
    const r = await slow.get(p + 'k');
    return r.is_ok() ? r : undefined;
  }, 10_000, 'get after resume');
  assert.ok(['v', 'w'].includes(g.value().as_string()));
  slow.set_grpc_timeout(0);
  assert.is(slow.get_grpc_timeout(), 0);
  ok(await slow.set(p + 'k', 'after'));
});

test('close() while calls hang on a paused etcd rejects them with ClientClosedError promptly', async () => {
  const c = newClient(cluster.endpoint);
  ok(await c.head());
  const member = cluster.members[0]!;
  member.pause();
  try {
    const pending = [c.get('/it/errors/hang'), c.set('/it/errors/hang', 'v'), c.leases()].map((p) =>
      p.then(
        (r) => `resolved ${r.error_code()} ${r.error_message()}`,
        (e: unknown) => e,
      ),
    );
    // the calls are really stuck: none settles while the member is paused (bounded check, 300 ms)
    let settledEarly = 0;
    for (const p of pending) void p.then(() => settledEarly++);
    await pause(300, 'a bounded negative check: nothing settles while the member is paused');
    assert.is(settledEarly, 0, 'no call settled while paused');
    const t0 = Date.now();
    await c.close();
    const settled = await Promise.all(pending);
    assert.ok(Date.now() - t0 < 4000, `settled after ${Date.now() - t0} ms (close() settles stuck calls, the member is still paused)`);
    for (const s of settled) assert.instance(s, ClientClosedError, String(s));
  } finally {
    member.resume();
  }
  ok(await client.head(), 'the suite client still works after resume');
});

test('a listing larger than 4 MiB (grpc-js default receive limit) is received', async () => {
  const p = uniquePrefix('err-large-ls');
  const chunk = Buffer.alloc(1024 * 1024, 0x7a);
  for (let i = 0; i < 5; i++) ok(await client.set(`${p}${i}`, chunk));
  const l = ok(await client.ls(p));
  assert.is(l.values().length, 5);
  for (const v of l.values()) assert.ok(v.as_bytes().equals(chunk));
  const d = ok(await client.rmdir(p, true));
  assert.is(d.values().length, 5);
});

test('timeoutMs option applies like set_grpc_timeout: a call to a paused etcd answers 4 "gRPC timeout"', async () => {
  const c = newClient(cluster.endpoint, { timeoutMs: 1500 });
  assert.is(c.get_grpc_timeout(), 1500);
  ok(await c.head()); // connected before the pause
  const member = cluster.members[0]!;
  member.pause();
  try {
    const t0 = Date.now();
    const r = await within(c.get(uniquePrefix('err-timeout-opt') + 'k'), 15_000, 'a get under timeoutMs');
    const ms = Date.now() - t0;
    assert.is(r.error_code(), ERROR_GRPC_DEADLINE_EXCEEDED, `${r.error_code()} ${r.error_message()}`);
    assert.is(r.error_message(), 'gRPC timeout');
    assert.ok(ms >= 1400 && ms < 7000, `timed out after ${ms} ms (timeoutMs 1500; a timer never fires early)`);
  } finally {
    member.resume();
  }
  ok(await c.head(), 'works again after resume');
});

test('endpoint list with a dead and a live endpoint: every call succeeds', async () => {
  const p = uniquePrefix('err-rr');
  const [port] = await pickFreePorts(1);
  for (const url of [`http://127.0.0.1:1,${cluster.endpoint}`, `${cluster.endpoint};http://127.0.0.1:${port}`]) {
    const rr = newClient(url);
    ok(await rr.set(p + 'k', url));
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await rr.get(p + 'k'));
    results.push(...(await Promise.all(Array.from({ length: 20 }, () => rr.get(p + 'k')))));
    for (const r of results) kvIs(ok(r, 'get via mixed endpoint list').value(), p + 'k', url);
    await rr.close();
  }
  const pf = newClient(`http://127.0.0.1:1,${cluster.endpoint}`, 'pick_first');
  for (let i = 0; i < 5; i++) ok(await pf.head(), 'pick_first head');
  await pf.close();
});

// ---- closing ---------------------------------------------------------------------------------------

test('after close(): calls reject with ClientClosedError; close() twice is fine; asyncDispose exists', async () => {
  const c = newClient(cluster.endpoint);
  ok(await c.head());
  assert.type(c[Symbol.asyncDispose], 'function');
  const inflight = c.get('/it/errors/closing');
  const first = c.close();
  const second = c.close();
  await first;
  await second;
  await c.close();
  // an in-flight call settles (either answered or rejected as closed), it never hangs
  const settled = await inflight.then(
    (r) => `resolved ${r.error_code()}`,
    (e: unknown) => (e instanceof ClientClosedError ? 'closed' : `other ${String(e)}`),
  );
  assert.ok(settled === 'closed' || settled.startsWith('resolved'), settled);

  const calls: [string, () => Promise<unknown>][] = [
    ['head', () => c.head()],
    ['get', () => c.get('k')],
    ['set', () => c.set('k', 'v')],
    ['add', () => c.add('k', 'v')],
    ['modify', () => c.modify('k', 'v')],
    ['modify_if', () => c.modify_if('k', 'v', 'o')],
    ['rm', () => c.rm('k')],
    ['rm_if', () => c.rm_if('k', 1)],
    ['rmdir', () => c.rmdir('k', true)],
    ['ls', () => c.ls('k')],
    ['keys', () => c.keys('k')],
    ['txn', () => c.txn(new Transaction())],
    ['leasegrant', () => c.leasegrant(5)],
    ['leaserevoke', () => c.leaserevoke(1n)],
    ['leasetimetolive', () => c.leasetimetolive(1n)],
    ['leases', () => c.leases()],
  ];
  for (const [name, call] of calls) {
    let err: unknown;
    try {
      await call();
    } catch (e) {
      err = e;
    }
    assert.instance(err, ClientClosedError, `${name} after close: ${String(err)}`);
  }
  // still validates arguments first: programmer errors stay synchronous
  throwsKind(() => c.get(5 as unknown as string), TypeError, /\bkey\b/, 'get(5) after close');
});

test('Symbol.asyncDispose closes the client', async () => {
  const c = newClient(cluster.endpoint);
  ok(await c.head());
  await c[Symbol.asyncDispose]();
  let err: unknown;
  try {
    await c.head();
  } catch (e) {
    err = e;
  }
  assert.instance(err, ClientClosedError);
});

test.run();
