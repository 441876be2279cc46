// A real learner member (the testing kit's addLearner(): `member add --learner`, then an etcd process that joins):
// it refuses writes, linearizable reads and streams with "etcdserver: rpc not supported for learner" — 14 before
// etcd 3.6, 9 since — and a client given the learner among other endpoints treats both codes the same: every call
// and stream goes on to the voting member (src/retry.ts).

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StatusRequest } from '../../generated/etcdserver/etcdserverpb/rpc';
import { Client, Watcher, type Response } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { eventually, failed, ok, testOnEtcd, uniquePrefix } from './util';

const LEARNER = 'etcdserver: rpc not supported for learner';

interface Ctx {
  cluster: EtcdCluster;
  learnerUrl: string;
  clients: Client[];
}

const test = suite<Ctx>('a learner member among the endpoints');

test.before(async (ctx) => {
  ctx.clients = [];
  ctx.cluster = await startEtcd({ name: 'it-learner', dataDirOnTmpfs: true });
  const learner = await ctx.cluster.kit.addLearner();
  ctx.learnerUrl = learner.endpoint;
  // A learner answers Status (one of the two calls it serves) once it has joined.
  const probe = new Client(ctx.learnerUrl);
  try {
    await eventually(async () => (await probe.raw.maintenance.status(StatusRequest.fromPartial({}))).raftIndex > 0n, 20_000, 'the learner to join');
  } finally {
    await probe.close();
  }
});

test.after(async (ctx) => {
  await Promise.all(ctx.clients.map((c) => c.close()));
  await ctx.cluster?.stop();
});

const track = (ctx: Ctx, c: Client) => (ctx.clients.push(c), c);

testOnEtcd('>=3.6', test, 'the learner alone refuses a put with 9 FAILED_PRECONDITION', async () => {
  const c = track(ctx(), new Client(ctx().learnerUrl, { timeoutMs: 5000 }));
  failed(await c.put(uniquePrefix('learner') + 'k', 'v'), 9, LEARNER);
});

testOnEtcd('<3.6', test, 'the learner alone refuses a put with 14 UNAVAILABLE', async () => {
  const c = track(ctx(), new Client(ctx().learnerUrl, { timeoutMs: 5000 }));
  failed(await c.put(uniquePrefix('learner') + 'k', 'v'), 14, LEARNER);
});

test('with the learner among the endpoints, every put, get and watch goes on to the voting member', async (c) => {
  const client = track(c, new Client(`${c.learnerUrl},${c.cluster.endpoint}`, { loadBalancer: 'round_robin', timeoutMs: 10_000 }));
  const p = uniquePrefix('learner-mixed');
  const seen: string[] = [];
  const w = new Watcher(client, p, (r: Response) => {
    for (const e of r.events()) seen.push(e.kv().as_string());
  }, true);
  try {
    await w.ready();
    const want: string[] = [];
    for (let i = 0; i < 10; i++) {
      ok(await client.put(`${p}k${i}`, `v${i}`), `put ${i}`);
      ok(await client.get(`${p}k${i}`), `get ${i}`);
      want.push(`v${i}`);
    }
    await eventually(() => seen.length === want.length, 10_000, 'every event');
    assert.equal(seen, want);
  } finally {
    await w.Cancel();
  }
});

let current: Ctx | undefined;
test.before.each((c) => {
  current = c;
});
function ctx(): Ctx {
  return current!;
}

test.run();
