// The connection signal's rules (src/link.ts), with a short bound: a blip shorter than the bound says nothing,
// a longer one says 'disconnected' once, an answer says 'connected' once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UnreachableError } from '../../src/errors';
import { Link } from '../../src/link';

const BOUND = 40;

function make() {
  const heard: [string, Error | undefined][] = [];
  let wake: () => void = () => {};
  const link = new Link((state, err) => {
    heard.push([state, err]);
    wake();
  }, BOUND);
  const next = (ms = 2000) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no signal in time')), ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  return { link, heard, next };
}

/** Resolves after the bound has surely passed (timers are ordered: one set later fires later). */
const afterBound = () => new Promise((r) => setTimeout(r, BOUND * 3));

test('first answer: connected; a failure longer than the bound: disconnected once, with the cause; back: connected', async () => {
  const { link, heard, next } = make();
  link.waiting();
  link.answered();
  assert.equal(heard.map((h) => h[0]), ['connected']);
  const cause = new Error('stream reset');
  const signal = next();
  link.waiting(cause);
  link.waiting(); // still failing: the clock is not restarted, nothing more is said
  await signal;
  assert.is(heard[1]![0], 'disconnected');
  const err = heard[1]![1];
  assert.ok(err instanceof UnreachableError && err.code === 14 && err.cause === cause);
  assert.match(err.message, /stream reset/);
  link.waiting();
  await afterBound();
  assert.is(heard.length, 2, 'disconnected is said once');
  link.answered();
  assert.equal(heard.map((h) => h[0]), ['connected', 'disconnected', 'connected']);
  assert.is(link.state, 'connected');
});

test('a blip shorter than the bound is not signalled; stop() silences a pending signal', async () => {
  const { link, heard } = make();
  link.answered();
  link.waiting(new Error('blip'));
  link.answered();
  link.waiting();
  link.stop();
  await afterBound();
  assert.equal(heard.map((h) => h[0]), ['connected']);
});

test('never answered: disconnected after the bound; failed() signals at once, once', async () => {
  const { link, heard, next } = make();
  const signal = next();
  link.waiting();
  assert.is(link.state, 'connecting');
  await signal;
  assert.equal(heard.map((h) => h[0]), ['disconnected']);
  const other = make();
  other.link.failed(new UnreachableError('below'));
  other.link.failed(new UnreachableError('again'));
  assert.equal(other.heard.map((h) => h[0]), ['disconnected']);
  assert.is(other.heard[0]![1]!.message, 'below');
});

test.run();
