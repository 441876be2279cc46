// TLS against a real etcd: server verification with a given CA (PEM text or Buffer), mutual TLS, several
// endpoints behind one certificate name (targetNameOverride), the C++ forms that read PEM files (WithSSL and the
// positional constructor), and prompt, clear failures for a wrong CA or a missing client certificate. The
// certificates are made for the run by the kit's makeCerts() (src/testing/certs.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Watcher, type Response } from '../../src/index';
import { makeCerts, mutualTls, type TestPki } from '../../src/testing';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { startProxy } from '../../src/testing';
import { eventually, failed, ok, uniquePrefix } from './util';
import { leaseKeeper } from '../../src/lease-keeper';
import { watchEngine } from '../../src/watch';
import { valuesInto } from '../helpers/watch';
import { closeOwned, owned } from '../helpers/cleanup';

/** A TLS failure must be reported well within this (the unary retry table bounds it at about a second). */
const PROMPT_MS = 5000;

/** Runs `call` on a fresh client built by `make`, asserts code 14 with a message naming the TLS problem, promptly. */
async function failsWithTls(make: () => Client, message: RegExp, what: string): Promise<Response> {
  const client = make();
  try {
    const t0 = Date.now();
    const r = await client.get('/tls/any');
    const ms = Date.now() - t0;
    failed(r, 14, message);
    assert.ok(ms < PROMPT_MS, `${what}: answered in ${ms} ms`);
    return r;
  } finally {
    await client.close();
  }
}

/** put, then get the same value back. */
async function roundTrip(client: Client, what: string): Promise<void> {
  const key = `${uniquePrefix('tls')}k`;
  ok(await client.put(key, what), `put (${what})`);
  assert.is(ok(await client.get(key), `get (${what})`).value().as_string(), what);
}

// ---------------------------------------------------------------------------------------------------------

const server = suite<{ pki: TestPki; cluster: EtcdCluster; url: string; port: number }>('TLS: server certificate');

server.before(async (ctx) => {
  ctx.pki = makeCerts();
  // No --trusted-ca-file: etcd would then require client certificates.
  ctx.cluster = await startEtcd({
    name: 'it-tls',
    dataDirOnTmpfs: true,
    tls: { certFile: ctx.pki.server.certFile, keyFile: ctx.pki.server.keyFile, caFile: ctx.pki.ca.certFile },
  });
  ctx.url = ctx.cluster.endpoint;
  ctx.port = ctx.cluster.members[0]!.clientPort;
});

server.after.each(closeOwned);
server.after(async (ctx) => {
  await ctx.cluster?.stop();
  ctx.pki?.cleanup();
});

server('https:// with the CA as PEM text or as a Buffer: calls succeed; etcdctl agrees on the data', async ({ pki, url, cluster }) => {
  assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
  for (const ca of [pki.ca.cert, Buffer.from(pki.ca.cert)]) {
    const client = owned(new Client(url, { ca }));
    try {
      await roundTrip(client, typeof ca === 'string' ? 'pem-text' : 'pem-buffer');
      ok(await client.head());
    } finally {
      await client.close();
    }
  }
  const writer = owned(new Client(url, { ca: pki.ca.cert }));
  try {
    ok(await writer.put('/tls/etcdctl', 'seen'));
    const r = await cluster.etcdctl(['get', '/tls/etcdctl', '--print-value-only']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout.toString().trim(), 'seen');
  } finally {
    await writer.close();
  }
});

