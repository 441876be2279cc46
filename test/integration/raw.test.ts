// `client.raw`: the typed generated stubs on the client's channel — unary calls with generated
// request types, maintenance status, and the Watch duplex stream, which must leave nothing open once
// destroyed.

import * as http from 'node:http';
import * as path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  StatusRequest,
  TxnRequest,
  WatchRequest,
  type WatchResponse,
} from '../../generated/etcdserver/etcdserverpb/rpc';
import { Event_EventType } from '../../generated/mvcc/mvccpb/kv';
import { Client, ClientClosedError, GrpcStatusError } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { etcdVersion, eventually, kvIs, ok, reader, uniquePrefix } from './util';
import { runChild } from '../helpers/child';
import { closeOwned, owned } from '../helpers/cleanup';

let cluster: EtcdCluster;
let client: Client;

const test = suite('raw generated stubs');

test.before(async () => {
  cluster = await startEtcd({ name: 'it-raw', dataDirOnTmpfs: true });
  client = new Client(cluster.endpoint);
});

test.after.each(closeOwned);
test.after(async () => {
  await client?.close();
  await cluster?.stop();
});

/** One gauge from etcd's /metrics (Prometheus text format). */
function metric(name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${cluster.endpoints[0]}/metrics`, { agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const line = body.split('\n').find((l) => l.startsWith(name + ' '));
        if (!line) reject(new Error(`metric ${name} not found`));
        else resolve(Number(line.slice(name.length + 1)));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('metrics timeout')));
    req.on('error', reject);
  });
}

const watchCreate = (key: Buffer, extra: Partial<{ rangeEnd: Buffer; startRevision: bigint; prevKv: boolean }> = {}) =>
  WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', createRequest: { key, ...extra } } });

// ---- unary -----------------------------------------------------------------------------------------

test('raw.kv.put / range / deleteRange / txn with generated request types', async () => {
  const p = uniquePrefix('raw-kv');
  const key = Buffer.from(p + 'k');
  const put = await client.raw.kv.put(PutRequest.fromPartial({ key, value: Buffer.from([0, 1, 0xff]), prevKv: true }));
  assert.is(typeof put.header?.revision, 'bigint');
  assert.is(typeof put.header?.clusterId, 'bigint');
  assert.ok(put.header!.clusterId !== 0n);
  assert.is(put.prevKv, undefined, 'no prev kv for a new key');
  const rev = put.header!.revision;

  const put2 = await client.raw.kv.put(PutRequest.fromPartial({ key, value: Buffer.from('second'), prevKv: true }));
  assert.is(put2.header!.revision, rev + 1n);
  assert.ok(put2.prevKv, 'prev kv on overwrite');
  assert.ok(Buffer.from(put2.prevKv!.value).equals(Buffer.from([0, 1, 0xff])));

  const range = await client.raw.kv.range(RangeRequest.fromPartial({ key }));
  assert.is(range.kvs.length, 1);
  assert.is(range.count, 1n);
  const kv = range.kvs[0]!;
  assert.ok(Buffer.from(kv.key).equals(key));
  assert.is(Buffer.from(kv.value).toString(), 'second');
  assert.is(kv.version, 2n);
  assert.is(kv.createRevision, rev);
  assert.is(kv.modRevision, rev + 1n);

  // historical read through the raw stub
  const old = await client.raw.kv.range(RangeRequest.fromPartial({ key, revision: rev }));
  assert.ok(Buffer.from(old.kvs[0]!.value).equals(Buffer.from([0, 1, 0xff])));

  // and the C++-shaped API sees the same data on the same channel
  kvIs(ok(await client.get(p + 'k')).value(), p + 'k', 'second', 2);

  const txn = await client.raw.kv.txn(
    TxnRequest.fromPartial({
      compare: [{ key, target: 0 /* VERSION */, result: 0 /* EQUAL */, targetUnion: { $case: 'version', version: 2n } }],
      success: [{ request: { $case: 'requestRange', requestRange: RangeRequest.fromPartial({ key }) } }],
    }),
  );
  assert.is(txn.succeeded, true);
  const op = txn.responses[0]?.response;
  assert.is(op?.$case, 'responseRange');

  const del = await client.raw.kv.deleteRange(DeleteRangeRequest.fromPartial({ key, prevKv: true }));
  assert.is(del.deleted, 1n);
  assert.is(Buffer.from(del.prevKvs[0]!.value).toString(), 'second');
});

test('raw unary errors reject with GrpcStatusError (not retried, not a Response)', async () => {
  let err: unknown;
  try {
    await client.raw.kv.range(RangeRequest.fromPartial({ key: Buffer.alloc(0) }));
  } catch (e) {
    err = e;
  }
  assert.instance(err, GrpcStatusError);
  assert.is((err as GrpcStatusError).code, 3);
  assert.match((err as GrpcStatusError).details, /key is not provided/);

  err = undefined;
  try {
    await client.raw.lease.leaseRevoke({ ID: 987654321n });
  } catch (e) {
    err = e;
  }
  assert.instance(err, GrpcStatusError);
  assert.is((err as GrpcStatusError).code, 5);
  assert.is((err as GrpcStatusError).details, 'etcdserver: requested lease not found');
});

test('raw unary calls accept an AbortSignal', async () => {
  const ac = new AbortController();
  const reason = new Error('caller aborted');
  ac.abort(reason);
  let err: unknown;
  try {
    await client.raw.kv.range(RangeRequest.fromPartial({ key: Buffer.from('x') }), { signal: ac.signal });
  } catch (e) {
    err = e;
  }
  assert.is(err, reason, 'rejects with the caller’s own reason');
});

test('raw.maintenance.status reports the version of the etcd binary under test', async () => {
  const st = await client.raw.maintenance.status(StatusRequest.fromPartial({}));
  assert.is(st.version, etcdVersion().join('.'));
  assert.is(typeof st.leader, 'bigint');
  assert.ok(st.leader !== 0n);
  assert.is(st.leader, st.header!.memberId, 'single member is its own leader');
  assert.ok(st.dbSize > 0n);
  const head = ok(await client.head());
  assert.is(head.member_id(), st.header!.memberId);
  assert.is(head.cluster_id(), st.header!.clusterId);
});

// ---- watch stream ----------------------------------------------------------------------------------

test('raw.watch.watch(): created, then an event for a put; destroy() ends the server-side watch', async () => {
  const p = uniquePrefix('raw-watch');
  const key = Buffer.from(p + 'k');
  assert.is(await metric('etcd_debugging_mvcc_watcher_total'), 0, 'no watchers before');

  const w = client.raw.watch.watch();
  const r = reader<WatchResponse>(w);
  w.write(watchCreate(key, { prevKv: true }));
  const created = await r.next(5000, 'created');
  assert.is(created.created, true);
  assert.is(created.canceled, false);
  assert.is(typeof created.watchId, 'bigint');
  assert.is(created.events.length, 0);
  await eventually(async () => (await metric('etcd_debugging_mvcc_watcher_total')) === 1, 5000, 'server counts the watcher');

  const put = await client.raw.kv.put(PutRequest.fromPartial({ key, value: Buffer.from('v1') }));
  const ev = await r.next(5000, 'put event');
  assert.is(ev.watchId, created.watchId);
  assert.is(ev.events.length, 1);
  assert.is(ev.events[0]!.type, Event_EventType.PUT);
  assert.ok(Buffer.from(ev.events[0]!.kv!.key).equals(key));
  assert.is(Buffer.from(ev.events[0]!.kv!.value).toString(), 'v1');
  assert.is(ev.events[0]!.kv!.modRevision, put.header!.revision);
  assert.is(ev.events[0]!.prevKv, undefined);

  ok(await client.set(p + 'k', 'v2'));
  const ev2 = await r.next(5000, 'second put event');
  assert.is(Buffer.from(ev2.events[0]!.prevKv!.value).toString(), 'v1');
  ok(await client.rm(p + 'k'));
  const ev3 = await r.next(5000, 'delete event');
  assert.is(ev3.events[0]!.type, Event_EventType.DELETE);

  w.destroy();
  // a grpc-js watch must be cancelled, not just ended, or etcd keeps it (and the process) alive
  await eventually(
    async () => (await metric('etcd_debugging_mvcc_watcher_total')) === 0 && (await metric('etcd_debugging_mvcc_watch_stream_total')) === 0,
    5000,
    'etcd to drop the watcher and its stream after destroy()',
  );
  assert.ok(w.destroyed);
});

test('raw watch: historical replay from a start revision and a cancel request', async () => {
  const p = uniquePrefix('raw-watch-hist');
  const first = ok(await client.set(p + 'a', '1')).index();
  ok(await client.set(p + 'b', '2'));
  ok(await client.set(p + 'a', '3'));
  const w = client.raw.watch.watch();
  const r = reader<WatchResponse>(w);
  w.write(watchCreate(Buffer.from(p), { rangeEnd: Buffer.from(p.slice(0, -1) + '0'), startRevision: BigInt(first) }));
  const created = await r.next(5000, 'created');
  assert.ok(created.created);
  const events: string[] = [];
  while (events.length < 3) {
    const m = await r.next(5000, 'replayed events');
    for (const e of m.events) events.push(`${Buffer.from(e.kv!.key).toString().slice(p.length)}=${Buffer.from(e.kv!.value).toString()}`);
  }
  assert.equal(events, ['a=1', 'b=2', 'a=3']);
  w.write(WatchRequest.fromPartial({ requestUnion: { $case: 'cancelRequest', cancelRequest: { watchId: created.watchId } } }));
  const cancelled = await r.next(5000, 'canceled');
  assert.is(cancelled.canceled, true);
  assert.is(cancelled.watchId, created.watchId);
  w.destroy();
  await eventually(async () => (await metric('etcd_debugging_mvcc_watch_stream_total')) === 0, 5000, 'stream gone');
});

test('raw watch streams end when the client closes; raw after close throws ClientClosedError', async () => {
  const c = owned(new Client(cluster.endpoint));
  try {
    const w = c.raw.watch.watch();
    const r = reader<WatchResponse>(w);
    w.write(watchCreate(Buffer.from(uniquePrefix('raw-close'))));
    assert.ok((await r.next(5000, 'created')).created);
    await c.close();
    await eventually(() => w.destroyed, 5000, 'stream destroyed by close()');
    await eventually(async () => (await metric('etcd_debugging_mvcc_watch_stream_total')) === 0, 5000, 'server stream gone');
    let err: unknown;
    try {
      void c.raw;
    } catch (e) {
      err = e;
    }
    assert.instance(err, ClientClosedError);
  } finally {
    await c.close();
  }
});

/** Runs a child process that opens a raw watch, sees an event, destroys the stream; resolves with its exit. */
async function watchInChild(closeClient: boolean): Promise<{ code: number | string; out: string; err: string }> {
  const root = path.resolve(__dirname, '../..');
  const script = `
    const { Client } = require(${JSON.stringify(path.join(root, 'src/index.ts'))});
    const { WatchRequest, PutRequest } = require(${JSON.stringify(path.join(root, 'generated/etcdserver/etcdserverpb/rpc.ts'))});
    (async () => {
      const c = new Client(${JSON.stringify(cluster.endpoint)});
      const key = Buffer.from(${JSON.stringify(uniquePrefix('raw-exit') + 'k')});
      const w = c.raw.watch.watch();
      w.on('error', () => {});
      const got = new Promise((resolve) => w.on('data', (m) => { if (m.events.length) resolve(m); }));
      const created = new Promise((resolve) => w.once('data', resolve));
      w.write(WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', createRequest: { key } } }));
      await created;
      await c.raw.kv.put(PutRequest.fromPartial({ key, value: Buffer.from('x') }));
      await got;
      w.destroy();
      ${closeClient ? 'await c.close();' : ''}
      console.log('done');
    })().catch((e) => { console.error(e); process.exit(2); });
  `;
  const run = await runChild({ code: script, timeoutMs: 15_000 });
  return { code: run.hung ? 'did not exit within 15 s' : (run.code ?? String(run.signal)), out: run.out, err: run.err };
}

test('a process that destroys its raw watch and closes its client exits by itself', async () => {
  const { code, out, err } = await watchInChild(true);
  assert.is(code, 0, `child: ${code} ${err}`);
  assert.is(out.trim(), 'done');
});

test('destroy() alone releases the stream: the process exits even without close()', async () => {
  const { code, out, err } = await watchInChild(false);
  assert.is(code, 0, `child: ${code} ${err}`);
  assert.is(out.trim(), 'done');
});

test.run();
