// etcd-apiv3/testing under jest (CommonJS) — run by `npm run test:examples:jest`, which installs the packed
// package and jest into a scratch project, as a user would. A watcher keeps etcd's history across a proxy cut.
const { Client, Watcher } = require('etcd-apiv3');
const { startEtcd, startProxy, checkHistory } = require('etcd-apiv3/testing');

let etcd;
beforeAll(async () => { etcd = await startEtcd(); }, 30000);
afterAll(() => etcd.close());

test('a watcher delivers etcd history, through a proxy that is cut and restored', async () => {
  const proxy = await startProxy(etcd.endpoint);
  const client = new Client(proxy.endpoint);
  const events = [];
  try {
    const start = (await client.head()).index() + 1;
    const watcher = new Watcher(client, 'jobs/', start, (r) => events.push(...r.events()), true);
    await client.put('jobs/1', 'queued');
    proxy.cut();
    proxy.restore();
    for (let i = 0; i < 100 && !(await client.put('jobs/1', 'done')).is_ok(); i++) await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 800 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    expect(events.length).toBe(2);
    await watcher.Cancel();
    const check = await checkHistory(etcd, events, { key: 'jobs/', prefix: true, fromRevision: start });
    expect(check.divergence).toBeUndefined();
  } finally {
    await client.close();
    await proxy.close();
  }
}, 30000);
