// The named backoff policies (src/backoff.ts): each curve's numbers, the pure delay and the abortable sleep.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { backoffDelay, DISCOVERY_RETRY, HTTP2_CONNECT, sleep, STREAM_REOPEN, UNARY_RETRY } from '../../src/backoff';

const test = suite('backoff');

const mid = () => 0.5;
const low = () => 0;
const high = () => 0.999999;

test('each policy: base doubling from its initial delay up to its cap, without jitter', () => {
  const curve = (p: typeof UNARY_RETRY) => [0, 1, 2, 3, 4, 5, 10, 100].map((a) => backoffDelay(p, a, mid));
  assert.equal(curve(UNARY_RETRY), [50, 100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(curve(STREAM_REOPEN), [50, 100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(curve(DISCOVERY_RETRY), [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
  assert.equal(curve(HTTP2_CONNECT), [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
});

test('jitter spans 1 ± jitter of the base, rounded', () => {
  assert.is(backoffDelay(UNARY_RETRY, 0, low), 38);
  assert.is(backoffDelay(UNARY_RETRY, 0, high), 62);
  assert.is(backoffDelay(DISCOVERY_RETRY, 20, low), 1500);
  assert.is(backoffDelay(DISCOVERY_RETRY, 20, high), 2500);
  assert.is(backoffDelay(HTTP2_CONNECT, 20, low), 800);
  assert.is(backoffDelay(HTTP2_CONNECT, 20, high), 1200);
});

test('sleep resolves after its delay, at once when aborted, and at once when already aborted', async () => {
  let t = Date.now();
  await sleep(20);
  assert.ok(Date.now() - t >= 15);
  const c = new AbortController();
  t = Date.now();
  const p = sleep(60_000, c.signal);
  c.abort();
  await p;
  assert.ok(Date.now() - t < 5000);
  await sleep(60_000, c.signal, { ref: false });
});

test.run();
