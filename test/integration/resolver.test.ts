// The grpc-js resolver: `etcd:///<service>` channels spread calls round-robin over the instances a Registry
// registered, follow them live, fail clearly when there are none, and release their Discovery when closed.
// The "service" is our own generated KV definition served by tiny grpc-js servers whose Range answers with a
// header whose member id names the server.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KVService, RangeRequest, RangeResponse } from '../../generated/etcdserver/etcdserverpb/rpc';
import { Client, Registry, registerEtcdResolver, type Registration } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { startStubServer, type StubServer } from '../helpers/stub-server';
import { eventually, uniquePrefix } from './util';
import { runChild } from '../helpers/child';
import { closeOwned, owned } from '../helpers/cleanup';

const ROOT = path.resolve(__dirname, '../..');

/** A grpc-js client of etcd's KV service, built by grpc-js from the generated service definition. */
interface KV extends grpc.Client {
  range(request: RangeRequest, callback: (err: grpc.ServiceError | null, res: RangeResponse) => void): grpc.ClientUnaryCall;
}
const KVClient = grpc.makeGenericClientConstructor(KVService, 'etcdserverpb.KV') as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
) => KV;


function call(c: KV): Promise<number> {
  return new Promise((resolve, reject) =>
    c.range(RangeRequest.fromPartial({}), (err, res) => (err ? reject(err) : resolve(Number(res.header!.memberId)))),
  );
}

async function callMany(c: KV, n: number): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const id = await call(c);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

async function callError(c: KV): Promise<grpc.ServiceError> {
  return call(c).then(
    (id) => {
      throw new Error(`expected the call to fail, server ${id} answered`);
    },
    (e: grpc.ServiceError) => e,
  );
}

/** etcd's gauge of watchers: drops when a Discovery's watcher is cancelled. */
async function watcherCount(): Promise<number> {
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get(`${cluster.endpoints[0]}/metrics`, (res) => {
        let s = '';
        res.on('data', (c: Buffer) => (s += c.toString()));
        res.on('end', () => resolve(s));
      })
      .on('error', reject);
  });
  const m = /^etcd_debugging_mvcc_watcher_total (\d+)/m.exec(body);
  assert.ok(m, 'etcd exposes etcd_debugging_mvcc_watcher_total');
  return Number(m![1]);
}

let cluster: EtcdCluster;
let client: Client;
let servers: StubServer[] = [];

test.before(async () => {
  cluster = await startEtcd({ name: 'resolver' });
  client = new Client(cluster.endpoint);
  servers = await Promise.all([1, 2, 3, 4].map(startStubServer));
});

test.after.each(closeOwned);
test.after(async () => {
  for (const s of servers) s.close();
  await client?.close();
  await cluster?.stop();
});

test('etcd:///<service>: round robin over registered servers, live additions and removals, UNAVAILABLE when none, released on close', async () => {
  const prefix = uniquePrefix('resolver').replace(/\/$/, '');
  const registry = owned(new Registry(client, { prefix }));
  const unregister = registerEtcdResolver(client, { prefix, grpc });
  const regs: Registration[] = [];
  for (const s of servers.slice(0, 3)) regs.push(await registry.register('kv', `server-${s.id}`, s.address));
  const watchersBefore = await watcherCount();

  const channel = new KVClient('etcd:///kv', grpc.credentials.createInsecure());
  // Round robin only cycles over READY subchannels: wait until all three have answered once.
  await eventually(async () => (await callMany(channel, 6)).size === 3, 10_000, 'all three servers reachable');
  const counts = await callMany(channel, 60);
  assert.equal([...counts.keys()].sort(), [1, 2, 3]);
  for (const [id, n] of counts) assert.ok(n >= 18 && n <= 22, `server ${id} got ${n} of 60 calls`);
  assert.is(await watcherCount(), watchersBefore + 1, 'one Discovery watcher for the channel');

  // A new instance is picked up live.
  regs.push(await registry.register('kv', 'server-4', servers[3]!.address));
  await eventually(async () => (await callMany(channel, 8)).has(4), 10_000, 'the new server to get calls');

  // A closed instance (its server still running) stops receiving calls.
  await regs[0]!.close();
  await eventually(async () => !(await callMany(channel, 8)).has(1), 10_000, 'server 1 to stop getting calls');
  const before = servers[0]!.calls;
  const after = await callMany(channel, 40);
  assert.is(servers[0]!.calls, before, 'no call reached the deregistered server');
  assert.equal([...after.keys()].sort(), [2, 3, 4]);

  // Every instance gone → the channel fails fast with the clear message.
  for (const r of regs.slice(1)) await r.close();
  const gone = await eventually(async () => {
    const e = await call(channel).then(
      () => undefined,
      (err: grpc.ServiceError) => err,
    );
    return e;
  }, 10_000, 'calls to fail once every instance is gone');
  assert.is(gone.code, grpc.status.UNAVAILABLE);
  assert.is(gone.details, `no instances of service 'kv' registered under ${prefix}/kv/`);

  // A service that never had an instance.
  const nobody = new KVClient('etcd:///nobody', grpc.credentials.createInsecure());
  const err = await callError(nobody);
  assert.is(err.code, grpc.status.UNAVAILABLE);
  assert.is(err.details, `no instances of service 'nobody' registered under ${prefix}/nobody/`);
  // ...and it comes alive when one registers.
  const late = await registry.register('nobody', 'x', servers[1]!.address);
  await eventually(async () => (await call(nobody).catch(() => 0)) === 2, 10_000, 'the late instance to answer');
  nobody.close();
  await late.close();

  // Closing the channel destroys its resolver, the last one: the shared Discovery's watcher is cancelled.
  // (Each registration watches its own key, so count from after they are all closed.)
  const watchersOpen = await watcherCount();
  channel.close();
  await eventually(async () => (await watcherCount()) === watchersOpen - 1, 5_000, 'watchers back to before');
  assert.is(await watcherCount(), watchersOpen - 1);

  // After unregistering, new channels on the scheme fail with 'resolver unregistered'.
  unregister();
  const afterUnregister = new KVClient('etcd:///kv', grpc.credentials.createInsecure());
  const u = await callError(afterUnregister);
  assert.is(u.code, grpc.status.UNAVAILABLE);
  assert.is(u.details, 'resolver unregistered');
  afterUnregister.close();
  assert.is(await watcherCount(), watchersOpen - 1, 'no Discovery after unregister');
  await registry.close();
});

