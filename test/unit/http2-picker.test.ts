// The http2 transport's load-balancing choice (src/transport/http2/picker.ts), without sockets: the items
// stand for READY connections, ranked by their endpoint's position.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Picker } from '../../src/transport/http2/picker';

interface Conn {
  readonly name: string;
  readonly index: number;
}
const conn = (name: string, index: number): Conn => ({ name, index });
const rank = (c: Conn) => c.index;
const picks = (p: Picker<Conn>, n: number) => Array.from({ length: n }, () => p.pick()?.name);

const a = conn('a', 0);
const b = conn('b', 1);
const c = conn('c', 2);

test('none ready: pick() is undefined for both policies', () => {
  for (const pickFirst of [true, false]) {
    const p = new Picker<Conn>(pickFirst, rank);
    assert.is(p.size, 0);
    assert.is(p.pick(), undefined);
    p.add(a);
    p.remove(a);
    assert.is(p.pick(), undefined);
  }
});

test('pick_first keeps the first ready endpoint (in endpoint order, whatever order they became ready in)', () => {
  const p = new Picker<Conn>(true, rank);
  p.add(c);
  assert.equal(picks(p, 3), ['c', 'c', 'c']);
  p.add(b);
  p.add(a);
  assert.equal(picks(p, 4), ['a', 'a', 'a', 'a']);
  p.remove(a);
  assert.equal(picks(p, 2), ['b', 'b']);
});

test('round_robin rotates over every ready endpoint in endpoint order, starting with the first', () => {
  const p = new Picker<Conn>(false, rank);
  p.add(b);
  p.add(c);
  p.add(a);
  assert.is(p.size, 3);
  assert.equal(picks(p, 7), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
});

test('round_robin skips an endpoint that is no longer ready, and takes it back when it is', () => {
  const p = new Picker<Conn>(false, rank);
  p.add(a);
  p.add(b);
  p.add(c);
  assert.equal(picks(p, 2), ['a', 'b']);
  p.remove(b);
  assert.equal(picks(p, 4), ['a', 'c', 'a', 'c']);
  p.add(b);
  // The cursor is a position, so where the rotation resumes may shift; every ready endpoint gets one of 3 calls.
  assert.equal(picks(p, 3).sort(), ['a', 'b', 'c']);
});

test('removing an item that is not there and clear() leave the picker consistent', () => {
  const p = new Picker<Conn>(false, rank);
  p.remove(a);
  p.add(a);
  p.add(b);
  p.clear();
  assert.is(p.size, 0);
  assert.is(p.pick(), undefined);
  p.add(c);
  assert.equal(picks(p, 2), ['c', 'c']);
});

test.run();
