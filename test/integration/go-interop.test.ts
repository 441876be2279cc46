// Real Go programs as peers: interop/go (etcd's own Go client, go.etcd.io/etcd/client/v3) against our
// discovery, lock and election, on one etcd.
//
// - Go naming/endpoints.Manager writes → our Discovery (format 'go-endpoints') reports exactly those changes;
// - our Registry writes → Go's Manager.List / NewWatchChannel see it, and grpc-go dialing etcd:///<target>
//   through Go's naming/resolver reaches our gRPC servers, and stops once we deregister;
// - Go concurrency.Mutex / Election against our lock / campaign / observe, both ways round.
//
// The Go program is built once per source version into ~/.cache/etcd-apiv3/interop-<hash>/ (modules come
// from the Go module proxy; nothing is vendored). Without `go` on PATH every test here is skipped, saying why.
// The program speaks JSON lines (see interop/go/main.go): each wait on it is bounded, none is a sleep.

import { execFile, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, Discovery, Registry, type Response } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { startStubServer } from '../helpers/stub-server';
import { eventually, ok, uniquePrefix } from './util';
import { pending, within } from '../helpers/wait';
import { prefixFor, track } from '../helpers/discovery';

const GO_DIR = path.resolve(__dirname, '../../interop/go');
const BUILD_TIMEOUT_MS = 180_000;
const REPLY_MS = 10_000;

const test = suite('Go peers (go.etcd.io/etcd/client/v3, interop/go)');

// ---- building the Go program --------------------------------------------------------------------------------

/** Why the Go tests cannot run here, or undefined when `go` is on PATH. */
function goMissing(): string | undefined {
  const r = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (r.error) return `no \`go\` on PATH (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`;
  if (r.status !== 0) return `\`go version\` failed: ${r.stderr.trim()}`;
  return undefined;
}

const skipReason = goMissing();

/**
 * The interop binary, built if this version of its sources (and of the Go toolchain) has not been built yet.
 * Built into a temporary name and renamed, so concurrent runs never see half a binary.
 */
async function goBinary(): Promise<string> {
  const hash = crypto.createHash('sha256');
  hash.update(spawnSync('go', ['version'], { encoding: 'utf8' }).stdout);
  for (const f of fs.readdirSync(GO_DIR).filter((n) => n === 'go.mod' || n === 'go.sum' || n.endsWith('.go')).sort()) {
    hash.update(`${f}\0`).update(fs.readFileSync(path.join(GO_DIR, f)));
  }
  const dir = path.join(os.homedir(), '.cache', 'etcd-apiv3', `interop-${hash.digest('hex').slice(0, 16)}`);
  const bin = path.join(dir, 'etcd-interop');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const started = Date.now();
  await new Promise<void>((resolve, reject) =>
    execFile(
      'go',
      ['build', '-mod=readonly', '-buildvcs=false', '-o', tmp, '.'],
      { cwd: GO_DIR, env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '' }, timeout: BUILD_TIMEOUT_MS },
      (err, _stdout, stderr) => (err ? reject(new Error(`building interop/go failed: ${err.message}\n${stderr}`)) : resolve()),
    ),
  );
  fs.renameSync(tmp, bin);
  console.log(`built ${bin} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return bin;
}

// ---- driving it ---------------------------------------------------------------------------------------------

interface Reply {
  id: number;
  ok?: true;
  error?: string;
  code?: string;
  [k: string]: unknown;
}

interface GoEvent {
  event: string;
  handle?: string;
  [k: string]: unknown;
}

interface GoEndpoint {
  op?: 'add' | 'delete';
  key: string;
  addr: string;
  metadata: unknown;
}

/** One running Go program: commands in, replies and events out. */
class GoPeer {
  private nextId = 0;
  private readonly replies = new Map<number, (r: Reply) => void>();
  private readonly events: GoEvent[] = [];
  private eventWaiters: (() => void)[] = [];
  private stderr = '';
  private exited: Promise<void>;
  private readyResolve!: () => void;
  private readonly ready = new Promise<void>((r) => (this.readyResolve = r));

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    proc.stderr.on('data', (b: Buffer) => (this.stderr = (this.stderr + b.toString()).slice(-8000)));
    readline.createInterface({ input: proc.stdout }).on('line', (line) => this.onLine(line));
    this.exited = new Promise((resolve) => proc.on('exit', () => resolve()));
  }

  static async start(bin: string, endpoint: string): Promise<GoPeer> {
    const peer = new GoPeer(spawn(bin, ['--endpoints', endpoint], { stdio: ['pipe', 'pipe', 'pipe'] }));
    await within(
      Promise.race([peer.ready, peer.exited.then(() => Promise.reject(new Error(`the Go peer exited: ${peer.stderr}`)))]),
      20_000,
      'the Go peer to be ready',
    );
    return peer;
  }

  private onLine(line: string): void {
    const msg = JSON.parse(line) as Reply & GoEvent;
    if (typeof msg.id === 'number') {
      const resolve = this.replies.get(msg.id);
      this.replies.delete(msg.id);
      resolve?.(msg);
      return;
    }
    if (msg.event === 'ready') return this.readyResolve();
    this.events.push(msg);
    for (const w of this.eventWaiters.splice(0)) w();
  }

  /** Sends a command; resolves with its reply (an error reply too), whenever it comes. */
  send(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = ++this.nextId;
    const reply = new Promise<Reply>((resolve) => this.replies.set(id, resolve));
    this.proc.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    return reply;
  }

  /** Sends a command and waits (bounded) for a successful reply. */
  async do(op: string, args: Record<string, unknown> = {}, ms = REPLY_MS): Promise<Reply> {
    const r = await within(this.send(op, args), ms, `Go ${op} ${JSON.stringify(args)}`);
    assert.ok(r.ok, `Go ${op} ${JSON.stringify(args)} failed: ${r.error} (${r.code ?? 'no gRPC code'})`);
    return r;
  }

  /** Takes the first event matching `pred` (in order of arrival), waiting for it up to `ms`. */
  async event(pred: (e: GoEvent) => boolean, ms: number, what: string): Promise<GoEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.events.findIndex(pred);
      if (i >= 0) return this.events.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for the Go peer's ${what}`);
      await within(new Promise<void>((r) => this.eventWaiters.push(r)), left, `the Go peer's ${what}`).catch(() => undefined);
    }
  }

  /** Events not yet taken with `event()` for `handle`. */
  pendingEvents(handle: string): GoEvent[] {
    return this.events.filter((e) => e.handle === handle);
  }

  /** SIGKILL: a Go service that dies without cleaning up. */
  async kill(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** Closes stdin (the program stops what is running and exits); SIGKILL if it has not exited in 5 s. */
  async close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.stdin.end();
    await within(this.exited, 5_000, 'the Go peer to exit').catch(() => this.kill());
  }
}


