// Discovery's view without etcd: which changes are reported, the re-list difference, and the round-robin pick.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { retryDelayMs } from '../../src/discovery/backoff';
import { Catalog } from '../../src/discovery/catalog';

function withInstances(...names: string[]): Catalog {
  const c = new Catalog();
  for (const n of names) c.put('svc', n, { address: `addr-${n}` });
  return c;
}

function picks(c: Catalog, n: number): string[] {
  return Array.from({ length: n }, () => c.pick('svc')?.instance ?? '-');
}

test('pick: even round robin over 3 instances across 300 picks', () => {
  const c = withInstances('c', 'a', 'b');
  const counts = new Map<string, number>();
  const seq = picks(c, 300);
  for (const p of seq) counts.set(p, (counts.get(p) ?? 0) + 1);
  assert.equal(Object.fromEntries(counts), { a: 100, b: 100, c: 100 });
  assert.equal(seq.slice(0, 6), ['a', 'b', 'c', 'a', 'b', 'c']);
});

test('pick: keeps its place when an instance is added', () => {
  const c = withInstances('a', 'c', 'e');
  assert.equal(picks(c, 2), ['a', 'c']);
  c.put('svc', 'd', { address: 'addr-d' }); // after the last pick: reached in its turn
  c.put('svc', 'b', { address: 'addr-b' }); // before it: reached after wrapping
  assert.equal(picks(c, 6), ['d', 'e', 'a', 'b', 'c', 'd']);
});

test('pick: keeps its place when an instance is removed, including the last picked one', () => {
  const c = withInstances('a', 'b', 'c', 'd');
  assert.equal(picks(c, 2), ['a', 'b']);
  c.delete('svc', 'b'); // the last picked one
  assert.equal(picks(c, 1), ['c']);
  c.delete('svc', 'd'); // the next one
  assert.equal(picks(c, 3), ['a', 'c', 'a']);
});

test('pick: undefined when none; resumes after instances come back', () => {
  const c = new Catalog();
  assert.is(c.pick('svc'), undefined);
  c.put('svc', 'a', { address: 'x:1' });
  assert.equal(c.pick('svc'), { instance: 'a', address: 'x:1' });
  c.delete('svc', 'a');
  assert.is(c.pick('svc'), undefined);
  assert.is(c.pick('other'), undefined);
  c.put('svc', 'b', { address: 'y:2', metadata: { w: 1 } });
  assert.equal(c.pick('svc'), { instance: 'b', address: 'y:2', metadata: { w: 1 } });
});

test('pick: services are independent', () => {
  const c = withInstances('a', 'b');
  c.put('other', 'x', { address: 'x:1' });
  c.put('other', 'y', { address: 'y:1' });
  assert.is(c.pick('svc')!.instance, 'a');
  assert.is(c.pick('other')!.instance, 'x');
  assert.is(c.pick('svc')!.instance, 'b');
  assert.is(c.pick('other')!.instance, 'y');
});

test('changes: new → online; same address → nothing; new address → offline then online; delete → offline once', () => {
  const c = new Catalog();
  assert.equal(c.put('s', 'i', { address: 'h:1' }), [{ type: 'online', service: 's', instance: 'i', address: 'h:1' }]);
  assert.equal(c.put('s', 'i', { address: 'h:1' }), []);
  assert.equal(c.put('s', 'i', { address: 'h:1', metadata: { v: 2 } }), []);
  assert.equal(c.instances('s'), [{ instance: 'i', address: 'h:1', metadata: { v: 2 } }], 'metadata follows silently');
  assert.equal(c.put('s', 'i', { address: 'h:2' }), [
    { type: 'offline', service: 's', instance: 'i', address: 'h:1' },
    { type: 'online', service: 's', instance: 'i', address: 'h:2' },
  ]);
  assert.equal(c.delete('s', 'i'), [{ type: 'offline', service: 's', instance: 'i', address: 'h:2' }]);
  assert.equal(c.delete('s', 'i'), []);
  assert.equal(c.serviceNames(), []);
});

test('re-list reports only the difference', () => {
  const c = new Catalog();
  c.put('s', 'same', { address: 'h:1' });
  c.put('s', 'moved', { address: 'h:2' });
  c.put('s', 'gone', { address: 'h:3' });
  c.put('t', 'gone-too', { address: 'h:4' });
  const changes = c.replaceAll([
    { service: 's', instance: 'same', value: { address: 'h:1' } },
    { service: 's', instance: 'moved', value: { address: 'h:22' } },
    { service: 's', instance: 'new', value: { address: 'h:5', metadata: 'm' } },
  ]);
  assert.equal(changes, [
    { type: 'offline', service: 's', instance: 'gone', address: 'h:3' },
    { type: 'offline', service: 't', instance: 'gone-too', address: 'h:4' },
    { type: 'offline', service: 's', instance: 'moved', address: 'h:2' },
    { type: 'online', service: 's', instance: 'moved', address: 'h:22' },
    { type: 'online', service: 's', instance: 'new', address: 'h:5', metadata: 'm' },
  ]);
  assert.equal(c.serviceNames(), ['s']);
  assert.equal(
    c.instances('s').map((i) => i.instance),
    ['moved', 'new', 'same'],
  );
});

test('instances and services are sorted by code units', () => {
  const c = new Catalog();
  for (const n of ['b', 'B', 'a10', 'a2']) c.put('s', n, { address: n });
  c.put('Z', 'x', { address: 'x' });
  assert.equal(c.instances('s').map((i) => i.instance), ['B', 'a10', 'a2', 'b']);
  assert.equal(c.serviceNames(), ['Z', 's']);
});

test('retry backoff: 100 ms doubling to 2 s, with jitter', () => {
  for (let i = 0; i < 50; i++) {
    const d0 = retryDelayMs(0);
    assert.ok(d0 >= 75 && d0 <= 125, `first ${d0}`);
    const d9 = retryDelayMs(9);
    assert.ok(d9 >= 1500 && d9 <= 2500, `capped ${d9}`);
  }
});

test.run();
