// No silent failure: a Watcher, an Observer or a Discovery that cannot reach etcd says so through its
// connection signal (onConnection: 'disconnected' with an UnreachableError) within UNREACHABLE_AFTER_MS plus
// slack, says 'connected' again when etcd is back, and keeps its resume guarantee meanwhile (every event once,
// in order). The link is cut with the fault proxy; every wait is on a signal, bounded.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Client,
  ClosedError,
  Discovery,
  EtcdError,
  Registry,
  UNREACHABLE_AFTER_MS,
  UnreachableError,
  Watcher,
  AlreadyRegisteredError,
  type ConnectionListener,
} from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { startProxy, type Proxy } from '../../src/testing';
import { eventually, ok, uniquePrefix } from './util';
import { valuesInto } from '../helpers/watch';

/** The signal must come within the bound plus this much (backoff steps, a loaded machine). */
const SLACK_MS = 4000;
const SIGNAL_MS = UNREACHABLE_AFTER_MS + SLACK_MS;

/** Records what a connection listener hears. */
function recorder(): { states: string[]; errors: (Error | undefined)[]; listener: ConnectionListener } {
  const states: string[] = [];
  const errors: (Error | undefined)[] = [];
  return {
    states,
    errors,
    listener: (state, error) => {
      states.push(state);
      errors.push(error);
    },
  };
}

const s = suite<{ cluster: EtcdCluster; proxy: Proxy; direct: Client; viaProxy: Client }>('connection signals (fault proxy)');

s.before(async (ctx) => {
  ctx.cluster = await startEtcd({ name: 'it-signals', dataDirOnTmpfs: true });
  ctx.proxy = await startProxy(ctx.cluster.endpoints[0]!);
  ctx.direct = new Client(ctx.cluster.endpoint);
  ctx.viaProxy = new Client(ctx.proxy.url);
});

s.after(async (ctx) => {
  await ctx.viaProxy?.close();
  await ctx.direct?.close();
  await ctx.proxy?.close();
  await ctx.cluster?.stop();
});

s.after.each((ctx) => {
  ctx.proxy.restore();
});

s('Watcher: cut → "disconnected" (UnreachableError, code 14) within the bound; restored → "connected"; no event lost or repeated', async (ctx) => {
  const prefix = uniquePrefix('sig-watch');
  const seen: string[] = [];
  const rec = recorder();
  const w = new Watcher(ctx.viaProxy, prefix, valuesInto(seen), true);
  w.onConnection(rec.listener);
  try {
    await w.ready();
    await eventually(() => rec.states[0] === 'connected', 5000, 'connected at first');
    assert.is(w.connectionState(), 'connected');
    ok(await ctx.direct.put(`${prefix}a`, '1'));
    await eventually(() => seen.length === 1, 5000, 'first event');

    const t0 = Date.now();
    ctx.proxy.cut();
    for (let i = 2; i <= 4; i++) ok(await ctx.direct.put(`${prefix}a`, String(i)), `put ${i} during the cut`);
    await eventually(() => rec.states.length === 2, SIGNAL_MS, "'disconnected'");
    const took = Date.now() - t0;
    assert.is(rec.states[1], 'disconnected');
    assert.ok(took >= UNREACHABLE_AFTER_MS - 100, `signalled after ${took} ms, not before the bound`);
    const err = rec.errors[1];
    assert.ok(err instanceof UnreachableError && err.code === 14, `got ${String(err)}`);
    assert.is(w.connectionState(), 'disconnected');

    ctx.proxy.restore();
    await eventually(() => rec.states.length === 3, 10_000, "'connected' again");
    assert.is(rec.states[2], 'connected');
    await eventually(() => seen.length >= 4, 10_000, 'the events written during the cut');
    ok(await ctx.direct.put(`${prefix}a`, '5'));
    await eventually(() => seen.length >= 5, 5000, 'the event after');
    assert.equal(seen, ['1', '2', '3', '4', '5'], 'every event once, in order');
  } finally {
    await w.Cancel();
  }
});

s('Watcher on an etcd it never reaches: "disconnected" within the bound, ready() still pending', async (ctx) => {
  ctx.proxy.cut();
  const c = new Client(ctx.proxy.url);
  const rec = recorder();
  const w = new Watcher(c, '/sig/never', () => {}, true);
  w.onConnection(rec.listener);
  let readySettled = false;
  w.ready().then(
    () => (readySettled = true),
    () => (readySettled = true),
  );
  try {
    assert.is(w.connectionState(), 'connecting');
    await eventually(() => rec.states.length === 1, SIGNAL_MS, "'disconnected'");
    assert.equal(rec.states, ['disconnected']);
    assert.not.ok(readySettled, 'ready() waits for etcd');
    ctx.proxy.restore();
    await eventually(() => rec.states.length === 2, 10_000, "'connected' once etcd is reachable");
    assert.is(rec.states[1], 'connected');
    await w.ready();
  } finally {
    await w.Cancel();
    await c.close();
  }
});

