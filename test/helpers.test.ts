import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { etcdAvailable, startEtcd, type EtcdCluster } from './helpers/etcd';
import { parseTarget, startProxy } from '../src/testing';
import { eventually } from './helpers/wait';

const FAST = ['--dial-timeout=1s', '--command-timeout=2s'];

// ---------------------------------------------------------------------------
const single = suite<{ cluster?: EtcdCluster }>('etcd single member');

/** uvu silently swallows errors thrown by before/after hooks: print them. */
function loud<A extends unknown[]>(fn: (...a: A) => Promise<void>): (...a: A) => Promise<void> {
  return async (...a) => {
    try {
      await fn(...a);
    } catch (e) {
      console.error('hook failed:', e);
      throw e;
    }
  };
}

single.before(
  loud(async (ctx) => {
    if (!etcdAvailable()) throw new Error('etcd missing');
    const t0 = Date.now();
    ctx.cluster = await startEtcd({ name: 'helpers-single' });
    console.log(`  [single member ready in ${Date.now() - t0} ms]`);
  }),
);

single.after(async (ctx) => {
  await ctx.cluster?.stop();
});

single('starts and exposes endpoints', async ({ cluster }) => {
  const c = cluster!;
  assert.is(c.members.length, 1);
  assert.match(c.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(c.endpoints, [c.members[0]!.clientUrl]);
  assert.ok(c.members[0]!.isRunning);
  assert.type(c.members[0]!.pid, 'number');
  assert.ok(fs.existsSync(c.members[0]!.dataDir));
  assert.ok(await c.members[0]!.healthy());
});

single('etcdctl put/get round trip (with stdin input)', async ({ cluster }) => {
  const c = cluster!;
  const put = await c.etcdctl(['put', 'helpers/k1', 'v1']);
  assert.is(put.code, 0, put.stderr);
  assert.is(put.stdout.toString().trim(), 'OK');
  const get = await c.etcdctl(['get', 'helpers/k1', '--print-value-only']);
  assert.is(get.code, 0, get.stderr);
  assert.is(get.stdout.toString().trim(), 'v1');
  // value from stdin
  const put2 = await c.etcdctl(['put', 'helpers/k2'], { input: 'from-stdin' });
  assert.is(put2.code, 0, put2.stderr);
  const get2 = await c.etcdctl(['get', 'helpers/k2', '--print-value-only']);
  assert.is(get2.stdout.toString().trim(), 'from-stdin');
  const leader = await c.leader();
  assert.is(leader, c.members[0]);
});

single('proxy forwards, cut fails fast, restore recovers', async ({ cluster }) => {
  const c = cluster!;
  const proxy = await startProxy(c.endpoints[0]!);
  try {
    assert.match(proxy.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const via = { endpoints: [proxy.url] };
    const put = await c.etcdctl([...FAST, 'put', 'helpers/p', 'through-proxy'], via);
    assert.is(put.code, 0, put.stderr);
    assert.ok(proxy.bytesUp > 0 && proxy.bytesDown > 0);
    assert.ok(proxy.totalConnections >= 1);

    proxy.cut();
    const t0 = Date.now();
    const failed = await c.etcdctl([...FAST, 'get', 'helpers/p'], via);
    const took = Date.now() - t0;
    assert.is.not(failed.code, 0);
    assert.ok(took < 5_000, `etcdctl through a cut proxy took ${took} ms`);
    assert.is(proxy.connections, 0);

    proxy.restore();
    const get = await c.etcdctl([...FAST, 'get', 'helpers/p', '--print-value-only'], via);
    assert.is(get.code, 0, get.stderr);
    assert.is(get.stdout.toString().trim(), 'through-proxy');
  } finally {
    await proxy.close();
    await proxy.close(); // idempotent
  }
});

single('proxy pause holds data, resume flushes; delay keeps order', async ({ cluster }) => {
  const c = cluster!;
  const proxy = await startProxy(c.endpoints[0]!);
  try {
    const via = { endpoints: [proxy.url] };
    proxy.pause();
    const pending = c.etcdctl(['--dial-timeout=5s', '--command-timeout=8s', 'put', 'helpers/paused', 'yes'], via);
    await eventually(async () => proxy.connections > 0, 3_000, 'a held connection');
    assert.is(proxy.bytesUp, 0);
    proxy.resume();
    const res = await pending;
    assert.is(res.code, 0, res.stderr);

    proxy.setDelay(100);
    const t0 = Date.now();
    const get = await c.etcdctl([...FAST, 'get', 'helpers/paused', '--print-value-only'], via);
    assert.is(get.code, 0, get.stderr);
    assert.is(get.stdout.toString().trim(), 'yes');
    assert.ok(Date.now() - t0 >= 200, 'delay applied');
  } finally {
    await proxy.close();
  }
});

single('proxy blackholeReplies: request applied, reply lost, then cut', async ({ cluster }) => {
  const c = cluster!;
  const proxy = await startProxy(c.endpoints[0]!);
  try {
    // One HTTP/1.1 request to the grpc-gateway over one TCP connection through the proxy.
    proxy.blackholeReplies();
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const body = JSON.stringify({ key: b64('helpers/bh'), value: b64('applied-once') });
    const outcome = new Promise<string>((resolve) => {
      const req = http.request(`${proxy.url}/v3/kv/put`, { method: 'POST', agent: false }, (res) => {
        res.resume();
        resolve(`reply ${res.statusCode}`);
      });
      req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
      req.end(body);
    });
    await proxy.waitForBytes({ up: body.length }, 3_000); // request forwarded to etcd
    await eventually(
      async () => (await c.etcdctl(['get', 'helpers/bh', '--print-value-only'])).stdout.toString().trim() === 'applied-once',
      3_000,
      'etcd to apply the put',
    );
    await eventually(async () => proxy.droppedDown > 0, 3_000, 'the reply to be dropped');
    assert.is(proxy.bytesDown, 0);
    proxy.cut();
    assert.match(await outcome, /^error /);
    proxy.blackholeReplies(false);
    proxy.restore();
  } finally {
    await proxy.close();
  }
});

single('proxy: parseTarget and survives a dead target', async () => {
  assert.equal(parseTarget('http://127.0.0.1:2379'), { host: '127.0.0.1', port: 2379 });
  assert.equal(parseTarget('localhost:1234'), { host: 'localhost', port: 1234 });
  assert.equal(parseTarget({ host: 'h', port: 1 }), { host: 'h', port: 1 });
  // nothing listens on a just-closed port: connection errors must not crash the process
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const proxy = await startProxy({ host: '127.0.0.1', port });
  try {
    const sock = net.connect(proxy.port, '127.0.0.1');
    sock.on('error', () => {});
    sock.write('hello');
    await new Promise<void>((r) => sock.once('close', () => r()));
    assert.is(proxy.connections, 0);
  } finally {
    await proxy.close();
  }
});

single('stop removes the data dir and is idempotent', async (ctx) => {
  const c = ctx.cluster!;
  const dir = c.members[0]!.dataDir;
  assert.ok(fs.existsSync(dir));
  await c.stop();
  await c.stop();
  assert.not.ok(c.members[0]!.isRunning);
  assert.not.ok(fs.existsSync(dir));
});

single.run();

// ---------------------------------------------------------------------------
const three = suite<{ cluster?: EtcdCluster }>('etcd 3 members');

three.before(
  loud(async (ctx) => {
    const t0 = Date.now();
    ctx.cluster = await startEtcd({ members: 3, name: 'helpers-three', dataDirOnTmpfs: true });
    console.log(`  [3-member cluster ready in ${Date.now() - t0} ms]`);
  }),
);

three.after(async (ctx) => {
  await ctx.cluster?.stop();
});

three('all members healthy, leader() returns a member', async ({ cluster }) => {
  const c = cluster!;
  assert.is(c.members.length, 3);
  assert.is(c.endpoint.split(',').length, 3);
  assert.is(new Set(c.members.map((m) => m.clientPort)).size, 3);
  for (const m of c.members) assert.ok(await m.healthy(), m.name);
  const leader = await c.leader();
  assert.ok(c.members.includes(leader));
  assert.ok(c.members[0]!.dataDir.startsWith('/dev/shm/') || !fs.existsSync('/dev/shm'));
});

three('killing the leader leaves the others working; restart rejoins', async ({ cluster }) => {
  const c = cluster!;
  const put0 = await c.etcdctl([...FAST, 'put', 'three/k', 'v0']);
  assert.is(put0.code, 0, put0.stderr);
  const leader = await c.leader();
  await leader.kill();
  assert.not.ok(leader.isRunning);
  assert.is(leader.pid, undefined);
  const others = c.members.filter((m) => m !== leader).map((m) => m.clientUrl);
  await eventually(
    async () => (await c.etcdctl([...FAST, 'put', 'three/k', 'v1'], { endpoints: others })).code === 0,
    10_000,
    'put on the surviving members',
  );
  const newLeader = await c.leader();
  assert.is.not(newLeader, leader);

  await leader.start();
  assert.ok(leader.isRunning);
  const get = await eventually(async () => {
    const r = await c.etcdctl([...FAST, 'get', 'three/k', '--print-value-only', '--consistency=s'], {
      endpoints: [leader.clientUrl],
    });
    return r.code === 0 && r.stdout.toString().trim() === 'v1' ? r : undefined;
  }, 10_000, 'restarted member to catch up');
  assert.is(get.stdout.toString().trim(), 'v1');
});

three('pause/resume a member', async ({ cluster }) => {
  const c = cluster!;
  const m = c.members[0]!;
  m.pause();
  assert.ok(m.isPaused);
  assert.not.ok(await m.healthy(300));
  m.resume();
  await eventually(() => m.healthy(500), 10_000, 'resumed member healthy');
});

three.run();