test('unregister releases an open channel too, and an invalid target is refused at channel creation', async () => {
  const prefix = uniquePrefix('resolver-unreg').replace(/\/$/, '');
  const registry = owned(new Registry(client, { prefix }));
  const unregister = registerEtcdResolver(client, { prefix, grpc, scheme: 'etcd-unreg' });
  await registry.register('kv', 'a', servers[0]!.address);
  const watchersBefore = await watcherCount();
  const channel = new KVClient('etcd-unreg:///kv', grpc.credentials.createInsecure());
  assert.is(await call(channel), 1);
  assert.is(await watcherCount(), watchersBefore + 1);
  unregister();
  await eventually(async () => (await watcherCount()) === watchersBefore, 5_000, 'the Discovery to close on unregister');
  const e = await eventually(async () => call(channel).then(() => undefined, (err: grpc.ServiceError) => err), 5_000, 'calls to fail');
  assert.is(e.details, 'resolver unregistered');
  channel.close();
  assert.throws(() => new KVClient('etcd-unreg:///a/b', grpc.credentials.createInsecure()), /expected etcd-unreg:\/\/\/<service>/);
  await registry.close();
});

test('a process using the resolver exits by itself once its channel, registry and client are closed', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resolver-exit-'));
  const script = path.join(dir, 'app.ts');
  fs.writeFileSync(
    script,
    `import * as grpc from ${JSON.stringify(require.resolve('@grpc/grpc-js'))};
import { KVService, RangeRequest } from ${JSON.stringify(path.join(ROOT, 'generated/etcdserver/etcdserverpb/rpc'))};
import { Client, Registry, registerEtcdResolver } from ${JSON.stringify(path.join(ROOT, 'src/index'))};
(async () => {
  const client = new Client(process.argv[2]!);
  const registry = new Registry(client, { prefix: process.argv[3]! });
  await registry.register('kv', 'a', process.argv[4]!);
  const unregister = registerEtcdResolver(client, { prefix: process.argv[3]!, grpc });
  const KVClient = grpc.makeGenericClientConstructor(KVService, 'etcdserverpb.KV');
  const channel = new KVClient('etcd:///kv', grpc.credentials.createInsecure()) as any;
  const id = await new Promise((res, rej) => channel.range(RangeRequest.fromPartial({}), (e: any, r: any) => (e ? rej(e) : res(Number(r.header!.memberId)))));
  console.log('answered by ' + id);
  channel.close();
  unregister();
  await registry.close();
  await client.close();
})();
`,
  );
  const prefix = uniquePrefix('resolver-exit').replace(/\/$/, '');
  let run: Awaited<ReturnType<typeof runChild>>;
  try {
    run = await runChild({ file: script, args: [cluster.endpoint, prefix, servers[2]!.address], timeoutMs: 20_000 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const out = run.out + run.err;
  assert.is(run.hung, false, `the process did not exit by itself within 20 s (output: ${out})`);
  assert.is(run.code, 0, out);
  assert.match(out, 'answered by 3');
});

test.run();
