// The claim transaction's answers, without etcd: a stub `txn` returns what etcd would, and each answer maps to
// one kind of Claim (written, mine, held, absent, failed) with the registration's exact error text.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_COMPARE_FAILED, ERROR_GRPC_NOT_FOUND, EtcdError, Transaction, type Response, type Value } from '../../src/core';
import { claim, type TxnClient } from '../../src/discovery/claim';

const WHO = "service 'svc' instance 'a'";

function answer(ok: boolean, code = 0, message = '', holders: Array<{ lease: bigint; value: string }> = [], revision = 42): Response {
  return {
    is_ok: () => ok,
    index: () => revision,
    error_code: () => code,
    error_message: () => message,
    values: () => holders.map((h) => ({ lease: () => h.lease, as_string: () => h.value }) as unknown as Value),
  } as unknown as Response;
}

function stub(r: Response): TxnClient & { seen: Transaction[] } {
  const seen: Transaction[] = [];
  return {
    seen,
    txn: (t) => {
      seen.push(t);
      return Promise.resolve(r);
    },
  };
}

test('claim: written when etcd applied the put, with its revision; one transaction sent', async () => {
  const c = stub(answer(true));
  assert.equal(await claim(c, WHO, '/service/svc/a', 'v', 7n), { kind: 'written', revision: 42 });
  assert.is(c.seen.length, 1);
  assert.instance(c.seen[0], Transaction);
});

test('claim: a failed compare reads the holder: mine (same lease), held (another or none), absent (nobody)', async () => {
  assert.equal(await claim(stub(answer(false, ERROR_COMPARE_FAILED, 'compare failed', [{ lease: 7n, value: 'v' }])), WHO, 'k', 'v', 7n), {
    kind: 'mine',
    revision: 42,
  });
  const held = await claim(stub(answer(false, ERROR_COMPARE_FAILED, 'compare failed', [{ lease: 0n, value: 'other' }])), WHO, 'k', 'v', 7n);
  assert.is(held.kind, 'held');
  assert.is(held.kind === 'held' && held.holder.as_string(), 'other');
  assert.equal(await claim(stub(answer(false, ERROR_COMPARE_FAILED, 'compare failed', [])), WHO, 'k', 'v', 7n, 3n), { kind: 'absent' });
});

test('claim: any other refusal is failed, with an EtcdError naming the registration; NOT_FOUND means the lease is gone', async () => {
  const gone = await claim(stub(answer(false, ERROR_GRPC_NOT_FOUND, 'etcdserver: requested lease not found')), WHO, 'k', 'v', 7n);
  assert.is(gone.kind, 'failed');
  if (gone.kind !== 'failed') return;
  assert.is(gone.leaseGone, true);
  assert.instance(gone.error, EtcdError);
  assert.is(gone.error.message, "cannot register service 'svc' instance 'a': etcd answered 5 etcdserver: requested lease not found");
  const other = await claim(stub(answer(false, 9, 'etcdserver: too many requests')), WHO, 'k', 'v', 7n);
  assert.equal(other.kind === 'failed' && [other.leaseGone, other.error.message], [false, "cannot register service 'svc' instance 'a': etcd answered 9 etcdserver: too many requests"]);
});

test.run();