// ---- suite --------------------------------------------------------------------------------------------------

let cluster: EtcdCluster;
let client: Client;
let bin: string;

test.before(async () => {
  if (skipReason) return;
  bin = await goBinary();
  cluster = await startEtcd({ name: 'go-interop' });
  client = new Client(cluster.endpoint);
});

test.after(async () => {
  await client?.close();
  await cluster?.stop();
});

/** Registers a test that needs Go; without it the test is skipped and the reason printed. */
function goTest(name: string, fn: (go: GoPeer) => Promise<void>): void {
  if (skipReason) {
    console.log(`skipped: ${name} — ${skipReason}`);
    test.skip(name, () => undefined);
    return;
  }
  test(name, async () => {
    const go = await GoPeer.start(bin, cluster.endpoint);
    try {
      await fn(go);
    } finally {
      await go.close();
    }
  });
}

async function keysUnder(prefix: string): Promise<string[]> {
  return ok(await client.keys(prefix), 'keys').values().map((v) => v.key());
}

// ---- naming/endpoints → Discovery ----------------------------------------------------------------------------

goTest('Go endpoints.Manager add / metadata update / address update / delete → Discovery reports exactly those', async (go) => {
  const prefix = prefixFor('go-manager');
  const target = `${prefix}/user`;
  const d = new Discovery(client, { prefix, format: 'go-endpoints' });
  const seen = track(d, { metaInLog: true });
  const log = seen.log;
  try {
    await go.do('add', { target, key: `${target}/10.0.0.9:80`, addr: '10.0.0.9:80' });
    await d.start();
    assert.equal(log, ['+user/10.0.0.9:80 10.0.0.9:80'], 'an endpoint added before start is listed');

    await go.do('add', { target, key: `${target}/10.0.0.1:80`, addr: '10.0.0.1:80' });
    await eventually(() => log.length === 2, 5_000, 'the added endpoint online');
    assert.is(log[1], '+user/10.0.0.1:80 10.0.0.1:80');

    // Go's docs name endpoints freely below the target; metadata is any JSON (Go writes object keys sorted).
    await go.do('add', { target, key: `${target}/e1`, addr: '10.0.0.2:80', metadata: { zone: 'a', tags: ['<x&y>'] } });
    await eventually(() => log.length === 3, 5_000, 'the named endpoint online');
    assert.is(log[2], '+user/e1 10.0.0.2:80 {"tags":["<x&y>"],"zone":"a"}');

    // An update that changes only the metadata: the view follows, nothing is reported (same address).
    await go.do('add', { target, key: `${target}/e1`, addr: '10.0.0.2:80', metadata: { zone: 'b' } });
    const metadataOf = (instance: string) => d.instances('user').find((i) => i.instance === instance)?.metadata;
    await eventually(() => JSON.stringify(metadataOf('e1')) === '{"zone":"b"}', 5_000, 'the new metadata in instances()');
    assert.is(log.length, 3, `a metadata-only update reports nothing: ${JSON.stringify(log)}`);

    // An update that changes the address: offline(old) then online(new).
    await go.do('add', { target, key: `${target}/e1`, addr: '10.0.0.3:80', metadata: { zone: 'b' } });
    await eventually(() => log.length === 5, 5_000, 'the address change');

    await go.do('del', { target, key: `${target}/10.0.0.1:80` });
    await eventually(() => log.length === 6, 5_000, 'the deleted endpoint offline');
    // The delete's report arriving right after the address change's proves nothing came in between.
    assert.equal(log, [
      '+user/10.0.0.9:80 10.0.0.9:80',
      '+user/10.0.0.1:80 10.0.0.1:80',
      '+user/e1 10.0.0.2:80 {"tags":["<x&y>"],"zone":"a"}',
      '-user/e1 10.0.0.2:80',
      '+user/e1 10.0.0.3:80 {"zone":"b"}',
      '-user/10.0.0.1:80 10.0.0.1:80',
    ]);
    assert.equal(seen.errors, [], 'online/offline exactly once');

    // Our view and Go's own List agree.
    const listed = (await go.do('list', { target })).endpoints as GoEndpoint[];
    assert.equal(
      listed.map((e) => ({ key: e.key, addr: e.addr, metadata: e.metadata })),
      [
        { key: `${target}/10.0.0.9:80`, addr: '10.0.0.9:80', metadata: null },
        { key: `${target}/e1`, addr: '10.0.0.3:80', metadata: { zone: 'b' } },
      ],
    );
    assert.equal(d.instances('user'), [
      { instance: '10.0.0.9:80', address: '10.0.0.9:80' },
      { instance: 'e1', address: '10.0.0.3:80', metadata: { zone: 'b' } },
    ]);
  } finally {
    await d.close();
  }
});

