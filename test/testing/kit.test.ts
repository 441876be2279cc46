// etcd-apiv3/testing itself: the shapes the README promises and each fault's effect, against real etcd.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Watcher, type Response } from '../../src/index';
import { RangeResponse } from '../../src/proto';
import {
  ETCD_MISSING_MESSAGE,
  startFakeEtcd,
  checkHistory,
  compareHistory,
  etcdCacheDir,
  pinnedVersion,
  resolveBinaries,
  startCluster,
  startEtcd,
  startProxy,
  versionFlags,
} from '../../src/testing';
import { eventually, pause } from '../helpers/wait';

/** A bounded poll (test/helpers/wait.ts); a throw from fn counts as "not yet". */
const until = eventually;

test('startEtcd: endpoint, etcdctl, stop/start keep ports and data, kill, pause/resume, close removes the files', async () => {
  const etcd = await startEtcd({ name: 'kit-single', args: ['--auto-compaction-retention=0'] });
  try {
    assert.match(etcd.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(etcd.endpoints, [etcd.endpoint]);
    assert.is(typeof etcd.pid, 'number');
    const put = await etcd.etcdctl(['put', 'k', 'v']);
    assert.equal([put.code, put.stdout.trim()], [0, 'OK']);
    await etcd.stop();
    assert.not.ok(etcd.isRunning);
    assert.ok(fs.existsSync(etcd.dataDir), 'stop() keeps the data');
    const endpoint = etcd.endpoint;
    await etcd.start();
    assert.is(etcd.endpoint, endpoint, 'same port after start()');
    assert.is((await etcd.etcdctl(['get', 'k', '--print-value-only'])).stdout.trim(), 'v', 'same data after start()');
    await etcd.kill();
    await etcd.restart();
    assert.ok(await etcd.healthy());
    await etcd.pause();
    assert.ok(etcd.isPaused);
    assert.not.ok(await etcd.healthy(300), 'a paused etcd answers nothing');
    await etcd.resume();
    assert.ok(await until(() => etcd.healthy(), 5_000, 'health after resume'));
    assert.is(await etcd.leader(), 0);
  } finally {
    await etcd[Symbol.asyncDispose]();
  }
  assert.not.ok(fs.existsSync(path.dirname(etcd.dataDir)), 'close() removes the data directory');
  assert.not.ok(etcd.isRunning);
});

test("startEtcd({ auth: true }): a root user; etcdctl logs in as root; a client without credentials is refused", async () => {
  const etcd = await startEtcd({ name: 'kit-auth', auth: true });
  const good = new Client(etcd.endpoint, { username: etcd.username!, password: etcd.password! });
  const anon = new Client(etcd.endpoint);
  try {
    assert.is(etcd.username, 'root');
    assert.ok((await good.put('a', '1')).is_ok());
    assert.is((await etcd.etcdctl(['get', 'a', '--print-value-only'])).stdout.trim(), '1');
    assert.is.not((await etcd.etcdctl(['get', 'a'], { noAuth: true })).code, 0);
    assert.not.ok((await anon.get('a')).is_ok());
  } finally {
    await good.close();
    await anon.close();
    await etcd.close();
  }
});

test("startEtcd({ tls: true }) and ({ tls: 'mutual' }): https endpoints, PEMs for the client", async () => {
  for (const tls of [true, 'mutual'] as const) {
    const etcd = await startEtcd({ name: `kit-tls-${String(tls)}`, tls });
    const client = new Client(etcd.endpoint, { ca: etcd.tls!.ca, ...(tls === 'mutual' ? { cert: etcd.tls!.cert, key: etcd.tls!.key } : {}) });
    try {
      assert.match(etcd.endpoint, /^https:\/\//);
      assert.ok((await client.put('t', String(tls))).is_ok(), `a client reaches a tls=${String(tls)} etcd`);
      assert.is((await etcd.etcdctl(['get', 't', '--print-value-only'])).stdout.trim(), String(tls));
    } finally {
      await client.close();
      await etcd.close();
    }
  }
});

test('startCluster(3): leader() is an index; a killed leader is replaced; a learner joins and is promoted', async () => {
  const cluster = await startCluster(3, { name: 'kit-three' });
  try {
    assert.is(cluster.members.length, 3);
    assert.is(cluster.endpoints.length, 3);
    const first = await cluster.leader();
    assert.ok(first >= 0 && first < 3);
    await cluster.members[first]!.kill();
    const second = await cluster.leader();
    assert.is.not(second, first);
    await cluster.members[first]!.start();
    const learner = await cluster.addLearner();
    assert.ok(learner.isLearner);
    assert.is(cluster.members.length, 4);
    assert.not.ok(cluster.endpoints.includes(learner.endpoint), 'a learner is not a client endpoint');
    const list = await cluster.etcdctl(['member', 'list']);
    assert.match(list.stdout, /true\s*$/m, 'etcdctl lists a learner');
    await cluster.promote(learner);
    assert.not.ok(learner.isLearner);
    assert.ok(cluster.endpoints.includes(learner.endpoint));
  } finally {
    await cluster.close();
  }
});

test('startCluster({ peerProxies }): a leader whose messages stop reaching the others is replaced; heal() rejoins it', async () => {
  const cluster = await startCluster(3, { name: 'kit-partition', peerProxies: true });
  try {
    const old = await cluster.leader();
    const others = [0, 1, 2].filter((i) => i !== old);
    // One way only: the old leader still hears the others, but its heartbeats do not reach them.
    for (const j of others) await cluster.partition(old, j);
    const next = await until(async () => {
      const l = await cluster.leader(1_000);
      return l !== old ? { l } : undefined; // (an index may be 0)
    }, 15_000, 'a new leader among the members the old one cannot reach').then((x) => x.l);
    assert.ok(others.includes(next));
    cluster.heal();
    await cluster.waitHealthy();
    const put = await cluster.etcdctl(['put', 'after-heal', 'x'], { endpoints: [cluster.members[old]!.endpoint] });
    assert.is(put.code, 0, `the healed member serves writes again: ${put.stderr}`);
  } finally {
    await cluster.close();
  }
});

test('startProxy: cut refuses, blackhole holds, partition holds one way, restore delivers, dropAnswer loses one answer', async () => {
  const etcd = await startEtcd({ name: 'kit-proxy' });
  const proxy = await startProxy(etcd.endpoint);
  const client = new Client(proxy.endpoint, { timeoutMs: 1_500 });
  try {
    assert.match(proxy.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok((await client.put('p', '0')).is_ok());
    proxy.cut();
    assert.not.ok((await client.put('p', 'cut')).is_ok(), 'no write through a cut proxy');
    proxy.restore();
    assert.ok((await until(async () => (await client.put('p', '1')).is_ok(), 10_000, 'a write after restore')));

    proxy.blackhole();
    const up = proxy.bytesUp;
    const held = client.put('p', '2');
    await until(async () => proxy.connections > 0, 2_000, 'a connection');
    await pause(200, 'time for the request to be forwarded, were it forwarded');
    assert.is(proxy.bytesUp, up, 'nothing forwarded while blackholed');
    proxy.restore();
    await held;

    proxy.partition('down');
    const beforeDown = proxy.bytesDown;
    const oneWay = client.put('p', '3');
    await proxy.waitForBytes({ up: proxy.bytesUp + 1 });
    assert.is(proxy.bytesDown, beforeDown, 'answers are held, requests flow');
    proxy.restore();
    await oneWay;
    assert.is((await etcd.etcdctl(['get', 'p', '--print-value-only'])).stdout.trim(), '3');

    proxy.delay(150);
    const t0 = Date.now();
    assert.ok((await client.get('p')).is_ok());
    assert.ok(Date.now() - t0 >= 150, 'a delayed round trip takes at least the delay');
    proxy.restore();

    const version = async () => Number(/"version":(\d+)/.exec((await etcd.etcdctl(['get', 'once', '-w', 'json'])).stdout)?.[1] ?? 0);
    const dropped = proxy.dropAnswer();
    const r: Response = await client.put('once', 'x');
    await dropped;
    assert.not.ok(r.is_ok(), 'the write whose answer was lost reports an error');
    assert.is(await version(), 1, 'etcd applied it exactly once (no retry after the lost answer)');
  } finally {
    await client.close();
    await proxy.close();
    await etcd.close();
  }
});

test("checkHistory: a watcher's events match etcd's history; a missing event is named", async () => {
  const etcd = await startEtcd({ name: 'kit-history' });
  const client = new Client(etcd.endpoint);
  const got: Response[] = [];
  try {
    const start = (await client.head()).index() + 1;
    const w = new Watcher(client, 'h/', start, (r: Response) => got.push(r), true);
    await client.put('h/a', '1');
    await client.put('h/b', '2');
    await client.rm('h/a');
    await client.put('x/other', 'ignored');
    await client.put('h/b', '3');
    await until(async () => got.flatMap((r) => r.events()).length === 4, 5_000, 'four events');
    await w.Cancel();
    const events = got.flatMap((r) => r.events());
    const ok = await checkHistory(etcd, events, { key: 'h/', prefix: true, fromRevision: start });
    assert.ok(ok.ok, ok.divergence?.message);
    assert.is(ok.expected.length, 4);
    const missing = compareHistory(ok.expected, [...events.slice(0, 2), ...events.slice(3)]);
    assert.not.ok(missing.ok);
    assert.is(missing.divergence!.index, 2);
    assert.match(missing.divergence!.message, /etcd's history has DELETE "h\/a" at revision \d+, the watcher delivered PUT "h\/b"="3"/);
  } finally {
    await client.close();
    await etcd.close();
  }
});

test('startFakeEtcd: scripted unary answers, a scripted error, UNIMPLEMENTED without a script, recorded requests', async () => {
  const fake = await startFakeEtcd();
  const client = new Client(fake.url, { timeoutMs: 2_000 });
  try {
    fake.unary('KV.Range', () =>
      RangeResponse.fromPartial({ header: { revision: 42 }, count: 1, kvs: [{ key: Buffer.from('k'), value: Buffer.from('scripted'), modRevision: 41 }] }),
    );
    fake.unary('KV.Put', () => ({ error: { code: 9, details: 'etcdserver: request is too large' } }));
    const got = await client.get('k');
    assert.is(got.value().as_string(), 'scripted');
    assert.is(got.index(), 42);
    const put = await client.put('k', 'v');
    assert.equal([put.error_code(), put.error_message()], [9, 'etcdserver: request is too large']);
    assert.is((await client.rm('k')).error_code(), 12, 'no script: UNIMPLEMENTED');
    const req = (await fake.request('KV.Range')) as { key: Uint8Array };
    assert.is(Buffer.from(req.key).toString(), 'k');
  } finally {
    await client.close();
    await fake.close();
  }
});

test('binaries: pins, cache misses and a missing etcd say what to do; versionFlags follow the version', async () => {
  assert.match(pinnedVersion('3.6'), /^3\.6\.\d+$/);
  assert.throws(() => resolveBinaries({ version: '3.1' }), /no pinned release/);
  const saved = { ...process.env };
  try {
    process.env.XDG_CACHE_HOME = '/nonexistent-kit-cache';
    assert.is(etcdCacheDir(), '/nonexistent-kit-cache/etcd-apiv3');
    assert.throws(() => resolveBinaries({ version: '3.6' }), /npm run etcd:bin -- 3\.6.*ETCD_BIN/s);
    delete process.env.XDG_CACHE_HOME;
    delete process.env.ETCD_BIN;
    delete process.env.ETCD_VERSION;
    process.env.PATH = '/nonexistent';
    assert.throws(() => resolveBinaries(), (e: Error) => e.message === ETCD_MISSING_MESSAGE);
    await startEtcd().then(
      () => assert.unreachable('started without etcd'),
      (e: Error) => assert.is(e.message, ETCD_MISSING_MESSAGE),
    );
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  assert.ok(versionFlags('3.4.23').includes('--logger=zap'));
  assert.ok(versionFlags('3.5.36', { progressNotifyIntervalMs: 100 }).includes('--experimental-watch-progress-notify-interval=100ms'));
  for (const v of ['3.6.17', '3.7.4']) {
    const flags = versionFlags(v, { progressNotifyIntervalMs: 100 });
    assert.ok(flags.includes('--watch-progress-notify-interval=100ms'));
    assert.not.ok(flags.some((f) => f.startsWith('--experimental-')), `${v}: no --experimental-* flag`);
  }
});

test('startEtcd({ version }) runs each release `npm run etcd:bin` has cached, with its version-specific flags', async () => {
  const cached = ['3.4', '3.5', '3.6', '3.7'].filter((v) => fs.existsSync(path.join(etcdCacheDir(), `etcd-v${pinnedVersion(v)}`, 'etcd')));
  if (cached.length === 0) {
    console.log(`  (skipped: no release in ${etcdCacheDir()})`);
    return;
  }
  for (const v of cached) {
    // progressNotifyIntervalMs is spelled differently per version; 3.7 refuses the old spelling outright.
    const etcd = await startEtcd({ version: v, name: `kit-v${v}`, progressNotifyIntervalMs: 250 });
    try {
      assert.is(etcd.binaries.version, pinnedVersion(v));
      assert.is((await etcd.etcdctl(['put', 'v', v])).code, 0, `etcdctl against ${v}`);
    } finally {
      await etcd.close();
    }
  }
});

test.run();