s('Observer: cut → "disconnected"; restored → "connected"; still reports the leader', async (ctx) => {
  const election = uniquePrefix('sig-elect');
  const lease = ok(await ctx.direct.leasegrant(30)).value().lease();
  ok(await ctx.direct.campaign(election, lease, 'one'));
  const o = ctx.viaProxy.observe(election);
  const rec = recorder();
  o.onConnection(rec.listener);
  try {
    assert.is((await o.WaitOnce()).value().as_string(), 'one');
    await eventually(() => rec.states[0] === 'connected', 5000, 'connected at first');
    ctx.proxy.cut();
    await eventually(() => rec.states.length === 2, SIGNAL_MS, "'disconnected'");
    assert.is(rec.states[1], 'disconnected');
    assert.ok(rec.errors[1] instanceof UnreachableError);
    assert.is(o.connectionState(), 'disconnected');
    ctx.proxy.restore();
    await eventually(() => rec.states.length === 3, 10_000, "'connected' again");
    assert.is(rec.states[2], 'connected');
  } finally {
    await o.close();
    await ctx.direct.leaserevoke(lease);
  }
});

s('Discovery: cut → "disconnected"; an instance registered meanwhile is reported once restored, with "connected"', async (ctx) => {
  const prefix = uniquePrefix('sig-disc').replace(/\/$/, '');
  const d = new Discovery(ctx.viaProxy, { prefix });
  const registry = new Registry(ctx.direct, { prefix, ttl: 10 });
  const rec = recorder();
  const online: string[] = [];
  d.onConnection(rec.listener);
  d.onOnline((_svc, inst) => online.push(inst));
  try {
    await d.start();
    assert.equal(rec.states, ['connected']);
    ctx.proxy.cut();
    await registry.register('api', 'a', '127.0.0.1:1');
    await eventually(() => rec.states.length === 2, SIGNAL_MS, "'disconnected'");
    assert.is(rec.states[1], 'disconnected');
    assert.is(d.connectionState(), 'disconnected');
    ctx.proxy.restore();
    await eventually(() => rec.states.length === 3 && online.length === 1, 10_000, "'connected' and the instance");
    assert.is(rec.states[2], 'connected');
    assert.equal(online, ['a']);
  } finally {
    await d.close();
    await registry.close();
  }
});

s('Discovery on an etcd it never reaches: "disconnected" within the bound, start() rejects with EtcdError code 14; start() again once back', async (ctx) => {
  ctx.proxy.cut();
  const c = new Client(ctx.proxy.url);
  const d = new Discovery(c, { prefix: '/sig-never' });
  const rec = recorder();
  d.onConnection(rec.listener);
  let failure: unknown;
  const starting = d.start().catch((e: unknown) => (failure = e));
  try {
    await eventually(() => rec.states.length === 1, SIGNAL_MS, "'disconnected'");
    assert.equal(rec.states, ['disconnected']);
    assert.ok(rec.errors[0] instanceof UnreachableError);
    await starting;
    assert.ok(failure instanceof EtcdError && failure.code === 14, `start() rejected with ${String(failure)}`);
    ctx.proxy.restore();
    await d.start();
    assert.equal(rec.states, ['disconnected', 'connected']);
  } finally {
    await d.close();
    await c.close();
  }
});

s('errors a program can branch on: AlreadyRegisteredError (code 105), ClosedError, EtcdError', async (ctx) => {
  const prefix = uniquePrefix('sig-err').replace(/\/$/, '');
  const registry = new Registry(ctx.direct, { prefix, ttl: 5 });
  try {
    await registry.register('api', 'a', '127.0.0.1:1');
    const dup = await registry.register('api', 'a', '127.0.0.1:2').then(() => undefined, (e: unknown) => e);
    assert.ok(dup instanceof AlreadyRegisteredError && dup.code === 105, `got ${String(dup)}`);
  } finally {
    await registry.close();
  }
  const closed = await registry.register('api', 'b', '127.0.0.1:3').then(() => undefined, (e: unknown) => e);
  assert.ok(closed instanceof ClosedError && closed.code === 'ERR_CLOSED', `got ${String(closed)}`);
  const d = new Discovery(ctx.direct, { prefix });
  await d.close();
  const dclosed = await d.start().then(() => undefined, (e: unknown) => e);
  assert.ok(dclosed instanceof ClosedError, `got ${String(dclosed)}`);
  // EtcdError carries etcd's code: a listing refused by an etcd with a 1 ms timeout is a code 4.
  const hurried = new Client(ctx.cluster.endpoint, { timeoutMs: 1 });
  try {
    const d2 = new Discovery(hurried, { prefix });
    const e = await d2.start().then(() => undefined, (x: unknown) => x);
    if (e !== undefined) assert.ok(e instanceof EtcdError && typeof e.code === 'number' && e.code === 4, `got ${String(e)}`);
    await d2.close();
  } finally {
    await hurried.close();
  }
});

s.run();