goTest('a Go service that dies without deregistering (its lease kept alive by Go) goes offline after its TTL', async (go) => {
  const prefix = prefixFor('go-dies');
  const target = `${prefix}/api`;
  const d = new Discovery(client, { prefix, format: 'go-endpoints' });
  const seen = track(d, { metaInLog: true });
  const log = seen.log;
  try {
    await d.start();
    await go.do('add', { target, key: `${target}/127.0.0.1:7100`, addr: '127.0.0.1:7100', ttl: 2 });
    await eventually(() => log.length === 1, 5_000, 'online');
    await go.kill();
    // The lease expires 2 s after Go's last keepalive; etcd checks expiry about every 500 ms.
    await eventually(() => log.length === 2, 10_000, 'offline once the lease expires');
    assert.equal(log, ['+api/127.0.0.1:7100 127.0.0.1:7100', '-api/127.0.0.1:7100 127.0.0.1:7100']);
    assert.equal(seen.errors, [], 'online/offline exactly once');
  } finally {
    await d.close();
  }
});

// ---- Registry → Go's Manager and resolver --------------------------------------------------------------------

goTest("our Registry (go-endpoints) → Go's Manager.List and NewWatchChannel see the registration come and go", async (go) => {
  const prefix = prefixFor('go-list');
  const target = `${prefix}/orders`;
  const registry = new Registry(client, { prefix, format: 'go-endpoints', ttl: 5 });
  try {
    await go.do('watch', { handle: 'w', target });
    const reg = await registry.register('orders', '127.0.0.1:7001', '127.0.0.1:7001', { metadata: { weight: 2, az: '<a&b>' } });
    const key = `${target}/127.0.0.1:7001`;
    assert.is(reg.key, key);
    const added = await go.event((e) => e.handle === 'w', 5_000, 'watch update for the registration');
    assert.equal(added.updates, [{ op: 'add', key, addr: '127.0.0.1:7001', metadata: { az: '<a&b>', weight: 2 } }]);
    const listed = (await go.do('list', { target })).endpoints as GoEndpoint[];
    assert.equal(listed, [{ key, addr: '127.0.0.1:7001', metadata: { az: '<a&b>', weight: 2 } }]);

    // A watch opened now starts with the current endpoints (Go's initial batch from its listing).
    await go.do('watch', { handle: 'w2', target });
    const initial = await go.event((e) => e.handle === 'w2', 5_000, 'initial batch of the second watch');
    assert.equal(initial.updates, [{ op: 'add', key, addr: '127.0.0.1:7001', metadata: { az: '<a&b>', weight: 2 } }]);

    // A second service under the same prefix is not under this target.
    const other = await registry.register('orders-v2', 'x', '127.0.0.1:7002');

    await reg.close();
    const deleted = await go.event((e) => e.handle === 'w', 5_000, 'watch update for the deregistration');
    assert.equal(deleted.updates, [{ op: 'delete', key, addr: '', metadata: null }]);
    assert.equal((await go.do('list', { target })).endpoints, []);
    assert.equal(go.pendingEvents('w'), [], 'the other service was never reported under this target');
    await other.close();
  } finally {
    await registry.close();
  }
});

