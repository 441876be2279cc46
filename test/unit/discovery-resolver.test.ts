// The resolver without sockets: its pure parts (addresses to grpc-js subchannel addresses, targets to service
// names), and its contract with grpc-js's listener, driven with a fake listener and a fake shared Discovery.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ServiceInstance } from '../../src/discovery/catalog';
import { parseHostPort, resolverClass, serviceOfTarget, type GrpcModule, type GrpcUri } from '../../src/discovery/resolver';
import type { Resolver, SharedSource, SharedState } from '../../src/discovery/shared-discovery';

test('host:port and [ipv6]:port parse; anything else is refused', () => {
  assert.equal(parseHostPort('127.0.0.1:9000'), { host: '127.0.0.1', port: 9000 });
  assert.equal(parseHostPort('localhost:80'), { host: 'localhost', port: 80 });
  assert.equal(parseHostPort('[::1]:50051'), { host: '::1', port: 50051 });
  assert.equal(parseHostPort('[fe80::1%eth0]:1'), { host: 'fe80::1%eth0', port: 1 });
  for (const bad of ['127.0.0.1', '::1', '::1:80', '[::1]', '[::1]x', 'h:0', 'h:65536', 'h:-1', 'h:8a', ':80', '[]:80', '[host]:80', '']) {
    assert.is(parseHostPort(bad), undefined, bad);
  }
});

test('targets: etcd:///svc and etcd:svc name the service; paths with / do not', () => {
  assert.is(serviceOfTarget({ scheme: 'etcd', authority: '', path: 'user' }), 'user');
  assert.is(serviceOfTarget({ scheme: 'etcd', path: 'user' }), 'user');
  assert.is(serviceOfTarget({ scheme: 'etcd', authority: 'ignored', path: 'user' }), 'user');
  assert.is(serviceOfTarget({ scheme: 'etcd', path: '/user' }), 'user');
  assert.is(serviceOfTarget({ scheme: 'etcd', path: 'a/b' }), undefined);
  assert.is(serviceOfTarget({ scheme: 'etcd', path: '' }), undefined);
});

// ---- the listener contract ----------------------------------------------------------------------------------

const fakeGrpc: GrpcModule = {
  experimental: { registerResolver: () => {} },
  status: { UNAVAILABLE: 14 },
  Metadata: class {},
};

/** A shared Discovery the test steers: `set` changes what the resolvers see and tells them, as the real one does. */
class FakeShared implements SharedSource {
  readonly attached = new Set<Resolver>();
  private current: SharedState = { kind: 'starting' };
  readonly byService = new Map<string, ServiceInstance[]>();
  state(): SharedState {
    return this.current;
  }
  attach(r: Resolver): void {
    this.attached.add(r);
  }
  detach(r: Resolver): void {
    this.attached.delete(r);
  }
  set(state: SharedState | 'ready'): void {
    this.current = state === 'ready' ? { kind: 'ready', discovery: { instances: (s) => this.byService.get(s) ?? [] } } : state;
    for (const r of this.attached) r.schedule();
  }
  instances(service: string, ...addresses: string[]): void {
    this.byService.set(service, addresses.map((address, i) => ({ instance: `i${i}`, address })));
    for (const r of this.attached) if (r.service === service) r.schedule();
  }
}

/** Each listener call, summarised: `addresses a:1,b:2` or `error <details>`, with the resolution note. */
type Call = string;

function setup(path = 'svc') {
  const shared = new FakeShared();
  const Cls = resolverClass({ grpc: fakeGrpc, shared, scheme: 'etcd', prefix: '/service' });
  const calls: Call[] = [];
  const listener = (endpoints: unknown, _attributes: unknown, serviceConfig: unknown, note: string): boolean => {
    const e = endpoints as { ok: boolean; value?: Array<{ addresses: Array<{ host: string; port: number }> }>; error?: { code: number; details: string } };
    assert.equal(serviceConfig, { ok: true, value: { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] } });
    if (e.ok) calls.push(`addresses ${e.value!.map((x) => x.addresses.map((a) => `${a.host}:${a.port}`).join('+')).join(',')}${note ? ` (${note})` : ''}`);
    else {
      assert.is(e.error!.code, 14);
      assert.is(e.error!.details, note);
      calls.push(`error ${e.error!.details}`);
    }
    return true;
  };
  const target: GrpcUri = { scheme: 'etcd', authority: '', path };
  const resolver = new Cls(target, listener);
  return { shared, resolver, calls, Cls, target };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('resolver: never calls the listener synchronously; reports addresses once the listing is in', async () => {
  const { shared, resolver, calls } = setup();
  shared.instances('svc', '10.0.0.1:80', '10.0.0.2:81');
  resolver.updateResolution();
  assert.equal(calls, [], 'not from updateResolution');
  await tick();
  assert.equal(calls, [], 'nothing while the shared Discovery is starting');
  shared.set('ready');
  assert.equal(calls, [], 'not synchronously from a change either');
  await tick();
  assert.equal(calls, ['addresses 10.0.0.1:80,10.0.0.2:81']);
  resolver.destroy();
});

