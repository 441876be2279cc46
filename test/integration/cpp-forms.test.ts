// Every constructor form etcd-cpp-apiv3 declares for Client and KeepAlive ports as written, against a
// real etcd with authentication and one with mutual TLS. The C++ declarations of etcd::Client and etcd::KeepAlive,
// each covered below by the test named after it:
//
//   Client(url, load_balancer = "round_robin")
//   Client(url, ChannelArguments)                                  -> new Client(url, { ...options })
//   Client(url, username, password, auth_token_ttl = 300, load_balancer = "round_robin")
//   Client(url, ca, cert, privkey, target_name_override, load_balancer = "round_robin")
//     (target_name_override may be left out here: "" as in WithSSL; a third string after the URL means TLS,
//      a number there means user/password, as the C++ parameter types decide)
//   KeepAlive(Client const&, int ttl, int64_t lease_id = 0)
//   KeepAlive(std::string address, int ttl, int64_t lease_id = 0)
//   KeepAlive(std::string address, username, password, int ttl, int64_t lease_id = 0, int auth_token_ttl = 300)
//   KeepAlive(Client const&, handler, int ttl, int64_t lease_id = 0)
//   KeepAlive(std::string address, handler, int ttl, int64_t lease_id = 0)
//   KeepAlive(std::string address, username, password, handler, int ttl, int64_t lease_id = 0, int auth_token_ttl = 300)
//   KeepAlive(std::string address, ca, cert, privkey, handler, int ttl, int64_t lease_id = 0, target_name_override = "")
//   (the SyncClient forms are the Client forms here: there is one client class)

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, KeepAlive, KeepAliveError, LeaseExpiredError, LeaseNotReadyError } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { makeCerts, mutualTls, type TestPki } from '../../src/testing';
import { ok, uniquePrefix } from './util';
import { eventually, pause, within } from '../helpers/wait';

/** The lease is alive on etcd with a TTL of at most `ttl`. */
async function alive(c: Client, id: bigint, ttl: number): Promise<void> {
  const t = ok(await c.leasetimetolive(id), 'leasetimetolive').value().ttl();
  assert.ok(t > 0 && t <= ttl, `lease ${id} alive with ttl ${t} (granted ${ttl})`);
}