goTest("grpc-go dialing etcd:///<target> through Go's naming/resolver reaches our registered servers, and stops after we deregister", async (go) => {
  const prefix = prefixFor('go-resolver');
  const target = `${prefix}/kv`;
  const servers = await Promise.all([1, 2].map(startStubServer));
  const registry = new Registry(client, { prefix, format: 'go-endpoints', ttl: 5 });
  try {
    const regs = await Promise.all(servers.map((s) => registry.register('kv', s.address, s.address)));
    await go.do('dial', { handle: 'c', target });
    const call = async (): Promise<number> => Number((await go.do('call', { handle: 'c' })).member);
    // round_robin spreads calls only over READY subchannels: wait until both servers have answered.
    const seen = new Set<number>();
    await eventually(async () => (seen.add(await call()), seen.size === 2), 10_000, 'both servers reached through the Go resolver');

    await regs[0]!.close();
    // Once the resolver has dropped server 1, ten calls in a row all go to server 2 …
    await eventually(async () => {
      for (let i = 0; i < 10; i++) if ((await call()) !== 2) return false;
      return true;
    }, 10_000, 'calls to stop reaching the deregistered server');
    // … and from then on server 1 (still running) gets nothing.
    const before = servers[0]!.calls;
    for (let i = 0; i < 20; i++) assert.is(await call(), 2);
    assert.is(servers[0]!.calls, before, 'no call reached the deregistered server');

    // Nothing registered: grpc-go fails the calls.
    await regs[1]!.close();
    const failure = await eventually(async () => {
      const r = await within(go.send('call', { handle: 'c' }), REPLY_MS, 'a call');
      return r.ok ? undefined : r;
    }, 10_000, 'calls to fail once nothing is registered');
    assert.is(failure.code, 'Unavailable', `grpc-go's error: ${failure.error}`);
    await go.do('close', { handle: 'c' });
  } finally {
    await registry.close();
    for (const s of servers) s.close();
  }
});

// ---- concurrency.Mutex ↔ lock --------------------------------------------------------------------------------

goTest('Go Mutex holds → our lock waits until Go unlocks', async (go) => {
  const name = prefixFor('go-mutex');
  const held = await go.do('lock', { handle: 'g', name, ttl: 30 });
  const goKey = held.key as string;
  assert.ok(goKey.startsWith(`${name}/`), `Go's lock key ${goKey} is under ${name}/`);
  const ours = pending(client.lock(name, 30));
  await eventually(async () => (await keysUnder(`${name}/`)).length === 2, 5_000, 'our waiter key next to Go\'s');
  assert.not.ok(ours.settled(), 'our lock was granted while Go holds it');
  await go.do('unlock', { handle: 'g' });
  const r = ok(await within(ours.promise, 5_000, 'our lock after Go unlocked'), 'lock');
  assert.ok(r.lock_key().startsWith(`${name}/`) && r.lock_key() !== goKey, `our lock key ${r.lock_key()}`);
  assert.equal(await keysUnder(`${name}/`), [r.lock_key()], "Go's key is gone, ours holds");
  ok(await client.unlock(r.lock_key()), 'unlock');
});

