// etcd-apiv3/testing under node:test — `npm run test:examples` (after `npm run build`).
// A real etcd for the file, a proxy in front of it, and a client that must survive a cut connection.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Client } from 'etcd-apiv3';
import { startEtcd, startProxy, type Etcd, type Proxy } from 'etcd-apiv3/testing';

let etcd: Etcd;
let proxy: Proxy;
before(async () => {
  etcd = await startEtcd();
  proxy = await startProxy(etcd.endpoint);
});
after(async () => {
  await proxy.close();
  await etcd.close();
});

test('a write after the connection was cut and restored', async () => {
  const client = new Client(proxy.endpoint, { timeoutMs: 2_000 });
  try {
    assert.ok((await client.put('greeting', 'hello')).is_ok());
    proxy.cut();
    assert.equal((await client.get('greeting')).is_ok(), false);
    proxy.restore();
    assert.equal((await client.get('greeting')).value().as_string(), 'hello');
    assert.equal((await etcd.etcdctl(['get', 'greeting', '--print-value-only'])).stdout.trim(), 'hello');
  } finally {
    await client.close();
  }
});