server('C++ forms read PEM files: WithSSL(url, ca) — whatever the scheme — and new Client(url, ca, cert, key, tno)', async ({ pki, url, port }) => {
  const clients = [
    Client.WithSSL(url, pki.ca.certFile),
    Client.WithSSL(`http://127.0.0.1:${port}`, pki.ca.certFile), // C++ ignores the scheme: WithSSL means TLS
    Client.WithSSL(`127.0.0.1:${port}`, pki.ca.certFile, '', '', '', 'pick_first'),
    new Client(`127.0.0.1:${port}`, pki.ca.certFile, '', '', ''),
    new Client(url, pki.ca.certFile, '', '', '', 'round_robin'),
  ];
  try {
    for (const [i, c] of clients.entries()) await roundTrip(c, `cpp-form-${i}`);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

server('a wrong CA, or none (public roots only): code 14 naming the certificate problem, within seconds', async ({ pki, url }) => {
  const wrong = await failsWithTls(() => new Client(url, { ca: pki.otherCa.cert }), /certificate/i, 'unrelated CA');
  await failsWithTls(() => new Client(url), /certificate/i, 'no CA');
  await failsWithTls(() => Client.WithSSL(url, pki.otherCa.certFile), /certificate/i, 'WithSSL with an unrelated CA');
  assert.ok(wrong.is_network_unavailable(), 'reported as the network being unavailable');
});

server('several endpoints with their own certificates: each one is accepted when valid for any endpoint given', async ({ pki, port }) => {
  // 127.0.0.2:1 refuses connections; the server's certificate is valid for 127.0.0.1 and localhost, not 127.0.0.2.
  // grpc-js alone would check every connection against the first endpoint's host and reject this one.
  const client = new Client(`https://127.0.0.2:1,https://127.0.0.1:${port}`, { ca: pki.ca.cert });
  try {
    await roundTrip(client, 'second-endpoint');
  } finally {
    await client.close();
  }
});

server('a watcher and a keepalive over TLS resume after the connection is cut', async ({ pki, cluster }) => {
  const proxy = await startProxy(cluster.endpoints[0]!);
  // The proxy forwards TCP: TLS runs end to end, and the server certificate is valid for 127.0.0.1.
  const client = owned(new Client(proxy.url.replace('http://', 'https://'), { ca: pki.ca.cert }));
  const direct = owned(new Client(cluster.endpoint, { ca: pki.ca.cert }));
  const seen: string[] = [];
  const watcher = owned(new Watcher(client, '/tls/w/', valuesInto(seen), true));
  try {
    await watcher.ready();
    const ka = await client.leasekeepalive(2);
    ok(await direct.put('/tls/w/a', '1'));
    await eventually(() => seen.length === 1, 5000, 'first event');
    proxy.cut();
    ok(await direct.put('/tls/w/b', '2'));
    // The client has noticed the cut once its keepalive stream failed (the watch stream shares the connection);
    // while cut every reconnect is refused, so the resume below goes through a new TLS handshake.
    const keeper = leaseKeeper(client.conn);
    await eventually(() => keeper.currentState !== 'open', 10_000, 'the keepalive stream to fail on the cut');
    proxy.restore();
    await eventually(() => seen.length === 2, 10_000, 'the event written during the cut');
    assert.equal(seen, ['1', '2']);
    await ka.Check();
    assert.ok(ok(await direct.leasetimetolive(ka.Lease())).value().ttl() > 0, 'lease alive');
    ka.Cancel();
  } finally {
    await watcher.Cancel();
    await client.close();
    await direct.close();
    await proxy.close();
  }
});

server('bad TLS input throws TypeError at construction, naming the problem', async ({ pki, url }) => {
  assert.throws(() => new Client(url, { ca: pki.ca.certFile }), (e: Error) => e instanceof TypeError && /PEM text/.test(e.message) && /WithSSL/.test(e.message));
  assert.throws(() => new Client(url, { ca: 42 as unknown as string }), TypeError);
  assert.throws(() => Client.WithSSL(url, path.join(pki.dir, 'missing.pem')), (e: Error) => e instanceof TypeError && /cannot read ca file/.test(e.message));
  const notPem = path.join(pki.dir, 'not-pem.txt');
  fs.writeFileSync(notPem, 'hello');
  assert.throws(() => Client.WithSSL(url, notPem), (e: Error) => e instanceof TypeError && /is not PEM/.test(e.message));
  assert.throws(() => new Client(url, { ca: pki.ca.cert, cert: pki.client.cert }), /cert and key must be given together/);
  assert.throws(
    () => new Client(url, { ca: pki.ca.cert, cert: pki.client.cert, key: pki.server.key }),
    (e: Error) => e instanceof TypeError && /invalid TLS ca\/cert\/key/.test(e.message),
  );
  assert.throws(() => new Client(url.replace('https', 'http'), { targetNameOverride: 'etcd-cluster' }), /applies to TLS only/);
});

// ---------------------------------------------------------------------------------------------------------

const mtls = suite<{ pki: TestPki; cluster: EtcdCluster; url: string }>('TLS: client certificates (etcd --client-cert-auth)');

mtls.before(async (ctx) => {
  ctx.pki = makeCerts();
  ctx.cluster = await startEtcd({
    name: 'it-mtls',
    dataDirOnTmpfs: true,
    tls: mutualTls(ctx.pki),
  });
  ctx.url = ctx.cluster.endpoint;
});

mtls.after.each(closeOwned);
mtls.after(async (ctx) => {
  await ctx.cluster?.stop();
  ctx.pki?.cleanup();
});

mtls('a client certificate as options (PEM), through WithSSL and the positional form (files): calls succeed', async ({ pki, url }) => {
  const clients = [
    new Client(url, { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key }),
    new Client(url, { ca: Buffer.from(pki.ca.cert), cert: Buffer.from(pki.client.cert), key: Buffer.from(pki.client.key) }),
    Client.WithSSL(url, pki.ca.certFile, pki.client.certFile, pki.client.keyFile),
    new Client(url, pki.ca.certFile, pki.client.certFile, pki.client.keyFile, ''),
  ];
  try {
    for (const [i, c] of clients.entries()) await roundTrip(c, `mtls-${i}`);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

mtls('without a client certificate, or with a wrong CA: code 14 naming the certificate problem, within seconds', async ({ pki, url }) => {
  await failsWithTls(() => new Client(url, { ca: pki.ca.cert }), /certificate/i, 'no client certificate');
  await failsWithTls(() => Client.WithSSL(url, pki.ca.certFile), /certificate/i, 'WithSSL without a client certificate');
  await failsWithTls(
    () => new Client(url, { ca: pki.otherCa.cert, cert: pki.client.cert, key: pki.client.key }),
    /certificate/i,
    'client certificate but an unrelated CA',
  );
  // A watcher does not hang either: it keeps retrying (a transient connection failure, never an error Response)
  // and says so through its connection signal, until cancelled.
  const client = owned(new Client(url, { ca: pki.ca.cert }));
  try {
    const responses: string[] = [];
    const w = owned(new Watcher(client, '/tls/x', valuesInto(responses)));
    const heard: { state: string; cause: string }[] = [];
    w.onConnection((state, error) => heard.push({ state, cause: String((error?.cause as Error | undefined)?.message ?? '') }));
    await eventually(() => heard.length > 0, 3000 + 10_000, "the watcher's 'disconnected' signal");
    assert.is(heard[0]!.state, 'disconnected');
    assert.match(heard[0]!.cause, /certificate|handshake|alert|socket|TLS|ECONNRESET/i, 'the cause is the refused handshake');
    assert.equal(responses, [], 'no error Response: a TLS failure is retried, not reported as the end of the watch');
    // The engine counts every stream it starts, failed ones included (the refusal comes after the call is
    // made): the count goes on growing after the signal while the watcher retries.
    const engine = watchEngine(client.conn);
    const attempts = engine.streamsOpened;
    await eventually(() => engine.streamsOpened > attempts, 10_000, `another attempt after the signal (${attempts} so far)`);
    assert.is(await w.Cancel(), true);
  } finally {
    await client.close();
  }
});

// ---------------------------------------------------------------------------------------------------------

const named = suite<{ pki: TestPki; cluster: EtcdCluster; url: string }>('TLS: three endpoints behind one certificate name (targetNameOverride)');

named.before(async (ctx) => {
  ctx.pki = makeCerts();
  // Every member serves the same certificate, issued for DNS:etcd-cluster only — not for 127.0.0.1.
  ctx.cluster = await startEtcd({
    name: 'it-tls-named',
    members: 3,
    dataDirOnTmpfs: true,
    tls: { ...mutualTls(ctx.pki), certFile: ctx.pki.cluster.certFile, keyFile: ctx.pki.cluster.keyFile, serverName: 'etcd-cluster' },
  });
  ctx.url = ctx.cluster.endpoint;
});

named.after.each(closeOwned);
named.after(async (ctx) => {
  await ctx.cluster?.stop();
  ctx.pki?.cleanup();
});

named('without targetNameOverride the certificate does not match 127.0.0.1: code 14 saying so', async ({ pki, url }) => {
  await failsWithTls(() => new Client(url, { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key }), /altnames|certificate/i, 'no override');
});

named('targetNameOverride "etcd-cluster": calls reach all three members (options, WithSSL, positional form)', async ({ pki, url, cluster }) => {
  assert.is(cluster.endpoints.length, 3);
  const clients = [
    new Client(url, { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key, targetNameOverride: 'etcd-cluster' }),
    Client.WithSSL(url, pki.ca.certFile, pki.client.certFile, pki.client.keyFile, 'etcd-cluster'),
    new Client(url, pki.ca.certFile, pki.client.certFile, pki.client.keyFile, 'etcd-cluster'),
  ];
  try {
    for (const [i, c] of clients.entries()) {
      await roundTrip(c, `named-${i}`);
      // round_robin spreads calls over every member: all three answer through the one certificate name.
      const members = new Set<bigint>();
      await eventually(
        async () => {
          members.add(ok(await c.head()).member_id());
          return members.size === 3;
        },
        5000,
        `client ${i} reaching all three members (saw ${members.size})`,
        10,
      );
    }
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});

server.run();
mtls.run();
named.run();