test('resolver: new addresses on each change of its service, none for another service', async () => {
  const { shared, resolver, calls } = setup();
  shared.set('ready');
  shared.instances('svc', '10.0.0.1:80');
  resolver.updateResolution();
  await tick();
  shared.instances('svc', '10.0.0.1:80', '10.0.0.3:80');
  await tick();
  shared.instances('other', '10.0.0.9:80');
  await tick();
  shared.instances('svc', '10.0.0.3:80');
  await tick();
  assert.equal(calls, ['addresses 10.0.0.1:80', 'addresses 10.0.0.1:80,10.0.0.3:80', 'addresses 10.0.0.3:80']);
  resolver.destroy();
});

test('resolver: changes before the next tick are coalesced into one report of the latest state', async () => {
  const { shared, resolver, calls } = setup();
  shared.set('ready');
  resolver.updateResolution();
  shared.instances('svc', 'a:1');
  shared.instances('svc', 'a:1', 'b:2');
  resolver.schedule();
  shared.instances('svc', 'b:2', 'c:3');
  await tick();
  await tick();
  assert.equal(calls, ['addresses b:2,c:3']);
  resolver.destroy();
});

test('resolver: going from addresses to an error clears the addresses first; an error after an error does not', async () => {
  const { shared, resolver, calls } = setup();
  shared.set('ready');
  shared.instances('svc', 'a:1');
  resolver.updateResolution();
  await tick();
  shared.instances('svc');
  await tick();
  shared.instances('svc', 'not-an-address');
  await tick();
  const none = "no instances of service 'svc' registered under /service/svc/";
  assert.equal(calls, [
    'addresses a:1',
    `addresses  (${none})`,
    `error ${none}`,
    `error ${none} (addresses not of the form host:port: not-an-address)`,
  ]);
  resolver.destroy();
});

test('resolver: a failed listing and an unregistered resolver are UNAVAILABLE errors', async () => {
  const { shared, resolver, calls } = setup();
  resolver.updateResolution();
  shared.set({ kind: 'failed', error: new Error('etcd said no') });
  await tick();
  shared.set('ready');
  shared.instances('svc', 'a:1');
  await tick();
  shared.set({ kind: 'unregistered' });
  await tick();
  assert.equal(calls, ['error cannot list /service/ in etcd: etcd said no', 'addresses a:1', 'addresses  (resolver unregistered)', 'error resolver unregistered']);
  resolver.destroy();
});

test('resolver: reports once per activation, answers a repeated ask only after a change, and never after destroy()', async () => {
  const { shared, resolver, calls } = setup();
  shared.set('ready');
  shared.instances('svc', 'a:1');
  resolver.updateResolution();
  await tick();
  resolver.updateResolution(); // grpc-js asking again after a failed connection: nothing new to say
  await tick();
  assert.equal(calls.splice(0), ['addresses a:1']);
  resolver.destroy();
  assert.is(shared.attached.size, 0, 'destroy() detaches');
  shared.instances('svc', 'b:2');
  resolver.schedule();
  await tick();
  assert.equal(calls, [], 'nothing after destroy()');
  resolver.updateResolution(); // re-activated: reports the current state once
  assert.is(shared.attached.size, 1);
  await tick();
  assert.equal(calls, ['addresses b:2']);
  resolver.destroy();
});

test('resolver: an invalid target is refused by getDefaultAuthority and reported as an error', async () => {
  const { shared, resolver, calls, Cls } = setup('a/b');
  const getDefaultAuthority = (Cls as unknown as { getDefaultAuthority(t: GrpcUri): string }).getDefaultAuthority;
  assert.is(getDefaultAuthority({ scheme: 'etcd', path: '/svc' }), 'svc');
  assert.throws(() => getDefaultAuthority({ scheme: 'etcd', path: 'a/b' }), (e: Error) => e instanceof TypeError && e.message === 'invalid etcd target "a/b": expected etcd:///<service>');
  shared.set('ready');
  resolver.updateResolution();
  await tick();
  assert.equal(calls, ['error invalid etcd target "a/b": expected etcd:///<service>']);
  resolver.destroy();
});

test('resolver: an older grpc-js object listener gets onSuccessfulResolution and onError', async () => {
  const shared = new FakeShared();
  const Cls = resolverClass({ grpc: fakeGrpc, shared, scheme: 'etcd', prefix: '/service' });
  const seen: unknown[] = [];
  const resolver = new Cls(
    { scheme: 'etcd', path: 'svc' },
    {
      onSuccessfulResolution: (endpoints) => seen.push(endpoints),
      onError: (error) => seen.push({ code: error.code, details: error.details }),
    },
  );
  shared.set('ready');
  shared.instances('svc', 'a:1');
  resolver.updateResolution();
  await tick();
  shared.instances('svc');
  await tick();
  assert.equal(seen, [[{ addresses: [{ host: 'a', port: 1 }] }], { code: 14, details: "no instances of service 'svc' registered under /service/svc/" }]);
  resolver.destroy();
});

test.run();
