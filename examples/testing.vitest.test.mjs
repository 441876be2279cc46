// etcd-apiv3/testing under vitest — `npx vitest run examples/testing.vitest.test.mjs` (after `npm run build`).
// The same as testing.node.test.ts, with vitest's hooks: one etcd per file, a watcher checked against etcd's
// own history.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Client, Watcher } from 'etcd-apiv3';
import { checkHistory, startEtcd } from 'etcd-apiv3/testing';

let etcd;
beforeAll(async () => {
  etcd = await startEtcd();
}, 30_000);
afterAll(() => etcd.close());

test('a watcher delivers exactly etcd’s history', async () => {
  const client = new Client(etcd.endpoint);
  const events = [];
  try {
    const start = (await client.head()).index() + 1;
    const watcher = new Watcher(client, 'jobs/', start, (r) => events.push(...r.events()), true);
    await client.put('jobs/1', 'queued');
    await client.put('jobs/1', 'done');
    await client.rm('jobs/1');
    await expect.poll(() => events.length, { timeout: 5_000 }).toBe(3);
    await watcher.Cancel();
    const check = await checkHistory(etcd, events, { key: 'jobs/', prefix: true, fromRevision: start });
    expect(check.divergence?.message).toBeUndefined();
  } finally {
    await client.close();
  }
});
