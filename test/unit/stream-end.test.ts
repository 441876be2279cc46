// The one end rule (src/stream-end.ts), as a table: every gRPC status code × whether the token was already
// renewed in this failure streak, token refusals, a learner's refusal, a plain Error, a clean end, client close.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ClientClosedError, GrpcStatusError } from '../../src/errors';
import { MESSAGE_LEARNER } from '../../src/retry';
import { classifyEnd, type EndVerdict } from '../../src/stream-end';

const test = suite('stream-end');

/** Codes etcd or a transport may lift by itself: CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE. */
const TRANSIENT = new Set([1, 2, 4, 8, 10, 13, 14]);
const TOKEN_TEXTS = ['etcdserver: invalid auth token', 'etcdserver: user name is empty', 'etcdserver: revision of auth store is old'];

function verdictName(v: EndVerdict): string {
  return typeof v === 'string' ? v : `halt ${v.halt.code}`;
}

for (let code = 0; code <= 16; code++) {
  for (const tokenRenewed of [false, true]) {
    test(`status ${code}, tokenRenewed ${tokenRenewed}: ${TRANSIENT.has(code) ? 'retry' : 'halt'}`, () => {
      const err = new GrpcStatusError(code, 'some text');
      const v = classifyEnd(err, { tokenRenewed });
      if (TRANSIENT.has(code)) assert.is(v, 'retry');
      else {
        assert.is(verdictName(v), `halt ${code}`);
        assert.is((v as { halt: GrpcStatusError }).halt, err, 'halts with the very status');
      }
    });
  }
}

for (const text of TOKEN_TEXTS) {
  for (const code of [3, 14, 16]) {
    test(`token refusal "${text}" (${code}): renewed once per streak, then as its code says`, () => {
      const err = new GrpcStatusError(code, text);
      assert.is(classifyEnd(err, { tokenRenewed: false }), 'renew-token');
      assert.is(verdictName(classifyEnd(err, { tokenRenewed: true })), TRANSIENT.has(code) ? 'retry' : `halt ${code}`);
      assert.is(verdictName(classifyEnd(err, { tokenRenewed: false, canRenew: false })), TRANSIENT.has(code) ? 'retry' : `halt ${code}`);
    });
  }
}

test("a learner's refusal is retried as 14 (etcd 3.4/3.5) and as 9 (3.6+)", () => {
  for (const tokenRenewed of [false, true]) {
    assert.is(classifyEnd(new GrpcStatusError(14, MESSAGE_LEARNER), { tokenRenewed }), 'retry');
    assert.is(classifyEnd(new GrpcStatusError(9, MESSAGE_LEARNER), { tokenRenewed }), 'retry');
  }
});

test('an error that is not a status is transient: retry, whatever the streak', () => {
  for (const tokenRenewed of [false, true]) {
    assert.is(classifyEnd(new Error('socket hang up'), { tokenRenewed }), 'retry');
    assert.is(classifyEnd(new TypeError('decoder'), { tokenRenewed }), 'retry');
    assert.is(classifyEnd('a string', { tokenRenewed }), 'retry');
    assert.is(classifyEnd(undefined, { tokenRenewed }), 'retry');
  }
});

test('a clean end by the server (null) is retried', () => {
  assert.is(classifyEnd(null, { tokenRenewed: false }), 'retry');
  assert.is(classifyEnd(null, { tokenRenewed: true }), 'retry');
});

test('client closed wins over everything', () => {
  for (const tokenRenewed of [false, true]) {
    assert.is(classifyEnd(new ClientClosedError(), { tokenRenewed }), 'client-closed');
    assert.is(classifyEnd(new ClientClosedError('the watcher'), { tokenRenewed, canRenew: false }), 'client-closed');
  }
});

test.run();