goTest('our lock holds → Go TryLock says locked and Go Mutex.Lock waits until we unlock', async (go) => {
  const name = prefixFor('ts-mutex');
  const r = ok(await client.lock(name, 30), 'lock');
  const refused = await within(go.send('trylock', { handle: 't', name }), REPLY_MS, 'Go TryLock');
  assert.is(refused.error, 'locked', 'Go TryLock while we hold the lock');
  let unlocked = false;
  let grantedAfterUnlock: boolean | undefined;
  const goLock = go.send('lock', { handle: 'g', name, ttl: 30 }).then((reply) => ((grantedAfterUnlock = unlocked), reply));
  await eventually(async () => (await keysUnder(`${name}/`)).length === 2, 5_000, "Go's waiter key next to ours");
  assert.is(grantedAfterUnlock, undefined, 'Go got the lock while we hold it');
  unlocked = true;
  ok(await client.unlock(r.lock_key()), 'unlock');
  const granted = await within(goLock, 5_000, "Go's lock after our unlock");
  assert.ok(granted.ok, `Go lock: ${granted.error}`);
  assert.is(grantedAfterUnlock, true);
  assert.equal(await keysUnder(`${name}/`), [granted.key], 'ours is gone, Go holds');
  await go.do('unlock', { handle: 'g' });
  assert.equal(await keysUnder(`${name}/`), []);
});

// ---- concurrency.Election ↔ campaign / observe ----------------------------------------------------------------

goTest('Election hand-over both ways: Go leads and proclaims (we observe) → Go resigns, we lead → we resign, Go leads', async (go) => {
  const name = prefixFor('go-election');
  const obs = client.observe(name);
  const lease = ok(await client.leasegrant(30), 'leasegrant').value().lease();
  try {
    const next = async (what: string): Promise<Response> => ok(await within(obs.WaitOnce(), 5_000, what), what);
    const goObserved = async (value: string): Promise<void> => {
      const e = await go.event((x) => x.handle === 'o', 5_000, `Go observing ${value}`);
      assert.is(e.value, value, "Go's observe");
    };

    // Go leads; our observer sees its key and value, then its proclamation.
    const g1 = await go.do('campaign', { handle: 'g1', name, value: 'go-1', ttl: 30 });
    let r = await next('observe go-1');
    assert.is(r.value().key(), g1.key);
    assert.is(r.value().as_string(), 'go-1');
    await go.do('proclaim', { handle: 'g1', value: 'go-2' });
    r = await next('observe go-2');
    assert.is(r.value().key(), g1.key);
    assert.is(r.value().as_string(), 'go-2');
    await go.do('observe', { handle: 'o', name });
    await goObserved('go-2');

    // We campaign and wait while Go leads; Go resigns → we lead.
    const ours = pending(client.campaign(name, lease, 'ts-1'));
    await eventually(async () => (await keysUnder(`${name}/`)).length === 2, 5_000, 'our candidate key next to Go\'s leader key');
    assert.not.ok(ours.settled(), 'we were elected while Go leads');
    await go.do('resign', { handle: 'g1' });
    const elected = ok(await within(ours.promise, 5_000, 'our campaign after Go resigned'), 'campaign');
    const ourKey = elected.value().key();
    r = await next('observe ts-1');
    assert.is(r.value().key(), ourKey);
    assert.is(r.value().as_string(), 'ts-1');
    await goObserved('ts-1');
    const goSees = await go.do('leader', { name });
    assert.equal([goSees.key, goSees.value], [ourKey, 'ts-1'], "Go's Election.Leader");

    // Go campaigns and waits while we lead; it sees our proclamation; we resign → Go leads.
    let goElected = false;
    const g2 = go.send('campaign', { handle: 'g2', name, value: 'go-3', ttl: 30 }).then((reply) => ((goElected = true), reply));
    await eventually(async () => (await keysUnder(`${name}/`)).length === 2, 5_000, "Go's candidate key next to ours");
    ok(await client.proclaim(name, lease, ourKey, elected.value().created_index(), 'ts-2'), 'proclaim');
    r = await next('observe ts-2');
    assert.is(r.value().as_string(), 'ts-2');
    await goObserved('ts-2');
    assert.not.ok(goElected, 'Go was elected while we lead');
    ok(await client.resign(name, lease, ourKey, elected.value().created_index()), 'resign');
    const g2r = await within(g2, 5_000, "Go's campaign after we resigned");
    assert.ok(g2r.ok, `Go campaign: ${g2r.error}`);
    r = await next('observe go-3');
    assert.is(r.value().key(), g2r.key);
    assert.is(r.value().as_string(), 'go-3');
    await goObserved('go-3');
    const leader = ok(await client.leader(name), 'leader');
    assert.equal([leader.value().key(), leader.value().as_string()], [g2r.key, 'go-3']);
    await go.do('resign', { handle: 'g2' });
  } finally {
    await obs.close();
    await client.leaserevoke(lease);
  }
});

test.run();
