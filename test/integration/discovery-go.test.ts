// Go's go.etcd.io/etcd/client/v3/naming/endpoints layout (format 'go-endpoints') byte for byte, with etcdctl
// writing and reading Go's exact JSON. Real Go programs as peers: go-interop.test.ts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Discovery, Registry } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { eventually, uniquePrefix } from './util';
import { prefixFor, track } from '../helpers/discovery';
import { closeOwned, owned } from '../helpers/cleanup';

let cluster: EtcdCluster;
let client: Client;

test.before(async () => {
  cluster = await startEtcd({ name: 'discovery-go' });
  client = new Client(cluster.endpoint);
});

test.after.each(closeOwned);
test.after(async () => {
  await client?.close();
  await cluster?.stop();
});

async function etcdctlGet(key: string): Promise<Buffer> {
  const r = await cluster.etcdctl(['get', key, '--print-value-only']);
  assert.is(r.code, 0, r.stderr);
  return r.stdout;
}

test("go-endpoints registration: key <prefix>/<service>/<address>, value byte-exact Go JSON", async () => {
  const prefix = prefixFor('go-reg');
  const registry = owned(new Registry(client, { prefix, format: 'go-endpoints' }));
  const reg = await registry.register('user', '127.0.0.1:9000', '127.0.0.1:9000');
  assert.is(reg.key, `${prefix}/user/127.0.0.1:9000`);
  assert.is(reg.instance, '127.0.0.1:9000');
  assert.equal(await etcdctlGet(reg.key), Buffer.from('{"Op":0,"Addr":"127.0.0.1:9000","Metadata":null}\n'));
  const withMeta = await registry.register('user', 'ignored', '127.0.0.1:9001', { metadata: { weight: 1, az: '<a&b>' } });
  assert.is(withMeta.key, `${prefix}/user/127.0.0.1:9001`, 'the instance name is the address');
  assert.equal(
    await etcdctlGet(withMeta.key),
    Buffer.from('{"Op":0,"Addr":"127.0.0.1:9001","Metadata":{"az":"\\u003ca\\u0026b\\u003e","weight":1}}\n'),
  );
  await registry.close();
  assert.equal(await etcdctlGet(reg.key), Buffer.alloc(0));
});

test('a key written by a Go service (etcdctl, Go layout) is discovered; a Go delete → offline', async () => {
  const prefix = prefixFor('go-disc');
  const d = owned(new Discovery(client, { prefix, format: 'go-endpoints' }));
  const seen = track(d, { metaInLog: true });
  const log = seen.log;
  const before = `${prefix}/user/10.0.0.9:80`;
  assert.is((await cluster.etcdctl(['put', before, '{"Op":0,"Addr":"10.0.0.9:80","Metadata":null}'])).code, 0);
  await d.start();
  assert.equal(log, ['+user/10.0.0.9:80 10.0.0.9:80'], 'present before start');
  const key = `${prefix}/user/10.0.0.1:80`;
  const put = await cluster.etcdctl(['put', key, '{"Op":0,"Addr":"10.0.0.1:80","Metadata":null}']);
  assert.is(put.code, 0, put.stderr);
  await eventually(() => log.length === 2, 5_000, 'online');
  assert.is(log[1], '+user/10.0.0.1:80 10.0.0.1:80');
  assert.equal(d.instances('user'), [
    { instance: '10.0.0.1:80', address: '10.0.0.1:80' },
    { instance: '10.0.0.9:80', address: '10.0.0.9:80' },
  ]);
  // Go's docs also name endpoints freely below the target (".../e1"); metadata comes through.
  const named = `${prefix}/user/e1`;
  assert.is((await cluster.etcdctl(['put', named, '{"Op":0,"Addr":"10.0.0.2:80","Metadata":{"v":2}}'])).code, 0);
  await eventually(() => log.length === 3, 5_000, 'named endpoint online');
  assert.is(log[2], '+user/e1 10.0.0.2:80 {"v":2}');
  // Not Go's layout: ignored.
  assert.is((await cluster.etcdctl(['put', `${prefix}/user/10.0.0.3:80`, '10.0.0.3:80'])).code, 0);
  const del = await cluster.etcdctl(['del', key]);
  assert.is(del.code, 0, del.stderr);
  await eventually(() => log.length === 4, 5_000, 'offline');
  assert.is(log[3], '-user/10.0.0.1:80 10.0.0.1:80');
  assert.equal(d.instances('user').map((i) => i.instance), ['10.0.0.9:80', 'e1']);
  assert.equal(seen.errors, [], 'online/offline exactly once');
  await d.close();
});

test('TypeScript and "Go" services see each other under one target', async () => {
  const prefix = prefixFor('go-mixed');
  const registry = owned(new Registry(client, { prefix, format: 'go-endpoints' }));
  const d = owned(new Discovery(client, { prefix, format: 'go-endpoints' }));
  const seen = track(d, { metaInLog: true });
  const log = seen.log;
  await d.start();
  const reg = await registry.register('orders', '127.0.0.1:7001', '127.0.0.1:7001');
  assert.is((await cluster.etcdctl(['put', `${prefix}/orders/127.0.0.1:7002`, '{"Op":0,"Addr":"127.0.0.1:7002","Metadata":null}'])).code, 0);
  await eventually(() => d.instances('orders').length === 2, 5_000, 'both');
  // What a Go watcher would read from our key: exactly its own encoding.
  const r = await cluster.etcdctl(['get', `${prefix}/orders/`, '--prefix', '-w', 'json']);
  const kvs = (JSON.parse(r.stdout.toString()) as { kvs: { key: string; value: string }[] }).kvs;
  const ours = kvs.find((kv) => Buffer.from(kv.key, 'base64').toString() === reg.key)!;
  assert.is(Buffer.from(ours.value, 'base64').toString(), '{"Op":0,"Addr":"127.0.0.1:7001","Metadata":null}');
  await reg.close();
  await eventually(() => d.instances('orders').length === 1, 2_000, 'ours offline');
  assert.equal(log, ['+orders/127.0.0.1:7001 127.0.0.1:7001', '+orders/127.0.0.1:7002 127.0.0.1:7002', '-orders/127.0.0.1:7001 127.0.0.1:7001']);
  assert.equal(seen.errors, [], 'online/offline exactly once');
  await d.close();
  await registry.close();
});

test.run();
