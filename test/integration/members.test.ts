// add_member / list_member / remove_member, on more than one kind of client (C++ only has them on the basic
// one), with learners really reported.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, type Member } from '../../src/index';
import { pickFreePorts, startEtcd, type EtcdCluster } from '../helpers/etcd';
import { eventually, ok } from './util';

const members = suite<{ cluster: EtcdCluster; clients: Client[] }>('cluster membership');

members.before(async (ctx) => {
  ctx.cluster = await startEtcd({ members: 3 });
  ctx.clients = [];
});

members.after(async (ctx) => {
  await Promise.all(ctx.clients.map((c) => c.close()));
  await ctx.cluster?.stop();
});

const track = (ctx: { clients: Client[] }, c: Client) => (ctx.clients.push(c), c);

members('list_member reports every member with ids, names, URLs and learner flags', async (ctx) => {
  const client = track(ctx, new Client(ctx.cluster.endpoint));
  const r = ok(await client.list_member(), 'list_member');
  assert.is(r.action(), 'listmember');
  const list = r.members();
  assert.is(list.length, 3);
  const names = list.map((m) => m.get_name()).sort();
  assert.equal(names, ctx.cluster.members.map((m) => m.name).sort());
  for (const m of list) {
    assert.is(typeof m.get_id(), 'bigint');
    assert.ok(m.get_id() > 0n);
    const own = ctx.cluster.members.find((x) => x.name === m.get_name())!;
    assert.equal(m.get_peerURLs(), [own.peerUrl]);
    assert.equal(m.get_clientURLs(), [own.clientUrl]);
    assert.is(m.get_learner(), false);
  }
});

members('add_member as learner, list shows it as a learner, remove_member removes it', async (ctx) => {
  const client = track(ctx, new Client(ctx.cluster.endpoint, { loadBalancer: 'pick_first', timeoutMs: 5000 }));
  const [port] = await pickFreePorts(1);
  const peer = `http://127.0.0.1:${port}`;
  // etcd refuses reconfiguration ('unhealthy cluster') until every member has been connected for a few seconds.
  const added = await eventually(async () => {
    const r = await client.add_member(peer, true);
    if (r.error_message() === 'etcdserver: unhealthy cluster') return undefined;
    return ok(r, 'add_member');
  }, 20_000, 'etcd to accept a membership change');
  assert.is(added.action(), 'addmember');
  assert.is(added.members().length, 1);
  const id = added.members()[0]!.get_id();
  assert.ok(id > 0n);
  assert.equal(added.members()[0]!.get_peerURLs(), [peer]);
  assert.is(added.members()[0]!.get_learner(), true);

  const listed = ok(await client.list_member()).members();
  const learner = listed.find((m: Member) => m.get_id() === id);
  assert.ok(learner, 'the learner is listed');
  assert.is(learner!.get_learner(), true);
  assert.is(listed.length, 4);

  const removed = ok(await client.remove_member(id), 'remove_member');
  assert.is(removed.action(), 'removemember');
  assert.is(ok(await client.list_member()).members().length, 3);
});

members('member calls work on a client built from C++-style positional arguments and from WithUrl', async (ctx) => {
  const a = track(ctx, Client.WithUrl(ctx.cluster.endpoint, 'round_robin'));
  const b = track(ctx, new Client(ctx.cluster.endpoints.join(';'), 'pick_first'));
  assert.is(ok(await a.list_member()).members().length, 3);
  assert.is(ok(await b.list_member()).members().length, 3);
});

members('errors: unknown member id is the server error; bad arguments throw', async (ctx) => {
  const client = track(ctx, new Client(ctx.cluster.endpoint));
  const r = await client.remove_member(12345n);
  assert.not.ok(r.is_ok());
  assert.is(r.error_code(), 5);
  assert.match(r.error_message(), 'member not found');
  assert.throws(() => client.remove_member(-1), RangeError);
  assert.throws(() => client.remove_member(2n ** 64n), RangeError);
  assert.throws(() => client.add_member('', false), RangeError);
  assert.throws(() => client.add_member(5 as unknown as string, false), TypeError);
  assert.throws(() => client.add_member('http://127.0.0.1:1', 'yes' as unknown as boolean), TypeError);
});

members.run();