/** A KeepAlive made with lease_id 0: Lease() throws before the grant, ready() gives the id, it is kept alive. */
async function grantsAndKeeps(ka: KeepAlive, checker: Client, ttl: number, what: string): Promise<bigint> {
  try {
    assert.throws(() => ka.Lease(), (e: unknown) => e instanceof LeaseNotReadyError && (e as LeaseNotReadyError).code === 'ERR_LEASE_NOT_READY', `${what}: Lease() before the grant`);
    const id = await within(ka.ready(), 5000, `${what}: ready()`);
    assert.is(ka.Lease(), id, `${what}: Lease() after ready()`);
    await ka.Check();
    await alive(checker, id, ttl);
    return id;
  } catch (err) {
    ka.Cancel();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------

const auth = suite<{ cluster: EtcdCluster; root: Client }>('C++ constructor forms: plain and user/password (etcd with auth)');

auth.before(async (ctx) => {
  ctx.cluster = await startEtcd({ name: 'it-cppforms', dataDirOnTmpfs: true });
  for (const args of [['user', 'add', 'root:pw'], ['auth', 'enable']]) {
    const r = await ctx.cluster.etcdctl(args);
    assert.is(r.code, 0, `etcdctl ${args.join(' ')}: ${r.stderr}`);
  }
  ctx.root = new Client(ctx.cluster.endpoint, 'root', 'pw');
});

auth.after(async (ctx) => {
  await ctx.root?.close();
  await ctx.cluster?.stop();
});

auth('Client(url, username, password[, auth_token_ttl[, load_balancer]]) and Client(url, options)', async ({ cluster }) => {
  const clients = [
    new Client(cluster.endpoint, 'root', 'pw'),
    new Client(cluster.endpoint, 'root', 'pw', 60),
    new Client(cluster.endpoint, 'root', 'pw', 60, 'pick_first'),
    new Client(cluster.endpoint, { username: 'root', password: 'pw' }),
  ];
  try {
    for (const [i, c] of clients.entries()) ok(await c.put(`${uniquePrefix('cpp')}${i}`, 'v'), `client ${i}`);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  // Without credentials (Client(url[, load_balancer])) etcd refuses: the form is read as no-auth.
  const anonymous = new Client(cluster.endpoint, 'round_robin');
  try {
    assert.is((await anonymous.get('/x')).error_code(), 3);
  } finally {
    await anonymous.close();
  }
});

auth('KeepAlive(client, ttl): lease_id defaults to 0 = grant one; Lease() throws LeaseNotReadyError until ready()', async ({ root }) => {
  const ka = new KeepAlive(root, 5);
  try {
    await grantsAndKeeps(ka, root, 5, 'KeepAlive(client, ttl)');
  } finally {
    ka.Cancel();
  }
});

auth('KeepAlive(client, ttl, 0) grants; KeepAlive(client, ttl, lease_id) keeps the given lease', async ({ root }) => {
  const granted = ok(await root.leasegrant(5), 'leasegrant').value().lease();
  const b = new KeepAlive(root, 5, granted);
  const a = new KeepAlive(root, 5, 0);
  try {
    await grantsAndKeeps(a, root, 5, 'KeepAlive(client, ttl, 0)');
    assert.is(b.Lease(), granted, 'an explicit id is known at once');
    assert.is(await b.ready(), granted);
    await b.Check();
  } finally {
    a.Cancel();
    b.Cancel();
  }
});

auth('KeepAlive(client, handler, ttl[, lease_id]): the handler hears the loss of a granted lease', async ({ root }) => {
  let handled: Error | undefined;
  const ka = new KeepAlive(root, (e) => (handled = e), 5);
  const id = await grantsAndKeeps(ka, root, 5, 'KeepAlive(client, handler, ttl)');
  ok(await root.leaserevoke(id), 'revoke');
  const err = await within(ka.closed(), 5000, 'loss');
  assert.ok(err instanceof LeaseExpiredError, `got ${String(err)}`);
  assert.is(handled, err, 'the handler got the same error');
  const explicit = ok(await root.leasegrant(5), 'leasegrant').value().lease();
  const kb = new KeepAlive(root, () => {}, 5, explicit);
  try {
    assert.is(kb.Lease(), explicit);
  } finally {
    kb.Cancel();
  }
});

auth('KeepAlive(url, username, password, [handler,] ttl[, lease_id[, auth_token_ttl]]) makes its own client', async ({ cluster, root }) => {
  const url = cluster.endpoint;
  const make = [() => new KeepAlive(url, 'root', 'pw', 5), () => new KeepAlive(url, 'root', 'pw', () => {}, 5, 0, 60)];
  for (const [i, m] of make.entries()) {
    const ka = m();
    try {
      await grantsAndKeeps(ka, root, 5, `user/password form ${i}`);
    } finally {
      ka.Cancel();
    }
  }
  // A wrong password: the grant fails, ready() rejects with a KeepAliveError carrying etcd's code.
  let handled: Error | undefined;
  const bad = new KeepAlive(url, 'root', 'wrong', (e) => (handled = e), 5);
  const err = await bad.ready().then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof KeepAliveError && err.code === 16, `got ${String(err)}`);
  assert.throws(() => bad.Lease(), (e: unknown) => e instanceof LeaseNotReadyError && (e as Error).cause === err);
  await Promise.resolve();
  assert.is(handled, err, 'the handler hears a failed grant');
});

auth('Cancel() before the grant completes: ready() rejects, the granted lease is revoked', async ({ root }) => {
  const ka = new KeepAlive(root, 30);
  ka.Cancel();
  const err = await ka.ready().then(() => undefined, (e: unknown) => e as KeepAliveError);
  assert.ok(err instanceof KeepAliveError, `got ${String(err)}`);
  const id = err.leaseId;
  assert.ok(id > 0n, 'the error names the lease that was granted');
  // revoked: eventually not found
  await eventually(async () => ok(await root.leasetimetolive(id)).value().ttl() <= 0, 10_000, 'the lease granted after Cancel() to be revoked');
});

auth('argument errors stay clear', async ({ root }) => {
  assert.throws(() => new KeepAlive(root, 0), /ttl must be > 0 when lease_id is 0/);
  assert.throws(() => new (KeepAlive as new (...a: unknown[]) => KeepAlive)(root, 'x'), /expected \[handler,\] ttl/);
  assert.throws(() => new KeepAlive('http://127.0.0.1:1', 'a' as unknown as number), /username, password/);
  assert.throws(() => new (KeepAlive as new (...a: unknown[]) => KeepAlive)(root, 5, 1n, 7), /unexpected argument/);
});

auth.run();

// ---------------------------------------------------------------------------------------------------------

const plain = suite<{ cluster: EtcdCluster; checker: Client }>('C++ constructor forms: plain URL (etcd without auth)');

plain.before(async (ctx) => {
  ctx.cluster = await startEtcd({ name: 'it-cppforms-plain', dataDirOnTmpfs: true });
  ctx.checker = new Client(ctx.cluster.endpoint);
});

plain.after(async (ctx) => {
  await ctx.checker?.close();
  await ctx.cluster?.stop();
});

plain('Client(url[, load_balancer]) and KeepAlive(url, ttl[, lease_id]), (url, handler, ttl[, lease_id])', async ({ cluster, checker }) => {
  const url = cluster.endpoint;
  for (const [i, c] of [new Client(url), new Client(url, 'pick_first')].entries()) {
    try {
      ok(await c.put(`${uniquePrefix('cpp-plain')}${i}`, 'v'), `Client form ${i}`);
    } finally {
      await c.close();
    }
  }
  const make = [() => new KeepAlive(url, 5), () => new KeepAlive(url, 5, 0), () => new KeepAlive(url, () => {}, 5), () => new KeepAlive(url, () => {}, 5, 0)];
  for (const [i, m] of make.entries()) {
    const ka = m();
    try {
      await grantsAndKeeps(ka, checker, 5, `URL form ${i}`);
    } finally {
      ka.Cancel();
    }
  }
  const explicit = ok(await checker.leasegrant(5), 'leasegrant').value().lease();
  const kb = new KeepAlive(url, 5, explicit);
  try {
    assert.is(kb.Lease(), explicit);
    await kb.Check();
  } finally {
    kb.Cancel();
  }
});

plain.run();

// ---------------------------------------------------------------------------------------------------------

const tls = suite<{ pki: TestPki; cluster: EtcdCluster; url: string; checker: Client }>('C++ constructor forms: TLS (etcd with client certificates)');

tls.before(async (ctx) => {
  ctx.pki = makeCerts();
  ctx.cluster = await startEtcd({ name: 'it-cppforms-tls', dataDirOnTmpfs: true, tls: mutualTls(ctx.pki) });
  ctx.url = ctx.cluster.endpoint;
  ctx.checker = new Client(ctx.url, { ca: ctx.pki.ca.cert, cert: ctx.pki.client.cert, key: ctx.pki.client.key });
});

tls.after(async (ctx) => {
  await ctx.checker?.close();
  await ctx.cluster?.stop();
  ctx.pki?.cleanup();
});

tls('Client(url, ca, cert, privkey) (target_name_override ""), with it and with a load balancer: TLS, files', async ({ pki, url }) => {
  const { ca, client } = pki;
  const clients = [
    new Client(url, ca.certFile, client.certFile, client.keyFile),
    new Client(url, ca.certFile, client.certFile, client.keyFile, ''),
    new Client(url, ca.certFile, client.certFile, client.keyFile, '', 'round_robin'),
  ];
  try {
    for (const [i, c] of clients.entries()) ok(await c.put(`${uniquePrefix('cpp-tls')}${i}`, 'v'), `TLS form ${i}`);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

tls('KeepAlive(url, ca, cert, privkey, handler, ttl[, lease_id[, target_name_override]])', async ({ pki, url, checker }) => {
  const { ca, client } = pki;
  const make = [
    () => new KeepAlive(url, ca.certFile, client.certFile, client.keyFile, () => {}, 5),
    () => new KeepAlive(url, ca.certFile, client.certFile, client.keyFile, () => {}, 5, 0, ''),
  ];
  for (const [i, m] of make.entries()) {
    const ka = m();
    try {
      await grantsAndKeeps(ka, checker, 5, `TLS form ${i}`);
    } finally {
      ka.Cancel();
    }
  }
});

tls.run();
