// A lock taken with lock() whose lease is lost while held reaches the program: every onLockLost listener hears
// it once, with the lock key and the error that ended the lease; with no listener a process warning is emitted.
// unlock() is not a loss.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Client, LeaseExpiredError } from '../../src/index';
import { startEtcd, type EtcdCluster } from '../helpers/etcd';
import { eventually, ok, uniquePrefix } from './util';
import { closeOwned, owned } from '../helpers/cleanup';

let cluster: EtcdCluster;

const test = suite('lock loss');

test.before(async () => {
  cluster = await startEtcd({ name: 'it-lockloss', dataDirOnTmpfs: true });
});

test.after.each(closeOwned);
test.after(async () => {
  await cluster?.stop();
});

test('a held lock whose lease is revoked elsewhere: onLockLost hears it once, with its key', async () => {
  const holder = owned(new Client(cluster.endpoint));
  const other = owned(new Client(cluster.endpoint));
  try {
    const heard: Array<{ key: string; error: Error }> = [];
    holder.onLockLost((key, error) => heard.push({ key, error }));
    const locked = ok(await holder.lock(`${uniquePrefix('lockloss')}a`, 6), 'lock');
    ok(await other.leaserevoke(locked.value().lease()), 'revoke elsewhere');
    await eventually(() => heard.length > 0, 15_000, 'the lock loss to be reported');
    assert.is(heard.length, 1);
    assert.is(heard[0]!.key, locked.lock_key());
    assert.instance(heard[0]!.error, LeaseExpiredError);
  } finally {
    await holder.close();
    await other.close();
  }
});

test('with no listener the loss is a process warning (ETCD_APIV3_LOCK_LOST), not silence', async () => {
  const holder = owned(new Client(cluster.endpoint));
  const other = owned(new Client(cluster.endpoint));
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const locked = ok(await holder.lock(`${uniquePrefix('lockloss')}b`, 6), 'lock');
    ok(await other.leaserevoke(locked.value().lease()), 'revoke elsewhere');
    const w = await eventually(() => warnings.find((x) => (x as Error & { code?: string }).code === 'ETCD_APIV3_LOCK_LOST'), 15_000, 'the warning');
    assert.match(w.message, locked.lock_key());
  } finally {
    process.off('warning', onWarning);
    await holder.close();
    await other.close();
  }
});

test('unlock() is not a loss; a later loss of another lock is still heard, alone', async () => {
  const holder = owned(new Client(cluster.endpoint));
  const other = owned(new Client(cluster.endpoint));
  try {
    const heard: string[] = [];
    const stop = holder.onLockLost((key) => heard.push(key));
    const first = ok(await holder.lock(`${uniquePrefix('lockloss')}c`, 6), 'first lock');
    ok(await holder.unlock(first.lock_key()), 'unlock');
    // The first lease is revoked by unlock(); the keepalive engine answers in order, so once the second lock's
    // loss is heard, anything about the first would have been heard before it.
    const second = ok(await holder.lock(`${uniquePrefix('lockloss')}d`, 6), 'second lock');
    ok(await other.leaserevoke(second.value().lease()), 'revoke the second elsewhere');
    await eventually(() => heard.length > 0, 15_000, 'the second lock loss');
    assert.equal(heard, [second.lock_key()]);
    stop();
  } finally {
    await holder.close();
    await other.close();
  }
});

test.run();
